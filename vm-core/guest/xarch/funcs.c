/* Inputs of the cross-architecture translator (vm-core/src/xarch).
 *
 * Ordinary integer C, compiled at -O2 for x86-64 and AArch64 by build.sh.
 * Every exported function has the same signature so one harness drives
 * all of them: `long f(long a, long b, long *buf)`, where `buf` points to
 * XARCH_BUF_WORDS longs the function may read and write. The functions are
 * chosen to make gcc emit the integer subset the frontends lift: moves,
 * ALU with flags, shifts, multiply/divide (also by constants, which become
 * multiply-high), loads/stores with base+index*scale+disp addressing,
 * byte/half/word accesses, compares, conditional selects, conditional and
 * indirect branches, calls and returns (including recursion).
 */
#define XARCH_BUF_WORDS 64
#define NOINLINE __attribute__((noinline))

typedef unsigned long u64;
typedef unsigned int u32;

long x_gcd(long a, long b, long *buf) {
    (void)buf;
    u64 x = (u64)a, y = (u64)b;
    while (y != 0) {
        u64 t = x % y;
        x = y;
        y = t;
    }
    return (long)x;
}

long x_collatz(long a, long b, long *buf) {
    (void)b; (void)buf;
    u64 n = ((u64)a & 0xffff) + 1;
    long steps = 0;
    while (n != 1) {
        n = (n & 1) ? 3 * n + 1 : n >> 1;
        steps++;
    }
    return steps;
}

long x_sum_array(long a, long b, long *buf) {
    long n = (u64)a % XARCH_BUF_WORDS;
    long s = 0;
    for (long i = 0; i < n; i++)
        s += buf[i] * (b | 1);
    return s;
}

long x_isqrt(long a, long b, long *buf) {
    (void)b; (void)buf;
    u64 x = (u64)a, r = 0, bit = 1UL << 62;
    while (bit > x) bit >>= 2;
    while (bit != 0) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return (long)r;
}

long x_hash32(long a, long b, long *buf) {
    (void)buf;
    u32 h = 2166136261u ^ (u32)b;
    u32 v = (u32)a;
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (i * 4)) & 0xf;
        h *= 16777619u;
        h = (h << 5) | (h >> 27);
    }
    return (long)(int)h;
}

long x_minmax(long a, long b, long *buf) {
    (void)buf;
    long lo = a < b ? a : b;
    long hi = a < b ? b : a;
    long ab = a < 0 ? -a : a;
    u64 ulo = (u64)a < (u64)b ? (u64)a : (u64)b;
    return lo * 3 + hi * 5 + ab * 7 + (long)ulo + (a == b) + ((int)a > (int)b);
}

long x_divmod(long a, long b, long *buf) {
    (void)buf;
    long q = a / 7 + a % 10;
    u64 uq = (u64)a / 1000 + (u64)b % 3;
    long d = b != 0 ? a / b : 0;
    long m = b != 0 ? a % b : 0;
    int iq = (int)b != 0 && !((int)a == -2147483647 - 1 && (int)b == -1) ? (int)a / (int)b : 0;
    unsigned uiq = (u32)b != 0 ? (u32)a / (u32)b : 0;
    return q ^ (long)uq ^ (d << 3) ^ (m << 7) ^ ((long)iq << 11) ^ ((long)uiq << 13);
}

long x_bubble(long a, long b, long *buf) {
    long n = 8 + ((u64)a % 24);
    (void)b;
    for (long i = 0; i < n; i++)
        for (long j = 0; j + 1 < n - i; j++)
            if (buf[j] > buf[j + 1]) {
                long t = buf[j];
                buf[j] = buf[j + 1];
                buf[j + 1] = t;
            }
    return buf[0] ^ buf[n - 1];
}

long x_bytes(long a, long b, long *buf) {
    unsigned char *p = (unsigned char *)buf;
    signed char *q = (signed char *)buf;
    short *h = (short *)buf;
    unsigned short *uh = (unsigned short *)buf;
    int *w = (int *)buf;
    u32 *uw = (u32 *)buf;
    long s = 0;
    for (int i = 0; i < 32; i++) {
        s += p[i] * 3 + q[i + 32];
        s ^= h[i] + uh[i + 40];
        s += w[i] - (long)uw[i + 32];
    }
    p[(u64)a % 256] = (unsigned char)b;
    h[(u64)b % 128] = (short)a;
    w[(u64)(a ^ b) % 64] = (int)(a + b);
    return s;
}

static NOINLINE long helper_poly(long x, long k) {
    return (x * x + k) ^ (x >> 3);
}

long x_calls(long a, long b, long *buf) {
    long s = 0;
    for (long i = 0; i < 6; i++)
        s += helper_poly(a + i, b) + buf[i];
    return s;
}

static NOINLINE long fib_rec(long n) {
    return n < 2 ? n : fib_rec(n - 1) + fib_rec(n - 2);
}

long x_fib(long a, long b, long *buf) {
    (void)b; (void)buf;
    return fib_rec((u64)a % 16);
}

long x_switch(long a, long b, long *buf) {
    (void)buf;
    long r = 0;
    for (long i = 0; i < 16; i++) {
        switch ((a + i) & 7) {
        case 0: r += b; break;
        case 1: r ^= b << 1; break;
        case 2: r -= i; break;
        case 3: r = r * 3 + 1; break;
        case 4: r >>= 1; break;
        case 5: r |= 0x100; break;
        case 6: r &= ~b; break;
        default: r += 7; break;
        }
    }
    return r;
}

long x_bits(long a, long b, long *buf) {
    (void)buf;
    u64 x = (u64)a;
    long c = 0;
    for (long i = 1; x != 0; i++) {
        c += (long)(x & 3) * i;
        x >>= 2;
    }
    u64 y = (u64)b;
    u64 rot = (y << 13) | (y >> 51);
    long sh = (long)a >> ((u64)b & 63);
    u32 w = (u32)a << ((u32)b & 31);
    return c + (long)rot + sh + (long)w + (long)((u64)(int)a >> 7);
}

long x_memfill(long a, long b, long *buf) {
    long n = (u64)a % XARCH_BUF_WORDS;
    for (long i = 0; i < n; i++)
        buf[i] = buf[(i * 7) % XARCH_BUF_WORDS] + b * i;
    long s = 0;
    for (long i = 0; i < XARCH_BUF_WORDS; i++)
        s += buf[i] & 0xff;
    return s;
}

long x_sat(long a, long b, long *buf) {
    (void)buf;
    int x = (int)a, y = (int)b;
    long r = 0;
    r += (x > 100) ? 100 : (x < -100 ? -100 : x);
    r += (y >= 0 && x >= 0) ? 1 : 2;
    r += ((unsigned)x > (unsigned)y) ? 4 : 8;
    r += (x != 0 && y != 0 && x > y) ? 16 : 32;
    r += (u64)a > 1000 || b < -5 ? 64 : 128;
    return r;
}
