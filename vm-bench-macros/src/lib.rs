//! Procedural macros of the benchmark harness. Use them through `vm-bench-runtime`, which
//! re-exports [`macro@perf_target`].
//!
//! The macro parses the attribute into a typed model (module `model`), validates it and the
//! function together (collecting every error, each spanned on the offending tokens), then
//! emits a thin wrapper (module `expand`) that calls the runtime.

use proc_macro::TokenStream;

mod expand;
mod model;
mod suite;

/// Turns a `#[test]` function into a KPI-checked benchmark. See `docs/harness.md`.
///
/// ```text
/// #[perf_target(max_us = 500, category = "JIT")]
/// #[test]
/// fn bench_compilation_latency(b: &mut Bench) {
///     let block = prepare();
///     b.iter(|| compile(&block));
/// }
/// ```
#[proc_macro_attribute]
pub fn perf_target(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = proc_macro2::TokenStream::from(item);
    expand::perf_target(args, item).into()
}

/// Compiles every `tests/*.rs` (or `"dir"/*.rs`) that holds a `#[perf_target]` into the
/// calling bench target as a module of the same name, and defines `SUITE_FILES` for
/// `vm_bench_runtime::suite::main`. Use it through `vm_bench_runtime::suite::include_tests`.
///
/// ```text
/// vm_bench_runtime::suite::include_tests!();
/// fn main() { vm_bench_runtime::suite::main(SUITE_FILES) }
/// ```
#[proc_macro]
pub fn include_tests(args: TokenStream) -> TokenStream {
    suite::include_tests(args.into()).into()
}
