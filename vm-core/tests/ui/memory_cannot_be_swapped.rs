// The CPU state points into the VM's guest memory: safe code must not be
// able to replace or swap that memory. `memory_mut` gives a write handle,
// not the memory itself.
use vm_core::{GuestMemory, Vm, VmConfig};

fn main() {
    let mut a = Vm::new(
        VmConfig::default(),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
    )
    .unwrap();
    let mem: &mut GuestMemory = &mut a.memory_mut();
    std::mem::swap(mem, &mut GuestMemory::new(1 << 20).unwrap());
}
