#!/bin/sh
# Rebuilds the committed guest workloads in bin/. Needs Debian's
# gcc-riscv64-linux-gnu. Output is deterministic for a given compiler.
set -eu
cd "$(dirname "$0")"
CC=${CC:-riscv64-linux-gnu-gcc}
CFLAGS="-O2 -static -nostdlib -march=rv64im -mabi=lp64 -fno-builtin -ffreestanding -fno-stack-protector -fno-pie -no-pie -Wl,--build-id=none"
mkdir -p bin
for prog in sieve matmul qsort crc32 fib strings smc; do
    extra="-Wl,-z,separate-code"
    [ "$prog" = smc ] && extra="-Wl,-N -Wl,--no-warn-rwx-segments"
    $CC $CFLAGS $extra -o "bin/$prog.elf.tmp" src/crt0.S src/rt.c "src/$prog.c" -lgcc
    mv "bin/$prog.elf.tmp" "bin/$prog.elf"
done
# The same programs with the C extension (compressed instructions):
# bin/rvc/*.elf, freestanding rv64imc (no F/D needed).
mkdir -p bin/rvc
CFLAGS_C=$(echo "$CFLAGS" | sed 's/-march=rv64im /-march=rv64imc /')
for prog in sieve matmul qsort crc32 fib strings smc; do
    extra="-Wl,-z,separate-code"
    [ "$prog" = smc ] && extra="-Wl,-N -Wl,--no-warn-rwx-segments"
    $CC $CFLAGS_C $extra -o "bin/rvc/$prog.elf.tmp" src/crt0.S src/rt.c "src/$prog.c" -lgcc
    mv "bin/rvc/$prog.elf.tmp" "bin/rvc/$prog.elf"
done
# The A-extension workload (tests/vm_atomics.rs): the same flags with the
# A extension; not one of the rv64im benchmark workloads above.
CFLAGS_A=$(echo "$CFLAGS" | sed 's/-march=rv64im /-march=rv64ima /')
$CC $CFLAGS_A -Wl,-z,separate-code -o bin/atomics.elf.tmp src/crt0.S src/rt.c src/atomics.c -lgcc
mv bin/atomics.elf.tmp bin/atomics.elf
# The system-call test program (raw ecalls, rv64im): built like the
# workloads, not one of them (benchmarks do not run it). crt0.S is
# assembled into a named object first: ld names an object without a
# STT_FILE symbol after its file, and a temporary name would make two
# builds differ.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$CC $CFLAGS -c -o "$tmp/crt0.o" src/crt0.S
$CC $CFLAGS -Wl,-z,separate-code -o bin/syscalls.elf.tmp "$tmp/crt0.o" src/rt.c src/syscalls.c -lgcc
mv bin/syscalls.elf.tmp bin/syscalls.elf
echo "built: $(ls bin bin/rvc)"
