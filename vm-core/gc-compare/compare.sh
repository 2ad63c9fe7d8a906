#!/usr/bin/env bash
# Wall time of binary-trees and GCBench: vm-core's collector (three plans)
# vs the same programs in C on the Boehm GC (Debian libgc-dev), same run.
# Usage: vm-core/gc-compare/compare.sh [binary-trees depth, default 16]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-16}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
gcc -O2 -o "$out/binary_trees" "$here/binary_trees.c" -lgc
gcc -O2 -o "$out/gcbench" "$here/gcbench.c" -lgc
(cd "$root" && cargo build --release -q -p vm-core --example gc_workloads)
rust="$root/target/release/examples/gc_workloads"
t() { local s e; s=$(date +%s%N); "$@" > "$out/last.txt"; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
echo "program        impl             wall_ms"
echo "binary-trees   boehm-gc (C)     $(t "$out/binary_trees" "$n")"
for plan in stw par conc; do
  echo "binary-trees   vm-core $plan     $(t "$rust" binary-trees "$n" "$plan")   [$(tail -1 "$out/last.txt")]"
done
echo "gcbench        boehm-gc (C)     $(t "$out/gcbench")"
for plan in stw par conc; do
  echo "gcbench        vm-core $plan     $(t "$rust" gcbench "$plan")   [$(tail -1 "$out/last.txt")]"
done
