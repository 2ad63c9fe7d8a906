//! Any byte string given to the ELF loader yields an image or a typed
//! error, never a panic; a loaded image can be set up to run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vm_core::{EngineKind, Vm, VmConfig};

fuzz_target!(|data: &[u8]| {
    let cfg = VmConfig {
        engine: EngineKind::Interp,
        mem_size: 16 << 20,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    if vm.load_elf(data, &["fuzz".to_string()]).is_ok() {
        // Run a few blocks: whatever the image holds must end in a guest
        // error or a quantum, never a host crash.
        let _ = vm.run_blocks(64);
    }
});
