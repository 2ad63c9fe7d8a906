//! Async execution engine overhead (spec: < 500 ns per executed block
//! compared with a synchronous call): the same vCPU, one guest state, runs
//! quanta through `Vcpu::run_quantum` (sync) and through the async path
//! (`Vcpu::run_quantum_async` driven by `exec::block_on`: poll, run the
//! quantum, yield with a self-wake, poll again). The quantum is ONE block,
//! so every block pays a whole async round trip: the worst case.

use std::cell::RefCell;
use std::path::Path;
use std::time::Instant;

use vm_bench_runtime::{perf_target, Bench};
use vm_core::exec::{block_on, Vcpu, DEFAULT_QUANTUM_BLOCKS};
use vm_core::sched::{SchedConfig, Scheduler};
use vm_core::{EngineKind, RunOutcome, Vm, VmConfig};

/// fib(40): far more blocks than any benchmark run executes, so the guest
/// never exits while measured.
fn long_fib(quantum: u64) -> Vcpu {
    fib_vcpu(40, quantum)
}

fn fib_vcpu(n: u32, quantum: u64) -> Vcpu {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("vm-core/guest/bin/fib.elf");
    let elf = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let cfg = VmConfig {
        engine: EngineKind::Jit,
        mem_size: 16 << 20,
        code_cache_bytes: 4 << 20,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    vm.load_elf(&elf, &["fib".into(), n.to_string()]).unwrap();
    Vcpu::new(0, vm, quantum).unwrap()
}

fn expect_running(r: Result<RunOutcome, vm_core::VmError>) {
    assert_eq!(r.unwrap(), RunOutcome::QuantumExpired);
}

/// ns per block of `quanta` quanta on one path (for the amortized figure).
fn per_block(v: &RefCell<Vcpu>, quanta: u64, run: impl Fn(&mut Vcpu)) -> f64 {
    let mut v = v.borrow_mut();
    let b0 = v.vm().stats().blocks_executed;
    let t = Instant::now();
    for _ in 0..quanta {
        run(&mut v);
    }
    t.elapsed().as_nanos() as f64 / (v.vm().stats().blocks_executed - b0) as f64
}

#[perf_target(max_overhead_ns = 500, category = "Scheduler")]
#[test]
fn verify_async_overhead(b: &mut Bench) {
    let vcpu = RefCell::new(long_fib(1));
    // Warm the translation cache so both paths run compiled, chained code.
    for _ in 0..20_000 {
        expect_running(vcpu.borrow_mut().run_quantum());
    }
    b.compare(
        || expect_running(vcpu.borrow_mut().run_quantum()),
        || expect_running(block_on(vcpu.borrow_mut().run_quantum_async())),
    );

    // The same comparison at the scheduler's default quantum, amortized
    // per block (best of 5 rounds each, interleaved).
    let big = RefCell::new(long_fib(DEFAULT_QUANTUM_BLOCKS));
    for _ in 0..50 {
        expect_running(big.borrow_mut().run_quantum());
    }
    let (mut sync, mut asyn) = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        sync = sync.min(per_block(&big, 200, |v| expect_running(v.run_quantum())));
        asyn = asyn.min(per_block(&big, 200, |v| {
            expect_running(block_on(v.run_quantum_async()))
        }));
    }
    b.metric("sync_ns_per_block_default_quantum", sync);
    b.metric("async_overhead_ns_per_block_default_quantum", asyn - sync);

    // The scheduler's per-quantum cost, in worker CPU time (immune to the
    // worker losing its core): the same guest run (fib(24)) with a quantum
    // of 1 block and of the default, on a one-worker scheduler. Includes the
    // cost of entering and leaving `Vm::run_blocks` once per quantum.
    let cpu_per_block = |quantum: u64| {
        let s = Scheduler::new(SchedConfig {
            workers: 1,
            quantum_blocks: quantum,
            ..SchedConfig::default()
        })
        .unwrap();
        let cpu0 = s.metrics().workers[0].cpu_time.unwrap_or_default();
        let r = s.spawn(fib_vcpu(24, quantum)).join();
        let cpu1 = s.metrics().workers[0].cpu_time.unwrap_or_default();
        assert_eq!(r.outcome.exit_code(), Some(46368 % 200));
        (cpu1 - cpu0).as_nanos() as f64 / r.stats.blocks_executed as f64
    };
    let (mut q1, mut qd) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        q1 = q1.min(cpu_per_block(1));
        qd = qd.min(cpu_per_block(DEFAULT_QUANTUM_BLOCKS));
    }
    b.metric("sched_cpu_overhead_ns_per_quantum", q1 - qd);
}
