//! Steady-state speed of AOT code vs JIT code: each workload runs to
//! completion alternately under the JIT and from its AOT image, in one
//! process, and the fastest execution time (total run time minus
//! translation; image loading happens before the run) of each is printed.
//! Alternating runs share whatever noise the machine has.
//! `cargo run --release -p vm-core --example aot_steady_state [ROUNDS] [WORKLOAD...]`

use std::time::Duration;

use vm_core::aot::{build_image, load_image, write_image, BadImagePolicy};
use vm_core::{EngineKind, Vm, VmConfig};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let cfg = VmConfig {
        engine: EngineKind::Jit,
        ..VmConfig::default()
    };
    let mut names: Vec<String> = std::env::args().skip(2).collect();
    if names.is_empty() {
        names = ["fib", "matmul", "qsort", "sieve", "crc32", "strings"]
            .map(String::from)
            .to_vec();
    }
    for name in &names {
        let name = name.as_str();
        let elf_path = format!("{}/guest/bin/{name}.elf", env!("CARGO_MANIFEST_DIR"));
        let elf = std::fs::read(&elf_path).expect("workload ELF");
        let (bytes, _) = build_image(&elf, cfg.max_block_insns).expect("image");
        let path =
            std::env::temp_dir().join(format!("aot-steady-{}-{name}.vmimg", std::process::id()));
        write_image(&path, &bytes).expect("write");
        let args = [name.to_string()];
        let run = |aot: bool| -> Duration {
            let mut vm = Vm::new(
                cfg.clone(),
                Box::new(std::io::sink()),
                Box::new(std::io::sink()),
            )
            .expect("vm");
            vm.load_elf(&elf, &args).expect("elf");
            if aot {
                // SAFETY: the image was written just above from build_image output.
                unsafe { load_image(&mut vm, &path, &elf, BadImagePolicy::Stop) }.expect("image");
            }
            vm.run().expect("run");
            vm.stats().exec_time()
        };
        let (mut jit, mut aot) = (Duration::MAX, Duration::MAX);
        for _ in 0..rounds {
            jit = jit.min(run(false));
            aot = aot.min(run(true));
        }
        println!(
            "{name:8} exec time (min of {rounds}): jit {:8.3} ms, aot {:8.3} ms, aot/jit {:.3}",
            jit.as_secs_f64() * 1e3,
            aot.as_secs_f64() * 1e3,
            aot.as_secs_f64() / jit.as_secs_f64()
        );
        let _ = std::fs::remove_file(&path);
    }
}
