#!/usr/bin/env bash
# Wall time of binary-trees and GCBench: vm-core's collector (three plans)
# vs the same programs in C on the Boehm GC (Debian libgc-dev), same run.
# Each program runs REPEAT times (default 3), interleaved across
# implementations so load drifts hit all of them alike; the table shows the
# median and the range, and the telemetry line of vm-core's median run.
# Usage: vm-core/gc-compare/compare.sh [binary-trees depth, default 16]
# BASE_BIN=path: also run that gc_workloads binary (built at another commit,
# e.g. before a change) with the best plans, as rows "vm-core@base", in the
# same interleaved run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-16}"
repeat="${REPEAT:-3}"
base="${BASE_BIN:-}"
if [ -n "$base" ] && [ ! -x "$base" ]; then
  echo "compare.sh: BASE_BIN=$base is not an executable" >&2
  exit 1
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
gcc -O2 -o "$out/binary_trees" "$here/binary_trees.c" -lgc
gcc -O2 -o "$out/gcbench" "$here/gcbench.c" -lgc
# Ask cargo where it put the binary instead of assuming `$root/target`:
# CARGO_TARGET_DIR, build.target-dir in a config file or a workspace
# elsewhere all move it.
(cd "$root" && cargo build --release -p vm-core --example gc_workloads \
  --message-format=json-render-diagnostics) > "$out/cargo.json"
rust="$(grep '"reason":"compiler-artifact"' "$out/cargo.json" | grep '"name":"gc_workloads"' |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1 || true)"
if [ -z "$rust" ] || [ ! -x "$rust" ]; then
  echo "compare.sh: cargo did not report an executable for example gc_workloads" >&2
  exit 1
fi

# run KEY CMD...: one timed run, wall ms appended to $out/KEY.ms, the
# program's last output line to $out/KEY.<ms>.txt
run() {
  local key="$1" s e ms
  shift
  s=$(date +%s%N)
  "$@" > "$out/last.txt"
  e=$(date +%s%N)
  ms=$(( (e - s) / 1000000 ))
  echo "$ms" >> "$out/$key.ms"
  tail -1 "$out/last.txt" > "$out/$key.$ms.txt"
}

for _ in $(seq "$repeat"); do
  run bt-boehm "$out/binary_trees" "$n"
  for plan in stw par conc; do run "bt-$plan" "$rust" binary-trees "$n" "$plan"; done
  if [ -n "$base" ]; then
    for plan in stw conc; do run "bt-base-$plan" "$base" binary-trees "$n" "$plan"; done
  fi
  run gcb-boehm "$out/gcbench"
  for plan in stw par conc; do run "gcb-$plan" "$rust" gcbench "$plan"; done
  if [ -n "$base" ]; then
    for plan in stw conc; do run "gcb-base-$plan" "$base" gcbench "$plan"; done
  fi
done

# row LABEL KEY: median and range of KEY's runs
row() {
  local label="$1" key="$2" sorted med
  sorted=$(sort -n "$out/$key.ms")
  med=$(echo "$sorted" | sed -n "$(( (repeat + 1) / 2 ))p")
  printf '%-32s %8s  %6s..%-6s' "$label" "$med" "$(echo "$sorted" | head -1)" "$(echo "$sorted" | tail -1)"
  case "$key" in
    *boehm) echo ;;
    *) echo "  [$(cat "$out/$key.$med.txt")]" ;;
  esac
}

echo "binary-trees n=$n, GCBench classic; $repeat runs each"
printf '%-32s %8s  %s\n' "program / implementation" "median" "min..max wall ms"
row "binary-trees boehm-gc (C)" bt-boehm
for plan in stw par conc; do row "binary-trees vm-core $plan" "bt-$plan"; done
if [ -n "$base" ]; then
  for plan in stw conc; do row "binary-trees vm-core@base $plan" "bt-base-$plan"; done
fi
row "gcbench boehm-gc (C)" gcb-boehm
for plan in stw par conc; do row "gcbench vm-core $plan" "gcb-$plan"; done
if [ -n "$base" ]; then
  for plan in stw conc; do row "gcbench vm-core@base $plan" "gcb-base-$plan"; done
fi
