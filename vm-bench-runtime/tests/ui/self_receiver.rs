use vm_bench_runtime::perf_target;

struct Vm;

impl Vm {
    #[perf_target(max_us = 5)]
    #[test]
    fn bench_x(&self) {}
}

fn main() {}
