/* The system calls static glibc programs make, called with raw ecalls
 * from an rv64im program (so it runs on every engine before RV64GC), with
 * results printed so that the output equals qemu-riscv64's.
 *
 * Usage: syscalls [FILE [LINK]]  - FILE is read (openat/read/lseek/fstat),
 *        LINK is a symbolic link read with readlinkat.
 *        syscalls fault-munmap | fault-mprotect: store to a page that was
 *        unmapped / made read-only (faults under the MMU and qemu).
 *        syscalls remap-code: code in an mmapped page, then the page
 *        unmapped and mapped again (zero): calling it is illegal. */
#include "rt.h"

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    register long a3 __asm__("a3") = d;
    register long a4 __asm__("a4") = e;
    register long a5 __asm__("a5") = f;
    register long a7 __asm__("a7") = n;
    __asm__ volatile("ecall"
                     : "+r"(a0)
                     : "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a5), "r"(a7)
                     : "memory");
    return a0;
}

enum {
    NR_IOCTL = 29, NR_OPENAT = 56, NR_CLOSE = 57, NR_LSEEK = 62, NR_READ = 63,
    NR_WRITEV = 66, NR_READLINKAT = 78, NR_NEWFSTATAT = 79, NR_FSTAT = 80,
    NR_EXIT_GROUP = 94, NR_SET_TID_ADDRESS = 96, NR_CLOCK_GETTIME = 113,
    NR_RT_SIGACTION = 134, NR_RT_SIGPROCMASK = 135, NR_UNAME = 160,
    NR_GETTIMEOFDAY = 169, NR_BRK = 214, NR_MUNMAP = 215, NR_MREMAP = 216,
    NR_MMAP = 222, NR_MPROTECT = 226, NR_MADVISE = 233, NR_PRLIMIT64 = 261,
    NR_GETRANDOM = 278,
};
#define PAGE 4096L
#define RW 3
#define PRIV_ANON 0x22

static int failures;

static void check(const char *what, long got, long want) {
    print_str(what);
    print_str(": ");
    if (got < 0) { print_str("-"); print_u64(-got); } else print_u64(got);
    if (got != want) {
        print_str("  MISMATCH, want ");
        if (want < 0) { print_str("-"); print_u64(-want); } else print_u64(want);
        failures++;
    }
    print_str("\n");
}

static void ok(const char *what, int cond) { check(what, cond ? 1 : 0, 1); }

static int all_zero(const unsigned char *p, long n) {
    for (long i = 0; i < n; i += 97) if (p[i]) return 0;
    return p[n - 1] == 0;
}

static void memory(void) {
    /* brk: grow, use, shrink, regrow: regrown pages read as zero. */
    char *b0 = (char *)sys6(NR_BRK, 0, 0, 0, 0, 0, 0);
    char *b1 = (char *)sys6(NR_BRK, (long)(b0 + 3 * PAGE), 0, 0, 0, 0, 0);
    ok("brk grows", b1 == b0 + 3 * PAGE);
    ok("brk fresh is zero", all_zero((unsigned char *)b0, 3 * PAGE));
    memset(b0, 0x5a, 3 * PAGE);
    sys6(NR_BRK, (long)b0, 0, 0, 0, 0, 0);
    sys6(NR_BRK, (long)(b0 + 3 * PAGE), 0, 0, 0, 0, 0);
    ok("brk regrown is zero", all_zero((unsigned char *)b0, 3 * PAGE));
    sys6(NR_BRK, (long)b0, 0, 0, 0, 0, 0);

    /* A 64 MB anonymous mapping (glibc's malloc of a large block). */
    long big = (64L << 20) + PAGE;
    unsigned char *m = (unsigned char *)sys6(NR_MMAP, 0, big, RW, PRIV_ANON, -1, 0);
    ok("mmap 64M", (long)m > 0 && ((long)m & (PAGE - 1)) == 0);
    ok("mmap 64M is zero", all_zero(m, big));
    for (long i = 0; i < big; i += PAGE) m[i] = (unsigned char)(i >> 12);
    m[big - 1] = 7;
    /* Hole in the middle, re-protect a page, advise a page away. */
    check("munmap page", sys6(NR_MUNMAP, (long)(m + 16 * PAGE), PAGE, 0, 0, 0, 0), 0);
    check("mprotect across hole", sys6(NR_MPROTECT, (long)(m + 15 * PAGE), 2 * PAGE, 1, 0, 0, 0), -12);
    check("mprotect read-only", sys6(NR_MPROTECT, (long)(m + 17 * PAGE), PAGE, 1, 0, 0, 0), 0);
    ok("read-only page still reads", m[17 * PAGE] == 17);
    check("madvise dontneed", sys6(NR_MADVISE, (long)(m + 20 * PAGE), PAGE, 4, 0, 0, 0), 0);
    ok("dontneed page is zero", m[20 * PAGE] == 0 && m[21 * PAGE] == 21);
    /* Map again over the hole (MAP_FIXED): zero. */
    long f = sys6(NR_MMAP, (long)(m + 16 * PAGE), PAGE, RW, PRIV_ANON | 0x10, -1, 0);
    ok("mmap fixed over hole", f == (long)(m + 16 * PAGE));
    ok("remapped hole is zero", all_zero(m + 16 * PAGE, PAGE));
    /* mremap: shrink in place (realloc of an mmapped chunk). */
    long r = sys6(NR_MREMAP, (long)m, big, 64 * PAGE, 0, 0, 0);
    ok("mremap shrink in place", r == (long)m);
    check("munmap rest", sys6(NR_MUNMAP, (long)(m + 64 * PAGE), big - 64 * PAGE, 0, 0, 0, 0), 0);
    /* mremap needs one mapping for the old range. */
    check("mremap across mappings", sys6(NR_MREMAP, (long)m, 64 * PAGE, 128 * PAGE, 1, 0, 0), -14);
    check("munmap shrunk", sys6(NR_MUNMAP, (long)m, 64 * PAGE, 0, 0, 0, 0), 0);
    /* Grow with MAYMOVE: the contents follow. */
    unsigned char *q = (unsigned char *)sys6(NR_MMAP, 0, 64 * PAGE, RW, PRIV_ANON, -1, 0);
    for (long i = 0; i < 64 * PAGE; i += PAGE) q[i] = (unsigned char)(i >> 12);
    unsigned char *g = (unsigned char *)sys6(NR_MREMAP, (long)q, 64 * PAGE, 4096 * PAGE, 1, 0, 0);
    if ((long)g < 0) { check("mremap grow", (long)g, 0); return; }
    ok("mremap grow", (long)g > 0);
    ok("mremap keeps contents", g[5 * PAGE] == 5 && g[63 * PAGE] == 63 && g[17 * PAGE] == 17);
    ok("mremap grown part is zero", all_zero(g + 64 * PAGE, 4032 * PAGE));
    check("munmap grown", sys6(NR_MUNMAP, (long)g, 4096 * PAGE, 0, 0, 0, 0), 0);
    /* Linux errnos. */
    check("mmap len 0", sys6(NR_MMAP, 0, 0, RW, PRIV_ANON, -1, 0), -22);
    check("mmap no type", sys6(NR_MMAP, 0, PAGE, RW, 0x20, -1, 0), -22);
    check("mmap bad offset", sys6(NR_MMAP, 0, PAGE, RW, PRIV_ANON, -1, 5), -22);
    check("mmap fixed unaligned", sys6(NR_MMAP, 0x10001, PAGE, RW, PRIV_ANON | 0x10, -1, 0), -22);
    check("mmap file bad fd", sys6(NR_MMAP, 0, PAGE, 1, 2, 99, 0), -9);
    check("munmap unaligned", sys6(NR_MUNMAP, 0x10001, PAGE, 0, 0, 0, 0), -22);
    check("munmap len 0", sys6(NR_MUNMAP, 0x10000, 0, 0, 0, 0, 0), -22);
    check("mprotect unaligned", sys6(NR_MPROTECT, 0x10001, PAGE, 1, 0, 0, 0), -22);
    check("mremap bad flags", sys6(NR_MREMAP, (long)g, PAGE, 2 * PAGE, 8, 0, 0), -22);
}

static void fault(int unmap) {
    unsigned char *m = (unsigned char *)sys6(NR_MMAP, 0, 4 * PAGE, RW, PRIV_ANON, -1, 0);
    m[PAGE] = 1;
    if (unmap) sys6(NR_MUNMAP, (long)(m + PAGE), PAGE, 0, 0, 0, 0);
    else sys6(NR_MPROTECT, (long)(m + PAGE), PAGE, 1, 0, 0, 0);
    print_str("storing\n");
    m[PAGE + 8] = 2;
    print_str("store went through\n");
}

/* Runs code from an anonymous RWX page, unmaps the page and maps a fresh
 * (zero) one at the same address without storing to it: the next call
 * must execute zeros (an illegal instruction), not the old translation. */
static void remap_code(void) {
    unsigned *p = (unsigned *)sys6(NR_MMAP, 0, PAGE, 7, PRIV_ANON, -1, 0);
    p[0] = 0x00500513; /* li a0, 5 */
    p[1] = 0x00008067; /* ret */
    long (*fn)(void) = (long (*)(void))p;
    long sum = 0;
    for (int i = 0; i < 100; i++) sum += fn();
    check("code in mmapped page", sum, 500);
    sys6(NR_MUNMAP, (long)p, PAGE, 0, 0, 0, 0);
    sys6(NR_MMAP, (long)p, PAGE, 7, PRIV_ANON | 0x10, -1, 0);
    print_str("calling remapped page\n");
    check("stale code ran", fn(), 0);
}

static void process(void) {
    long tid = sys6(NR_SET_TID_ADDRESS, 0, 0, 0, 0, 0, 0);
    ok("set_tid_address", tid > 0);
    unsigned long lim[2];
    check("prlimit64 stack", sys6(NR_PRLIMIT64, 0, 3, 0, (long)lim, 0, 0), 0);
    ok("stack limit soft <= hard", lim[0] <= lim[1]);
    check("prlimit64 bad resource", sys6(NR_PRLIMIT64, 0, 99, 0, (long)lim, 0, 0), -22);
    unsigned char rnd[32] = {0};
    check("getrandom", sys6(NR_GETRANDOM, (long)rnd, 32, 1, 0, 0, 0), 32);
    int nz = 0;
    for (int i = 0; i < 32; i++) nz |= rnd[i];
    ok("getrandom not all zero", nz != 0);
    check("getrandom bad flags", sys6(NR_GETRANDOM, (long)rnd, 8, 0x40, 0, 0, 0), -22);
    long t1[2], t2[2];
    check("clock_gettime", sys6(NR_CLOCK_GETTIME, 1, (long)t1, 0, 0, 0, 0), 0);
    sys6(NR_CLOCK_GETTIME, 1, (long)t2, 0, 0, 0, 0);
    ok("monotonic", t2[0] > t1[0] || (t2[0] == t1[0] && t2[1] >= t1[1]));
    check("clock_gettime bad clock", sys6(NR_CLOCK_GETTIME, 99, (long)t1, 0, 0, 0, 0), -22);
    long tv[2];
    check("gettimeofday", sys6(NR_GETTIMEOFDAY, (long)tv, 0, 0, 0, 0, 0), 0);
    ok("realtime after 2020", tv[0] > 1577836800L && tv[1] < 1000000);
    char u[390];
    check("uname", sys6(NR_UNAME, (long)u, 0, 0, 0, 0, 0), 0);
    print_str(u);
    print_str(" ");
    print_str(u + 4 * 65);
    print_str("\n");
    unsigned long act[3] = {0, 0, 0}, old[3];
    check("rt_sigaction", sys6(NR_RT_SIGACTION, 10, (long)act, (long)old, 8, 0, 0), 0);
    check("rt_sigaction SIGKILL", sys6(NR_RT_SIGACTION, 9, (long)act, 0, 8, 0, 0), -22);
    check("rt_sigaction bad size", sys6(NR_RT_SIGACTION, 10, (long)act, 0, 4, 0, 0), -22);
    unsigned long set = 1UL << 9, oset = 1;
    check("rt_sigprocmask", sys6(NR_RT_SIGPROCMASK, 0, (long)&set, (long)&oset, 8, 0, 0), 0);
    sys6(NR_RT_SIGPROCMASK, 2, 0, (long)&oset, 8, 0, 0);
    ok("sigmask reads back", oset == (1UL << 9));
    check("rt_sigprocmask bad how", sys6(NR_RT_SIGPROCMASK, 7, (long)&set, 0, 8, 0, 0), -22);
    char termios[64];
    check("ioctl TCGETS stdout", sys6(NR_IOCTL, 1, 0x5401, (long)termios, 0, 0, 0), -25);
    check("ioctl bad fd", sys6(NR_IOCTL, 77, 0x5401, (long)termios, 0, 0, 0), -9);
    unsigned char st[128];
    check("fstat stdout", sys6(NR_FSTAT, 1, (long)st, 0, 0, 0, 0), 0);
    ok("stdout is a pipe", (*(unsigned *)(st + 16) & 0170000) == 0010000);
    check("fstat bad fd", sys6(NR_FSTAT, 77, (long)st, 0, 0, 0, 0), -9);
    struct { const char *p; long n; } iov[2] = {{"write", 5}, {"v\n", 2}};
    check("writev", sys6(NR_WRITEV, 1, (long)iov, 2, 0, 0, 0), 7);
}

static void files(const char *file, const char *link) {
    long fd = sys6(NR_OPENAT, -100, (long)file, 0, 0, 0, 0);
    ok("openat", fd >= 3);
    char buf[256];
    long n = sys6(NR_READ, fd, (long)buf, sizeof buf - 1, 0, 0, 0);
    ok("read", n > 0);
    buf[n > 0 ? n : 0] = 0;
    print_str(buf);
    check("read at end", sys6(NR_READ, fd, (long)buf, 10, 0, 0, 0), 0);
    check("lseek", sys6(NR_LSEEK, fd, 2, 0, 0, 0, 0), 2);
    check("read after lseek", sys6(NR_READ, fd, (long)buf, 3, 0, 0, 0), 3);
    unsigned char st[128];
    check("fstat file", sys6(NR_FSTAT, fd, (long)st, 0, 0, 0, 0), 0);
    check("st_size", *(long *)(st + 48), n);
    check("newfstatat path", sys6(NR_NEWFSTATAT, -100, (long)file, (long)st, 0, 0, 0), 0);
    check("newfstatat st_size", *(long *)(st + 48), n);
    check("write to read-only fd", sys6(64, fd, (long)buf, 1, 0, 0, 0), -9);
    check("close", sys6(NR_CLOSE, fd, 0, 0, 0, 0, 0), 0);
    check("close again", sys6(NR_CLOSE, fd, 0, 0, 0, 0, 0), -9);
    check("openat missing", sys6(NR_OPENAT, -100, (long)"no-such-file", 0, 0, 0, 0), -2);
    check("openat not a dir", sys6(NR_OPENAT, -100, (long)file, 0200000, 0, 0, 0), -20);
    if (link) {
        char t[64];
        long k = sys6(NR_READLINKAT, -100, (long)link, (long)t, sizeof t, 0, 0);
        ok("readlinkat", k > 0);
        t[k > 0 ? k : 0] = 0;
        print_str(t);
        print_str("\n");
        check("readlinkat on a file", sys6(NR_READLINKAT, -100, (long)file, (long)t, 64, 0, 0), -22);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && argv[1][0] == 'f' && argv[1][1] == 'a') {
        fault(argv[1][6] == 'm' && argv[1][7] == 'u');
        return 0;
    }
    if (argc > 1 && argv[1][0] == 'r') {
        remap_code();
        return 0;
    }
    memory();
    process();
    if (argc > 1) files(argv[1], argc > 2 ? argv[2] : 0);
    print_str(failures ? "FAILURES\n" : "all ok\n");
    sys6(NR_EXIT_GROUP, failures ? 1 : 7, 0, 0, 0, 0, 0);
    return 99;
}
