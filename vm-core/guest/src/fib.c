#include "rt.h"
static long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
int main(int argc, char **argv) {
    long n = 32;
    if (argc > 1) { n = 0; for (const char *p = argv[1]; *p; p++) n = n * 10 + (*p - '0'); }
    long r = fib(n);
    print_str("fib("); print_u64((uint64_t)n); print_str(")="); print_u64((uint64_t)r); print_str("\n");
    return (int)(r % 200);
}
