// Internals of the harness are not part of its API (they used to leak).
fn main() {
    let _ = vm_bench_runtime::lock::acquire;
    let _ = vm_bench_runtime::suite::significance::erfc;
    let _ = vm_bench_runtime::suite::format::xml_escape;
    let _ = vm_bench_runtime::stats::SplitMix64::new;
}
