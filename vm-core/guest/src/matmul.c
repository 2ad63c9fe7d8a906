#include "rt.h"
#define N 96
static int64_t a[N][N], b[N][N], c[N][N];
int main(void) {
    uint64_t seed = 12345;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            a[i][j] = (int64_t)(seed >> 40) % 1000 - 500;
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            b[i][j] = (int64_t)(seed >> 40) % 1000 - 500;
        }
    for (int rep = 0; rep < 32; rep++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                int64_t s = 0;
                for (int k = 0; k < N; k++) s += a[i][k] * b[k][j];
                c[i][j] = s + rep;
            }
    uint64_t h = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) h = h * 31 + (uint64_t)c[i][j];
    print_str("matmul hash="); print_hex(h); print_str("\n");
    return 11;
}
