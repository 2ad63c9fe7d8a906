//! Prints the phase split of loading the largest workload's AOT image
//! (map, validate, install), averaged over many fresh VMs:
//! `cargo run --release -p vm-core --example aot_load_profile`.

use std::time::Duration;

use vm_core::aot::{build_image, load_image, write_image, BadImagePolicy};
use vm_core::{EngineKind, Vm, VmConfig};

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "fib".into());
    let elf_path = format!("{}/guest/bin/{name}.elf", env!("CARGO_MANIFEST_DIR"));
    let elf = std::fs::read(&elf_path).expect("workload ELF");
    let cfg = VmConfig {
        engine: EngineKind::Jit,
        mem_size: 32 << 20,
        code_cache_bytes: 4 << 20,
        ..VmConfig::default()
    };
    let (bytes, _) = build_image(&elf, cfg.max_block_insns).expect("image");
    let path = std::env::temp_dir().join(format!("aot-load-profile-{}.vmimg", std::process::id()));
    write_image(&path, &bytes).expect("write");
    let rounds = 2000u32;
    let (mut map, mut val, mut inst) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let mut vm = Vm::new(
            cfg.clone(),
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        )
        .expect("vm");
        vm.load_elf(&elf, std::slice::from_ref(&name)).expect("elf");
        // SAFETY: the image was written just above from build_image output.
        let l = unsafe { load_image(&mut vm, &path, &elf, BadImagePolicy::Stop) }.expect("load");
        map += l.map_time;
        val += l.validate_time;
        inst += l.install_time;
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6 / rounds as f64;
    println!(
        "{name}: image {} bytes, ELF {} bytes: map {:.1} us, validate {:.1} us, install {:.1} us, total {:.1} us",
        bytes.len(),
        elf.len(),
        us(map),
        us(val),
        us(inst),
        us(map + val + inst)
    );
    let _ = std::fs::remove_file(&path);
}
