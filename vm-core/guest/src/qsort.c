#include "rt.h"
#define N 500000
static int32_t v[N];
static void quicksort(int32_t *x, long lo, long hi) {
    while (lo < hi) {
        int32_t p = x[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (x[i] < p) i++;
            while (x[j] > p) j--;
            if (i <= j) { int32_t t = x[i]; x[i] = x[j]; x[j] = t; i++; j--; }
        }
        if (j - lo < hi - i) { quicksort(x, lo, j); lo = i; }
        else { quicksort(x, i, hi); hi = j; }
    }
}
int main(void) {
    uint32_t s = 2463534242u;
    for (long i = 0; i < N; i++) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; v[i] = (int32_t)s; }
    quicksort(v, 0, N - 1);
    for (long i = 1; i < N; i++) if (v[i - 1] > v[i]) { print_str("qsort: NOT SORTED\n"); return 1; }
    uint64_t h = 0;
    for (long i = 0; i < N; i += 997) h = h * 1000003u + (uint32_t)v[i];
    print_str("qsort min="); print_u64((uint64_t)(int64_t)v[0] & 0xffffffffu);
    print_str(" hash="); print_hex(h); print_str("\n");
    return 22;
}
