//! Any byte string given to the AOT image validator yields a validated
//! view or a typed rejection, never a panic; whatever validates can be
//! installed into a fresh VM (relocated and entered into the block cache)
//! without a panic. Inputs whose first byte is odd get a correct checksum
//! first, so the fuzzer also reaches every check behind the CRC.
//! Seed corpus: `vm aot guest/bin/fib.elf -o corpus/aot_image/fib.vmimg`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vm_core::aot::format::{self, Expectation, TRAILER_LEN};
use vm_core::aot::{build_info, hash};
use vm_core::{EngineKind, Vm, VmConfig};

const ELF: &[u8] = include_bytes!("../../guest/bin/fib.elf");

fn expectation() -> &'static Expectation {
    static E: OnceLock<Expectation> = OnceLock::new();
    E.get_or_init(|| Expectation::for_elf(build_info(VmConfig::default().max_block_insns), ELF))
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.first().is_some_and(|b| b & 1 == 1) && bytes.len() >= TRAILER_LEN {
        let n = bytes.len() - TRAILER_LEN;
        let crc = hash::crc32c(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
    }
    if let Ok(view) = format::validate(&bytes, expectation()) {
        let cfg = VmConfig {
            engine: EngineKind::Jit,
            mem_size: 16 << 20,
            code_cache_bytes: 1 << 20,
            ..VmConfig::default()
        };
        let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
        vm.load_elf(ELF, &["fib".to_string()]).unwrap();
        // Installed code is not run: a crafted image with a valid checksum
        // is arbitrary machine code (integrity checks are not signatures).
        let _ = vm.install_aot_image(&view);
    }
});
