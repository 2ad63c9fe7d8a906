#!/bin/sh
# Wall time of every guest workload under qemu-riscv64 and the vm engines.
# Usage: vm-core/guest/compare_qemu.sh   (from the repository root)
# Needs: cargo, qemu-riscv64 (apt: qemu-user), hyperfine (apt: hyperfine).
set -eu
cargo build --release -p vm-core --bin vm
VM=./target/release/vm
for p in sieve matmul qsort crc32 fib strings smc; do
    elf=vm-core/guest/bin/$p.elf
    echo "== $p"
    hyperfine -N --warmup 2 --runs 10 -i \
        "qemu-riscv64 $elf" \
        "$VM run --engine jit $elf" \
        "$VM run --engine tiered $elf" \
        "$VM run --engine interp $elf"
done
