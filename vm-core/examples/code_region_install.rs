//! What installing a block and patching a chained jump cost in the JIT's
//! code region: the dual-mapped memfd (a copy into the writable view)
//! against the per-write `mprotect` flip it replaced. Thread CPU time.
//!
//! `cargo run --release -p vm-core --example code_region_install`

use vm_core::backend::x86_64::ExecMemory;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() {
    // About the size of a compiled block of the committed workloads.
    let code = vec![0xc3u8; 200];
    let n = 20_000;
    for (name, mem) in [
        ("mprotect flip", ExecMemory::new_flipping(64 << 20)),
        ("dual mapping ", ExecMemory::new(64 << 20)),
    ] {
        let mut m = mem.expect("executable memory");
        let t = thread_cpu_ns();
        for _ in 0..n {
            m.append(&code).expect("region holds every block");
        }
        let install = (thread_cpu_ns() - t) as f64 / n as f64;
        let at = m.next_addr() - 16 * 13;
        let t = thread_cpu_ns();
        for i in 0..n {
            m.patch(at + i % 8, &[0xc3; 4]).expect("inside used code");
        }
        let patch = (thread_cpu_ns() - t) as f64 / n as f64;
        println!("{name}: install a 200-byte block {install:.0} ns, patch a rel32 {patch:.0} ns");
    }
}
