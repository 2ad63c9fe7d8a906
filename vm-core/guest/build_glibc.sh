#!/bin/sh
# Builds the guest programs with the distribution compiler's default flags
# (rv64gc, lp64d, glibc, -O2 -static) into bin/gc/: the workloads of
# src/*.c on rt_glibc.c (rt.h's API on glibc), and the glibc test programs
# of src/glibc/. Needs Debian's gcc-riscv64-linux-gnu. The output is
# deterministic for a given compiler and glibc (no build id; no
# temporary object names reach the symbol table).
set -eu
cd "$(dirname "$0")"
CC=${CC:-riscv64-linux-gnu-gcc}
CFLAGS="-O2 -static -Wl,--build-id=none"
mkdir -p bin/gc
for prog in sieve matmul qsort crc32 fib strings smc; do
    src="src/$prog.c"
    # -N (an RWX data segment) does not link with static glibc: smc's
    # code page is made executable with mprotect instead.
    [ "$prog" = smc ] && src=src/glibc/smc_rwx.c
    $CC $CFLAGS -o "bin/gc/$prog.elf.tmp" "$src" src/rt_glibc.c
    mv "bin/gc/$prog.elf.tmp" "bin/gc/$prog.elf"
done
for prog in printf_float malloc_churn qsort_strings libm file_read signals; do
    $CC $CFLAGS -o "bin/gc/$prog.elf.tmp" "src/glibc/$prog.c" -lm
    mv "bin/gc/$prog.elf.tmp" "bin/gc/$prog.elf"
done
echo "built: $(ls bin/gc)"
