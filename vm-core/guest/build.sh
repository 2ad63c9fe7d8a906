#!/bin/sh
# Rebuilds the committed guest workloads in bin/. Needs Debian's
# gcc-riscv64-linux-gnu. Output is deterministic for a given compiler
# (two runs give the same bytes).
set -eu
cd "$(dirname "$0")"
CC=${CC:-riscv64-linux-gnu-gcc}
CFLAGS="-O2 -static -nostdlib -march=rv64im -mabi=lp64 -fno-builtin -ffreestanding -fno-stack-protector -fno-pie -no-pie -Wl,--build-id=none"
# crt0.S is assembled into a named object (crt0.o, per -march) and linked
# from there: ld names an object without a STT_FILE symbol after its file,
# and the temporary object gcc makes of a .S on the command line would put
# a random name (e.g. ccMMveso.o) into the symbol table, so two builds
# differed. The code and data are the same either way.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
crt0() { # crt0 MARCH -> path of crt0.o assembled for it
    mkdir -p "$tmp/$1"
    [ -f "$tmp/$1/crt0.o" ] ||
        $CC $(echo "$CFLAGS" | sed "s/-march=rv64im /-march=$1 /") -c -o "$tmp/$1/crt0.o" src/crt0.S
    echo "$tmp/$1/crt0.o"
}
mkdir -p bin
for prog in sieve matmul qsort crc32 fib strings smc; do
    extra="-Wl,-z,separate-code"
    [ "$prog" = smc ] && extra="-Wl,-N -Wl,--no-warn-rwx-segments"
    $CC $CFLAGS $extra -o "bin/$prog.elf.tmp" "$(crt0 rv64im)" src/rt.c "src/$prog.c" -lgcc
    mv "bin/$prog.elf.tmp" "bin/$prog.elf"
done
# The same programs with the C extension (compressed instructions):
# bin/rvc/*.elf, freestanding rv64imc (no F/D needed).
mkdir -p bin/rvc
CFLAGS_C=$(echo "$CFLAGS" | sed 's/-march=rv64im /-march=rv64imc /')
for prog in sieve matmul qsort crc32 fib strings smc; do
    extra="-Wl,-z,separate-code"
    [ "$prog" = smc ] && extra="-Wl,-N -Wl,--no-warn-rwx-segments"
    $CC $CFLAGS_C $extra -o "bin/rvc/$prog.elf.tmp" "$(crt0 rv64imc)" src/rt.c "src/$prog.c" -lgcc
    mv "bin/rvc/$prog.elf.tmp" "bin/rvc/$prog.elf"
done
# The A-extension workload (tests/vm_atomics.rs): the same flags with the
# A extension; not one of the rv64im benchmark workloads above.
CFLAGS_A=$(echo "$CFLAGS" | sed 's/-march=rv64im /-march=rv64ima /')
$CC $CFLAGS_A -Wl,-z,separate-code -o bin/atomics.elf.tmp "$(crt0 rv64ima)" src/rt.c src/atomics.c -lgcc
mv bin/atomics.elf.tmp bin/atomics.elf
# The system-call test program (raw ecalls, rv64im): built like the
# workloads, not one of them (benchmarks do not run it).
$CC $CFLAGS -Wl,-z,separate-code -o bin/syscalls.elf.tmp "$(crt0 rv64im)" src/rt.c src/syscalls.c -lgcc
mv bin/syscalls.elf.tmp bin/syscalls.elf
echo "built: $(ls bin bin/rvc)"
