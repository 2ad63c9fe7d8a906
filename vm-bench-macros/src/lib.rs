//! Procedural macros of the benchmark harness. Use them through `vm-bench-runtime`.
