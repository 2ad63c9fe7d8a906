vm_bench_runtime::suite::include_tests!();
fn main() { vm_bench_runtime::suite::main(SUITE_FILES) }
