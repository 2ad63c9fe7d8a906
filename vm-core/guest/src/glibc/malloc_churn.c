/* malloc/realloc/free churn with a deterministic random sequence, calloc,
 * a 64 MB block (mmap'd by glibc), realloc of mmap'd chunks (mremap). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return state;
}

#define SLOTS 512
int main(void) {
    static unsigned char *p[SLOTS];
    static size_t len[SLOTS];
    uint64_t sum = 0;
    for (int round = 0; round < 20000; round++) {
        int i = rnd() % SLOTS;
        if (p[i]) {
            for (size_t k = 0; k < len[i]; k += 61) sum += p[i][k] ^ (unsigned char)k;
            if (rnd() % 3 == 0) {
                size_t n = rnd() % 3000 + 1;
                unsigned char *q = realloc(p[i], n);
                if (!q) { puts("realloc failed"); return 1; }
                for (size_t k = len[i]; k < n; k++) q[k] = (unsigned char)(k * 7 + i);
                p[i] = q; len[i] = n;
            } else {
                free(p[i]); p[i] = NULL;
            }
        } else {
            size_t n = (rnd() % 8 == 0) ? rnd() % 200000 + 1 : rnd() % 512 + 1;
            p[i] = (rnd() & 1) ? malloc(n) : calloc(1, n);
            if (!p[i]) { puts("malloc failed"); return 1; }
            for (size_t k = 0; k < n; k++) p[i][k] = (unsigned char)(k * 7 + i);
            len[i] = n;
        }
    }
    for (int i = 0; i < SLOTS; i++) free(p[i]);
    printf("churn sum=%llu\n", (unsigned long long)sum);
    /* calloc memory reads as zero. */
    size_t zn = 1 << 20;
    unsigned char *z = calloc(zn, 1);
    size_t nz = 0;
    for (size_t k = 0; k < zn; k++) nz += z[k] != 0;
    printf("calloc nonzero=%zu\n", nz);
    free(z);
    /* A 64 MB block, written and checked, then shrunk and grown by realloc. */
    size_t big = 64u << 20;
    uint32_t *b = malloc(big);
    if (!b) { puts("64M malloc failed"); return 1; }
    for (size_t k = 0; k < big / 4; k++) b[k] = (uint32_t)(k * 2654435761u);
    uint64_t bs = 0;
    for (size_t k = 0; k < big / 4; k += 4099) bs += b[k];
    b = realloc(b, 1 << 20);
    uint64_t bs2 = 0;
    for (size_t k = 0; k < (1 << 18); k += 997) bs2 += b[k];
    b = realloc(b, 96u << 20);
    if (!b) { puts("96M realloc failed"); return 1; }
    uint64_t bs3 = 0;
    for (size_t k = 0; k < (1 << 18); k += 997) bs3 += b[k];
    memset((char *)b + (1 << 20), 0xab, (95u << 20));
    printf("big sums=%llu %llu %llu last=%02x\n", (unsigned long long)bs,
           (unsigned long long)bs2, (unsigned long long)bs3,
           ((unsigned char *)b)[(96u << 20) - 1]);
    free(b);
    return (int)(sum % 50);
}
