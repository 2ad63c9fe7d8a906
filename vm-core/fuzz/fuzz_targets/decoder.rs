//! Decoding arbitrary words never panics, decoded instructions re-encode to
//! an equivalent instruction, and interpreter and JIT agree on a block made
//! of the fuzzed words.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vm_core::{EngineKind, Vm, VmConfig};
use vm_core::riscv::{decode, encode};

fn run(kind: EngineKind, code: &[u8]) -> (Vec<u64>, u64, String) {
    let cfg = VmConfig {
        engine: kind,
        mem_size: 16 << 20,
        code_cache_bytes: 1 << 20,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    vm.memory_mut().write_bytes(0x10000, code).unwrap();
    for (i, r) in vm.cpu_mut().globals[1..32].iter_mut().enumerate() {
        *r = 0x20000 + 8 * i as u64;
    }
    vm.cpu_mut().pc = 0x10000;
    let r = format!("{:?}", vm.run_blocks(4).map_err(|e| e.to_string()));
    (vm.cpu().globals[..32].to_vec(), vm.cpu().pc, r)
}

fuzz_target!(|data: &[u8]| {
    for w in data.chunks_exact(4) {
        let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        if let Ok(inst) = decode(word) {
            assert_eq!(decode(encode(&inst)), Ok(inst), "{word:#010x}");
        }
    }
    if data.len() >= 4 && data.len() <= 256 {
        assert_eq!(run(EngineKind::Interp, data), run(EngineKind::Jit, data));
    }
});
