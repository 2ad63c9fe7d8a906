#!/bin/sh
# Rebuilds the F/D sweep (tests/fp_qemu.rs) and its qemu reference output.
# Needs python3, Debian's gcc-riscv64-linux-gnu and qemu-user. The ELF is
# rv64imafd with the soft-float calling convention (lp64), which the VM's
# loader accepts; the program itself uses F, D and Zicsr instructions.
set -eu
cd "$(dirname "$0")"
CC=${CC:-riscv64-linux-gnu-gcc}
python3 gen.py
$CC -O2 -static -nostdlib -march=rv64imafd -mabi=lp64 -fno-builtin -ffreestanding \
    -fno-stack-protector -fno-pie -no-pie -Wl,--build-id=none -Wl,-z,separate-code \
    -o fpedge.elf.tmp ../src/crt0.S ../src/rt.c fpedge.c -lgcc
mv fpedge.elf.tmp fpedge.elf
qemu-riscv64 fpedge.elf > fpedge.expected
echo "built fpedge.elf; $(wc -l < fpedge.expected) reference lines"
