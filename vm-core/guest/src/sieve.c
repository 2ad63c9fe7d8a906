#include "rt.h"
#define N 2000000
static unsigned char composite[N + 1];
int main(void) {
    uint64_t count = 0, sum = 0;
    for (int round = 0; round < 10; round++) {
        memset(composite, 0, sizeof composite);
        count = 0; sum = 0;
        for (uint64_t i = 2; i <= N; i++) {
            if (!composite[i]) {
                count++; sum += i;
                for (uint64_t j = i * i; j <= N; j += i) composite[j] = 1;
            }
        }
    }
    print_str("sieve primes="); print_u64(count);
    print_str(" sum="); print_u64(sum); print_str("\n");
    return (int)(count % 256) == 0 ? 1 : 7;
}
