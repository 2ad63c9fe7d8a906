#!/bin/sh
# Rebuilds the committed inputs of the cross-architecture translator:
#   funcs.x86_64.elf   funcs.c for x86-64 (Debian gcc), linked at 0x100000
#   funcs.aarch64.elf  funcs.c for AArch64 (aarch64-linux-gnu-gcc), same
#   harness_a64.elf    static AArch64 harness run under qemu-aarch64 by the
#                      tests: runs funcs.c compiled for AArch64 (the oracle)
#                      and translated code blobs
# -fno-tree-vectorize: SIMD is outside the lifted integer subset.
# -fno-jump-tables: switch jump tables are indirect jumps whose targets a
# static function-level translation cannot discover (see docs/cross-arch.md).
# -fcf-protection=none / no stack protector: no endbr64 or TLS canary reads.
set -eu
cd "$(dirname "$0")"
COMMON="-O2 -fno-tree-vectorize -fno-jump-tables -ffreestanding -fno-builtin -fno-stack-protector -fno-pie -fno-asynchronous-unwind-tables -fno-ident"
gcc $COMMON -fcf-protection=none -c funcs.c -o funcs.x86_64.o.tmp
mv funcs.x86_64.o.tmp funcs.x86_64.o
ld -static -no-pie -e 0 -Ttext=0x100000 --build-id=none funcs.x86_64.o -o funcs.x86_64.elf.tmp
mv funcs.x86_64.elf.tmp funcs.x86_64.elf
aarch64-linux-gnu-gcc $COMMON -mbranch-protection=none -c funcs.c -o funcs.aarch64.o.tmp
mv funcs.aarch64.o.tmp funcs.aarch64.o
aarch64-linux-gnu-ld -static -no-pie -e 0 -Ttext=0x100000 --build-id=none funcs.aarch64.o -o funcs.aarch64.elf.tmp
mv funcs.aarch64.elf.tmp funcs.aarch64.elf
aarch64-linux-gnu-gcc -O2 -static -s -Wl,--build-id=none harness_a64.c funcs.aarch64.o -o harness_a64.elf.tmp
mv harness_a64.elf.tmp harness_a64.elf
# mixed.c: the mixed-architecture workload, for AArch64, RV64 (rv64im, no C
# extension: the RV64 VM does not implement it; --no-relax: no gp-relative
# addressing, gp is not set up for a bare function call) and x86-64 (native baseline).
aarch64-linux-gnu-gcc $COMMON -mbranch-protection=none -c mixed.c -o mixed.aarch64.o
aarch64-linux-gnu-ld -static -no-pie -e 0 -Ttext=0x100000 --build-id=none mixed.aarch64.o -o mixed.aarch64.elf.tmp
mv mixed.aarch64.elf.tmp mixed.aarch64.elf
riscv64-linux-gnu-gcc $COMMON -march=rv64im -mabi=lp64 -c mixed.c -o mixed.riscv64.o
riscv64-linux-gnu-ld -static -no-pie --no-relax -e 0 -Ttext=0x200000 --build-id=none mixed.riscv64.o -o mixed.riscv64.elf.tmp
mv mixed.riscv64.elf.tmp mixed.riscv64.elf
gcc $COMMON -fcf-protection=none -c mixed.c -o mixed.x86_64.o
ld -static -no-pie -e 0 -Ttext=0x100000 --build-id=none mixed.x86_64.o -o mixed.x86_64.elf.tmp
mv mixed.x86_64.elf.tmp mixed.x86_64.elf
rm -f mixed.aarch64.o mixed.riscv64.o mixed.x86_64.o
echo "built: funcs.x86_64.elf funcs.aarch64.elf harness_a64.elf"
