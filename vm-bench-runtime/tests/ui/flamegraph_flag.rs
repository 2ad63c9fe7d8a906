use vm_bench_runtime::perf_target;

// `flamegraph` is a bare flag: a value, a list, a second one or a typo is an error.
#[perf_target(max_us = 5, flamegraph = true)]
#[test]
fn with_value() {}

#[perf_target(max_us = 5, flamegraph(always))]
#[test]
fn with_list() {}

#[perf_target(max_us = 5, flamegraph, flamegraph)]
#[test]
fn twice() {}

#[perf_target(max_us = 5, flamegraf)]
#[test]
fn misspelt() {}

// Other keys still need their value.
#[perf_target(max_us, flamegraph)]
#[test]
fn bare_bound() {}

fn main() {}
