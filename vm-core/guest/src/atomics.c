/* A-extension workload: every AMO at both widths (signed and unsigned
 * min/max), LR/SC in compare-and-swap loops and an explicit retry loop, a
 * spinlock, SC without a reservation, and sign extension at the edges.
 * Built with -march=rv64ima (see ../build.sh); its output is compared
 * with qemu-riscv64 on every engine (tests/vm_atomics.rs). */
#include "rt.h"

#define AMO(name, insn, type)                                               \
    static type name(volatile type *p, type v) {                            \
        type old;                                                           \
        __asm__ volatile(insn " %0, %2, (%1)" : "=r"(old) : "r"(p), "r"(v) : "memory"); \
        return old;                                                         \
    }
AMO(amomin_w, "amomin.w", int32_t)
AMO(amomax_w, "amomax.w", int32_t)
AMO(amominu_w, "amominu.w", uint32_t)
AMO(amomaxu_w, "amomaxu.w", uint32_t)
AMO(amomin_d, "amomin.d.aq", int64_t)
AMO(amomax_d, "amomax.d.rl", int64_t)
AMO(amominu_d, "amominu.d.aqrl", uint64_t)
AMO(amomaxu_d, "amomaxu.d", uint64_t)

static uint64_t lr_d(volatile uint64_t *p) {
    uint64_t v;
    __asm__ volatile("lr.d %0, (%1)" : "=r"(v) : "r"(p) : "memory");
    return v;
}
static uint64_t sc_d(volatile uint64_t *p, uint64_t v) {
    uint64_t r;
    __asm__ volatile("sc.d %0, %2, (%1)" : "=r"(r) : "r"(p), "r"(v) : "memory");
    return r;
}
static uint64_t sc_w(volatile uint32_t *p, uint32_t v) {
    uint64_t r;
    __asm__ volatile("sc.w %0, %2, (%1)" : "=r"(r) : "r"(p), "r"(v) : "memory");
    return r;
}

/* fetch-add as an explicit LR/SC retry loop; returns the sign-extended old value. */
static uint64_t lrsc_add_w(volatile uint32_t *p, uint32_t v) {
    uint64_t old, tmp, fail;
    __asm__ volatile("1: lr.w.aq %0, (%3)\n"
                     "   addw %1, %0, %4\n"
                     "   sc.w.rl %2, %1, (%3)\n"
                     "   bnez %2, 1b"
                     : "=&r"(old), "=&r"(tmp), "=&r"(fail) : "r"(p), "r"(v) : "memory");
    return old;
}

static uint64_t h = 1469598103934665603ul;
static void mix(uint64_t v) { h = (h ^ v) * 1099511628211ul; }
static void show(const char *name, uint64_t v) {
    print_str(name); print_str(" "); print_hex(v); print_str("\n");
    mix(v);
}

static volatile int32_t w32[64];
static volatile int64_t w64[64];
static volatile int lock;

static void spin_lock(volatile int *l) {
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {}
}
static void spin_unlock(volatile int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

int main(void) {
    uint64_t x = 0x9e3779b97f4a7c15ul;
    for (int i = 0; i < 64; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        w32[i] = (int32_t)x; w64[i] = (int64_t)(x * 3);
    }
    /* Every AMO over many values: add/xor/and/or/swap via builtins, min/max via asm. */
    for (int r = 0; r < 200; r++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int i = r & 63, j = (r * 7) & 63;
        mix(__atomic_fetch_add(&w32[i], (int32_t)x, __ATOMIC_SEQ_CST));
        mix(__atomic_fetch_xor(&w64[j], (int64_t)x, __ATOMIC_RELAXED));
        mix(__atomic_fetch_and(&w32[j], (int32_t)(x >> 3), __ATOMIC_ACQUIRE));
        mix(__atomic_fetch_or(&w64[i], (int64_t)(x >> 9), __ATOMIC_RELEASE));
        mix(__atomic_exchange_n(&w32[(i + 1) & 63], (int32_t)(x >> 17), __ATOMIC_ACQ_REL));
        mix(__atomic_fetch_sub(&w64[(j + 3) & 63], (int64_t)x, __ATOMIC_SEQ_CST));
        mix((uint64_t)amomin_w(&w32[i], (int32_t)(x >> 32)));
        mix((uint64_t)amomax_w(&w32[j], (int32_t)x));
        mix(amominu_w((volatile uint32_t *)&w32[(i + 5) & 63], (uint32_t)(x >> 11)));
        mix(amomaxu_w((volatile uint32_t *)&w32[(j + 9) & 63], (uint32_t)(x >> 29)));
        mix((uint64_t)amomin_d(&w64[i], (int64_t)(x << 1)));
        mix((uint64_t)amomax_d(&w64[j], (int64_t)(x >> 1)));
        mix(amominu_d((volatile uint64_t *)&w64[(i + 2) & 63], x));
        mix(amomaxu_d((volatile uint64_t *)&w64[(j + 4) & 63], x >> 2));
        /* Compare-and-swap (an LR/SC loop), 64, 32, 16 and 8 bits. */
        int64_t e64 = w64[(i + 7) & 63];
        mix(__atomic_compare_exchange_n(&w64[(i + 7) & 63], &e64, (int64_t)x, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
        int32_t e32 = (int32_t)x; /* usually fails */
        mix(__atomic_compare_exchange_n(&w32[(j + 7) & 63], &e32, 5, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
        mix((uint64_t)e32);
        mix(__atomic_exchange_n(&w64[(i + 13) & 63], (int64_t)x, __ATOMIC_SEQ_CST));
        mix(__atomic_fetch_xor(&w32[(j + 13) & 63], (int32_t)(x >> 7), __ATOMIC_RELAXED));
        mix(__atomic_fetch_or(&w32[(i + 17) & 63], (int32_t)(x >> 21), __ATOMIC_RELAXED));
        mix(__atomic_fetch_and(&w64[(j + 17) & 63], (int64_t)(x | 0xff), __ATOMIC_RELAXED));
        mix(lrsc_add_w((volatile uint32_t *)&w32[(i + 11) & 63], (uint32_t)(x >> 40)));
    }
    /* Signedness and sign extension at the edges. */
    w32[0] = -1;
    show("amomin.w(-1,1)", (uint64_t)amomin_w(&w32[0], 1));
    show("after", (uint64_t)w32[0]);
    show("amominu.w(0xffffffff,1)", amominu_w((volatile uint32_t *)&w32[0], 1));
    show("after", (uint64_t)w32[0]);
    w32[1] = 0x7fffffff;
    show("amoadd.w(0x7fffffff,1)", (uint64_t)(int64_t)__atomic_fetch_add(&w32[1], 1, __ATOMIC_SEQ_CST));
    show("after", (uint64_t)(int64_t)w32[1]);
    w64[0] = (int64_t)0x8000000000000000ul;
    show("amomax.d(min,-1)", (uint64_t)amomax_d(&w64[0], -1));
    show("amomaxu.d(0xff..,1)", amomaxu_d((volatile uint64_t *)&w64[0], 1));
    /* SC without a reservation fails; an LR/SC pair succeeds; a second SC fails. */
    volatile uint64_t *p = (volatile uint64_t *)&w64[5];
    *p = 77;
    show("sc.d alone", sc_d(p, 1));
    show("value", *p);
    uint64_t v = lr_d(p);
    show("lr.d", v);
    show("sc.d after lr.d", sc_d(p, v + 1));
    show("value", *p);
    show("sc.d again", sc_d(p, 5));
    show("sc.w alone", sc_w((volatile uint32_t *)&w32[3], 9));
    /* A spinlock around a counter. */
    long counter = 0;
    for (int k = 0; k < 1000; k++) {
        spin_lock(&lock);
        counter += k;
        spin_unlock(&lock);
    }
    show("counter", (uint64_t)counter);
    uint64_t final = h;
    show("hash", final);
    return (int)(final & 0x7f);
}
