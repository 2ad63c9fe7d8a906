#!/usr/bin/env python3
"""CPU time (user + system, from wait4's rusage) of `vm run --engine jit` against
qemu-riscv64 on the glibc (rv64gc) builds in bin/gc, five alternated runs each,
medians and their ratio. Usage, from the repository root:

    cargo build --profile test -p vm-core --bin vm
    python3 vm-core/guest/cpu_vs_qemu.py target/debug/vm
"""
import math
import os
import statistics
import subprocess
import sys

GUEST = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = ["sieve", "matmul", "qsort", "crc32", "fib", "strings",
            "libm", "printf_float", "malloc_churn", "qsort_strings"]
RUNS = 5


def cpu_seconds(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         cwd=os.path.join(GUEST, "fsroot"))
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) < 0:
        sys.exit(f"{cmd}: killed by a signal")
    return ru.ru_utime + ru.ru_stime


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    vm = os.path.abspath(sys.argv[1])
    ratios = []
    for name in PROGRAMS:
        elf = os.path.join(GUEST, "bin", "gc", f"{name}.elf")
        qemu, jit = [], []
        for _ in range(RUNS):
            qemu.append(cpu_seconds(["qemu-riscv64", elf]))
            jit.append(cpu_seconds([vm, "run", "--engine", "jit", elf]))
        q, j = statistics.median(qemu), statistics.median(jit)
        ratios.append(j / q)
        print(f"{name:14s} qemu {q * 1e3:8.1f} ms  vm jit {j * 1e3:8.1f} ms  ratio {j / q:.3f}",
              flush=True)
    print(f"geomean ratio {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f}")


if __name__ == "__main__":
    main()
