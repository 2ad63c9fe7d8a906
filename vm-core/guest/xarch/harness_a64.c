/* AArch64 test harness for the cross-architecture translator, run under
 * qemu-aarch64 by vm-core's tests (static, glibc).
 *
 *   harness_a64 native VECTORS       run funcs.c compiled for AArch64
 *   harness_a64 blob BLOB VECTORS    run translated code from BLOB
 *
 * VECTORS (little endian u64s): count, then per vector: function index,
 * a, b, buf[64]. For each vector one line is printed: the return value and
 * an FNV-1a hash of buf after the call, both as 16 hex digits.
 *
 * BLOB: magic "XARCHBL1", code_len, image_base, image_len, n_entries,
 * arg_reg[3], ret_reg, sp_reg, entry_off[n_entries], then the code and the
 * guest image bytes. Translated code is called as
 * `u64 code(u64 *cpu_state, u8 *guest_mem_base)` at its entry offset with
 * the guest argument registers set, a guest stack whose top holds the
 * return sentinel (the x86-64 call convention), and returns an exit code;
 * a finished call exits with code 2 (indirect jump leaves the unit) and
 * pc == SENTINEL in the CPU state.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BUF_WORDS 64
#define GUEST_MEM (4u << 20)
#define GUEST_BUF 0x300000u
#define GUEST_STACK_TOP 0x3ff000u
#define SENTINEL 0x5e17e1u
#define STATE_WORDS 256
#define PC_WORD 64 /* CpuState::pc follows 64 globals */

typedef long (*fn_t)(long, long, long *);
extern long x_gcd(long, long, long *), x_collatz(long, long, long *),
    x_sum_array(long, long, long *), x_isqrt(long, long, long *),
    x_hash32(long, long, long *), x_minmax(long, long, long *),
    x_divmod(long, long, long *), x_bubble(long, long, long *),
    x_bytes(long, long, long *), x_calls(long, long, long *),
    x_fib(long, long, long *), x_switch(long, long, long *),
    x_bits(long, long, long *), x_memfill(long, long, long *),
    x_sat(long, long, long *);
/* Same order as FUNCS in vm-core/src/xarch/inputs.rs. */
static fn_t funcs[] = {x_gcd,   x_collatz, x_sum_array, x_isqrt, x_hash32,
                       x_minmax, x_divmod, x_bubble,    x_bytes, x_calls,
                       x_fib,   x_switch,  x_bits,      x_memfill, x_sat};
#define NFUNCS (sizeof funcs / sizeof funcs[0])

static void *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n ? n : 1);
    if (fread(p, 1, n, f) != (size_t)n) { perror("read"); exit(2); }
    fclose(f);
    *len = n;
    return p;
}

static uint64_t fnv(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 1099511628211ull; }
    return h;
}

int main(int argc, char **argv) {
    int blob_mode = argc == 4 && !strcmp(argv[1], "blob");
    if (!blob_mode && !(argc == 3 && !strcmp(argv[1], "native"))) {
        fprintf(stderr, "usage: %s native VECTORS | blob BLOB VECTORS\n", argv[0]);
        return 2;
    }
    size_t vlen;
    uint64_t *v = slurp(argv[blob_mode ? 3 : 2], &vlen);
    uint64_t count = v[0];
    if (vlen != 8 * (1 + count * (3 + BUF_WORDS))) { fprintf(stderr, "bad vectors\n"); return 2; }
    uint64_t *hdr = 0;
    unsigned char *code = 0, *mem = 0;
    if (blob_mode) {
        size_t blen;
        hdr = slurp(argv[2], &blen);
        if (memcmp(hdr, "XARCHBL1", 8)) { fprintf(stderr, "bad blob\n"); return 2; }
        uint64_t code_len = hdr[1], img_base = hdr[2], img_len = hdr[3], n = hdr[4];
        unsigned char *p = (unsigned char *)(hdr + 10 + n);
        code = mmap(0, code_len + 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mem = mmap(0, GUEST_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (code == MAP_FAILED || mem == MAP_FAILED || img_base + img_len > GUEST_BUF) {
            fprintf(stderr, "mmap/image layout\n");
            return 2;
        }
        memcpy(code, p, code_len);
        memcpy(mem + img_base, p + code_len, img_len);
        __builtin___clear_cache((char *)code, (char *)code + code_len);
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t *vec = v + 1 + i * (3 + BUF_WORDS);
        uint64_t fi = vec[0], a = vec[1], b = vec[2];
        long buf[BUF_WORDS];
        uint64_t ret;
        if (!blob_mode) {
            if (fi >= NFUNCS) { fprintf(stderr, "bad function index\n"); return 2; }
            memcpy(buf, vec + 3, sizeof buf);
            ret = (uint64_t)funcs[fi](a, b, buf);
        } else {
            uint64_t n = hdr[4];
            if (fi >= n) { fprintf(stderr, "bad function index\n"); return 2; }
            static uint64_t st[STATE_WORDS];
            memset(st, 0, sizeof st);
            memcpy(mem + GUEST_BUF, vec + 3, sizeof buf);
            st[hdr[5]] = a;
            st[hdr[6]] = b;
            st[hdr[7]] = GUEST_BUF;
            uint64_t sp = GUEST_STACK_TOP - 8;
            memcpy(mem + sp, &(uint64_t){SENTINEL}, 8);
            st[hdr[9]] = sp;
            uint64_t (*entry)(uint64_t *, unsigned char *) =
                (uint64_t (*)(uint64_t *, unsigned char *))(code + hdr[10 + fi]);
            uint64_t exit = entry(st, mem);
            if (exit != 2 || st[PC_WORD] != SENTINEL) {
                printf("exit %lu pc %lx\n", (unsigned long)exit, (unsigned long)st[PC_WORD]);
                continue;
            }
            ret = st[hdr[8]];
            memcpy(buf, mem + GUEST_BUF, sizeof buf);
        }
        printf("%016lx %016lx\n", (unsigned long)ret, (unsigned long)fnv(buf, sizeof buf));
    }
    return 0;
}
