//! Async execution engine: one guest vCPU as a coroutine.
//!
//! A [`Vcpu`] owns a [`Vm`] (one guest program instance) and runs it a
//! quantum of guest blocks at a time through [`Vm::run_blocks`], the VM's
//! time-slicing contract. The same `Vcpu` can be driven two ways over the
//! identical guest state:
//!
//! - synchronously: [`Vcpu::run_quantum`] / [`Vcpu::run_sync`];
//! - asynchronously: [`Vcpu::run`] is a future that runs one quantum per
//!   poll and then yields to whatever executor polls it (the [`crate::sched`]
//!   scheduler, or [`block_on`]), and [`Vcpu::run_quantum_async`] is one
//!   quantum followed by one yield.
//!
//! Between quanta the coroutine consults its [`VcpuControl`]: cancellation,
//! and a run-credit gate that lets a VMM pause a vCPU and resume it (the
//! scheduling-latency benchmark measures resume-to-run through this gate).
//! Only the public `Vm` API is used, so memory-path changes (MMU/TLB) inside
//! the VM do not affect this module.

mod block_on;
mod control;

pub use block_on::block_on;
pub use control::VcpuControl;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use thiserror::Error;

use crate::engine::{RunOutcome, Stats, Vm, VmError};

/// Default quantum in guest blocks. Chained JIT blocks of the fib workload
/// take about 1.8 ns each (measured by `verify_async_overhead`), so this is
/// a slice of about 7 us of compiled code (interpreted blocks are slower,
/// so their slice is longer): long enough that the scheduler's ~0.2 us per
/// quantum is a few percent, short enough that a woken vCPU waits only
/// microseconds behind a running one.
pub const DEFAULT_QUANTUM_BLOCKS: u64 = 4096;

/// Invalid vCPU parameters.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ExecError {
    /// A quantum of zero blocks would never make progress.
    #[error("quantum must be at least one block")]
    ZeroQuantum,
}

/// How a vCPU coroutine ended.
#[derive(Debug)]
pub enum VcpuOutcome {
    /// The guest called exit with this status.
    Exited(i32),
    /// The guest faulted (memory fault, illegal instruction, budget, ...).
    /// Only this vCPU stops.
    Faulted(VmError),
    /// Cancelled through [`VcpuControl::cancel`] (or scheduler shutdown)
    /// at a quantum boundary.
    Cancelled,
    /// The host code running this vCPU panicked; the panic was contained.
    Panicked(String),
}

impl VcpuOutcome {
    /// The exit status, if the guest exited.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            VcpuOutcome::Exited(c) => Some(*c),
            _ => None,
        }
    }
}

/// Final report of a vCPU: how it ended, its VM statistics, and the VM.
pub struct VcpuReport {
    /// vCPU id.
    pub id: u64,
    /// How it ended.
    pub outcome: VcpuOutcome,
    /// VM statistics at the end (default if the vCPU panicked, since its
    /// VM was lost with the unwound coroutine).
    pub stats: Stats,
    /// Quanta started.
    pub quanta: u64,
    /// The guest VM in its final state (None after a panic). Handing it
    /// back lets the caller inspect guest memory and registers, and moves
    /// the VM's teardown (unmapping guest memory and code) off the
    /// scheduler's workers to whoever drops the report.
    pub vm: Option<Vm>,
}

impl std::fmt::Debug for VcpuReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcpuReport")
            .field("id", &self.id)
            .field("outcome", &self.outcome)
            .field("stats", &self.stats)
            .field("quanta", &self.quanta)
            .field("vm", &self.vm.as_ref().map(|_| "Vm"))
            .finish()
    }
}

/// One guest vCPU: a VM plus its time slice and control block.
pub struct Vcpu {
    id: u64,
    vm: Vm,
    quantum: u64,
    control: Arc<VcpuControl>,
}

impl Vcpu {
    /// Wraps a loaded VM as vCPU `id` running `quantum` blocks per slice.
    pub fn new(id: u64, vm: Vm, quantum: u64) -> Result<Self, ExecError> {
        if quantum == 0 {
            return Err(ExecError::ZeroQuantum);
        }
        Ok(Self {
            id,
            vm,
            quantum,
            control: Arc::new(VcpuControl::new()),
        })
    }

    /// The vCPU id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Blocks per quantum.
    pub fn quantum(&self) -> u64 {
        self.quantum
    }

    /// The control block (shared with handles).
    pub fn control(&self) -> &Arc<VcpuControl> {
        &self.control
    }

    /// The guest VM.
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// The guest VM, mutably.
    pub fn vm_mut(&mut self) -> &mut Vm {
        &mut self.vm
    }

    /// Runs one quantum synchronously.
    #[inline]
    pub fn run_quantum(&mut self) -> Result<RunOutcome, VmError> {
        // `&mut self`: this is the only writer, so no locked add is needed.
        let q = &self.control.quanta;
        q.store(q.load(Ordering::Relaxed) + 1, Ordering::Release);
        self.vm.run_blocks(self.quantum)
    }

    /// One quantum, then one yield to the executor: the async path of
    /// [`Vcpu::run_quantum`] on the same state. Resolves to the quantum's result.
    pub fn run_quantum_async(&mut self) -> QuantumFuture<'_> {
        QuantumFuture {
            vcpu: self,
            result: None,
        }
    }

    /// Runs to the end on the calling thread (cancellation is honoured at
    /// quantum boundaries; a paused vCPU is not waited for here).
    pub fn run_sync(mut self) -> VcpuReport {
        let outcome = loop {
            if self.control.is_cancelled() {
                break VcpuOutcome::Cancelled;
            }
            match self.run_quantum() {
                Ok(RunOutcome::Exited(c)) => break VcpuOutcome::Exited(c),
                Ok(RunOutcome::QuantumExpired) => {}
                Err(e) => break VcpuOutcome::Faulted(e),
            }
        };
        self.report(outcome)
    }

    /// The vCPU coroutine: each poll checks cancellation and run credit
    /// (pause/resume), runs one quantum, and yields (wakes itself and
    /// returns `Pending`), so an executor can time-slice many vCPUs on few
    /// threads. A hand-written future rather than an `async fn`: the state
    /// is just the vCPU (an `async fn` kept the moved-in argument and the
    /// loop's copy side by side, twice the size to move at every spawn),
    /// and it is `Unpin`, so the scheduler stores it inline in its task.
    pub fn run(self) -> VcpuRun {
        VcpuRun { vcpu: Some(self) }
    }

    fn report(self, outcome: VcpuOutcome) -> VcpuReport {
        VcpuReport {
            id: self.id,
            outcome,
            stats: self.vm.stats(),
            quanta: self.control.quanta(),
            vm: Some(self.vm),
        }
    }
}

/// Future of [`Vcpu::run`]: the vCPU coroutine.
pub struct VcpuRun {
    vcpu: Option<Vcpu>,
}

impl VcpuRun {
    /// The vCPU's control block (None once the coroutine has finished).
    pub fn control(&self) -> Option<&Arc<VcpuControl>> {
        self.vcpu.as_ref().map(|v| &v.control)
    }
}

impl Future for VcpuRun {
    type Output = VcpuReport;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<VcpuReport> {
        let this = self.get_mut();
        let vcpu = this
            .vcpu
            .as_mut()
            .expect("VcpuRun polled after it completed");
        let outcome = match vcpu.control.poll_run_credit(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(false) => VcpuOutcome::Cancelled,
            Poll::Ready(true) => match vcpu.run_quantum() {
                Ok(RunOutcome::QuantumExpired) => {
                    // End of the time slice: requeue behind the others.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Ok(RunOutcome::Exited(c)) => VcpuOutcome::Exited(c),
                Err(e) => VcpuOutcome::Faulted(e),
            },
        };
        let vcpu = this.vcpu.take().expect("checked above");
        Poll::Ready(vcpu.report(outcome))
    }
}

/// Future of [`Vcpu::run_quantum_async`].
pub struct QuantumFuture<'a> {
    vcpu: &'a mut Vcpu,
    result: Option<Result<RunOutcome, VmError>>,
}

impl Future for QuantumFuture<'_> {
    type Output = Result<RunOutcome, VmError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                this.result = Some(this.vcpu.run_quantum());
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::{EngineKind, VmConfig};
    use crate::frontend::riscv::{encode, Inst, Op};

    /// Committed guest program `name` from vm-core/guest/bin.
    pub(crate) fn guest_elf(name: &str) -> Vec<u8> {
        let p =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("guest/bin/{name}.elf"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub(crate) fn small_cfg(engine: EngineKind) -> VmConfig {
        VmConfig {
            engine,
            mem_size: 32 << 20,
            code_cache_bytes: 4 << 20,
            ..VmConfig::default()
        }
    }

    /// A VM running `fib(n)` (exit status fib(n) % 200).
    pub(crate) fn fib_vm(n: u32, engine: EngineKind) -> Vm {
        let mut vm = Vm::new(
            small_cfg(engine),
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        )
        .unwrap();
        vm.load_elf(&guest_elf("fib"), &["fib".into(), n.to_string()])
            .unwrap();
        vm
    }

    pub(crate) fn fib(n: u64) -> u64 {
        if n < 2 {
            n
        } else {
            fib(n - 1) + fib(n - 2)
        }
    }

    /// A VM whose first instruction loads from an address outside guest memory.
    pub(crate) fn faulting_vm() -> Vm {
        let mut vm = Vm::new(
            small_cfg(EngineKind::Interp),
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        )
        .unwrap();
        // ld a0, -8(zero): address 2^64 - 8.
        let ld = encode(&Inst {
            op: Op::Ld,
            rd: 10,
            rs1: 0,
            rs2: 0,
            imm: -8,
            rs3: 0,
            rm: 0,
            len: 4,
        });
        vm.memory_mut()
            .write_bytes(0x10000, &ld.to_le_bytes())
            .unwrap();
        vm.cpu_mut().pc = 0x10000;
        vm
    }

    #[test]
    fn zero_quantum_is_rejected() {
        let r = Vcpu::new(0, fib_vm(5, EngineKind::Interp), 0);
        assert_eq!(r.err(), Some(ExecError::ZeroQuantum));
    }

    #[test]
    fn sync_and_async_paths_do_identical_guest_work() {
        for engine in [EngineKind::Interp, EngineKind::Jit, EngineKind::Tiered] {
            let sync = Vcpu::new(1, fib_vm(15, engine), 64).unwrap().run_sync();
            let asyn = block_on(Vcpu::new(2, fib_vm(15, engine), 64).unwrap().run());
            let want = (fib(15) % 200) as i32;
            assert_eq!(sync.outcome.exit_code(), Some(want), "{engine:?}");
            assert_eq!(asyn.outcome.exit_code(), Some(want), "{engine:?}");
            assert_eq!(
                sync.stats.insns_executed, asyn.stats.insns_executed,
                "{engine:?}"
            );
            assert_eq!(sync.quanta, asyn.quanta, "{engine:?}");
            assert!(sync.quanta > 1, "several quanta: {}", sync.quanta);
        }
    }

    #[test]
    fn quantum_future_yields_once_and_returns_the_quantum_result() {
        let mut v = Vcpu::new(0, fib_vm(20, EngineKind::Interp), 10).unwrap();
        let r = block_on(v.run_quantum_async()).unwrap();
        assert_eq!(r, RunOutcome::QuantumExpired);
        assert_eq!(v.vm().stats().blocks_executed, 10);
        // Interleaving both paths on the same state keeps counting blocks.
        v.run_quantum().unwrap();
        block_on(v.run_quantum_async()).unwrap();
        assert_eq!(v.vm().stats().blocks_executed, 30);
    }

    #[test]
    fn fault_becomes_an_outcome() {
        let r = Vcpu::new(3, faulting_vm(), 16).unwrap().run_sync();
        assert!(
            matches!(r.outcome, VcpuOutcome::Faulted(VmError::MemFault { .. })),
            "{:?}",
            r.outcome
        );
        let r = block_on(Vcpu::new(4, faulting_vm(), 16).unwrap().run());
        assert!(matches!(r.outcome, VcpuOutcome::Faulted(_)));
    }

    #[test]
    fn cancelled_before_start_runs_no_guest_code() {
        let v = Vcpu::new(5, fib_vm(20, EngineKind::Interp), 16).unwrap();
        v.control().cancel();
        let r = block_on(v.run());
        assert!(matches!(r.outcome, VcpuOutcome::Cancelled));
        assert_eq!(r.stats.insns_executed, 0);
        assert_eq!(r.quanta, 0);
    }
}
