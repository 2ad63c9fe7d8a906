/* Mixed-architecture workload (vm-core/src/xarch/mixed.rs): a driver that
 * calls a work function through a pointer, built for RV64 and AArch64, and
 * for x86-64 to compare translated code with native code. The driver and
 * the work function may run as different guest architectures.
 */
long mix_work(long n, long seed) {
    unsigned long s = (unsigned long)seed | 1, acc = 0;
    for (long i = 0; i < n; i++) {
        s = s * 6364136223846793005ul + 1442695040888963407ul;
        acc ^= s >> 29;
        acc += (acc << 3) ^ (unsigned long)i;
        if ((long)acc < 0)
            acc = ~acc;
    }
    return (long)acc;
}

long mix_add(long x, long y) {
    return x + y;
}

long mix_driver(long (*f)(long, long), long calls, long n) {
    long acc = 0;
    for (long i = 0; i < calls; i++)
        acc += f(n, acc + i);
    return acc;
}
