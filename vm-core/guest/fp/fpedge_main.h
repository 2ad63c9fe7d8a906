/* Edge-value tables and output helpers of the F/D sweep (see gen.py). */
#include "../src/rt.h"

typedef uint64_t (*opfn)(uint64_t, uint64_t, uint64_t);
struct op {
    const char *name;
    char prec;   /* 'd': double inputs, 's': NaN-boxed singles, 'i': integers */
    int arity;   /* 1, 2 or 3 floating-point / integer inputs */
    int nrm;     /* 6 (rne rtz rdn rup rmm dyn) or 1 (no rounding mode) */
    opfn fn[6];
};

static const uint64_t D[] = {
    0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x8000000000000001,
    0x000fffffffffffff, 0x0010000000000000, 0x8010000000000000, 0x7fefffffffffffff,
    0xffefffffffffffff, 0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000,
    0x7ff4000000000001, 0xfff8000000dead00, 0x3ff0000000000000, 0xbff0000000000000,
    0x3ff8000000000000, 0xc004000000000000, 0x3fe0000000000000, 0x3ff0000000000001,
    0x41dfffffffc00000, 0x41e0000000000000, 0xc1e0000000200000, 0x41efffffffe00000,
    0x43e0000000000000, 0xc3e0000000000000, 0x43f0000000000000, 0x3ca0000000000000,
    0x4340000000000001, 0x3fefffffffffffff, 0x0008000000000000, 0x47efffffe0000000,
    0x36a0000000000000, 0xc00921fb54442d18, 0x0000000000000003, 0x3cb0000000000000,
};
/* Singles, NaN-boxed; the last two entries are not properly boxed (they
 * read as the canonical NaN). */
static const uint64_t S[] = {
    0xffffffff00000000, 0xffffffff80000000, 0xffffffff00000001, 0xffffffff80000001,
    0xffffffff007fffff, 0xffffffff00800000, 0xffffffff80800000, 0xffffffff7f7fffff,
    0xffffffffff7fffff, 0xffffffff7f800000, 0xffffffffff800000, 0xffffffff7fc00000,
    0xffffffff7fa00001, 0xffffffffffc0dead, 0xffffffff3f800000, 0xffffffffbf800000,
    0xffffffff3fc00000, 0xffffffffc0200000, 0xffffffff3f000000, 0xffffffff3f800001,
    0xffffffff4effffff, 0xffffffff4f000000, 0xffffffffcf000000, 0xffffffff4f7fffff,
    0xffffffff5f000000, 0xffffffffdf000000, 0xffffffff5f800000, 0xffffffff33800000,
    0xffffffff4b800001, 0xffffffff3f7fffff, 0xffffffff00400000, 0xffffffff0c000000,
    0xffffffffc0490fdb, 0xffffffff00000003, 0x000000003f800000, 0x7fffffff3f800000,
};
static const uint64_t I[] = {
    0, 1, 0xffffffffffffffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xffffffff80000000,
    0x7fffffffffffffff, 0x8000000000000000, 0x1000001, 0x1000003, 0x20000000000001,
    0x20000000000003, 0xfffffffffefffffd, 123456789, 0xfedcba9876543210, 0xffffffff7fffffff,
    0x0000000100000001,
};
/* Addends of the fused multiply-adds: a subset, to bound the run time. */
static const unsigned C3[] = {0, 1, 2, 5, 9, 10, 11, 12, 14, 15, 19, 27, 33};
#define N(t) (sizeof t / sizeof t[0])
