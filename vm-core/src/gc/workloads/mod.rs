//! Classic GC workloads ported to this heap: the Benchmarks Game's
//! binary-trees and Boehm's GCBench. The C originals for comparison live in
//! `vm-core/gc-compare/`.

pub mod binary_trees;
pub mod gcbench;
