// The MMU's TLB holds host addresses into the VM's memory: safe code gets
// it shared (statistics, configuration), never mutably (it could swap it
// with another VM's MMU).
use vm_core::{MmuConfig, Vm, VmConfig};

fn main() {
    let cfg = VmConfig {
        mmu: Some(MmuConfig::default()),
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    let _ = vm.mmu_mut();
}
