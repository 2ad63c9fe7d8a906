// Safe code cannot point the JIT at another host address through the
// guest-state accessor: it only has guest registers, pc and icount.
use vm_core::{Vm, VmConfig};

fn main() {
    let mut vm = Vm::new(
        VmConfig::default(),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
    )
    .unwrap();
    vm.cpu_mut().mem_base = 0x10;
    vm.cpu_mut().jmp_cache = 0;
    vm.cpu_mut().tlb_miss_fn = 0;
}
