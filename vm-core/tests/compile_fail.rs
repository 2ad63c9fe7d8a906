//! User code cannot reach the host context of a VM: the CPU state's host
//! pointers, the guest memory the CPU points into, or the MMU whose TLB
//! holds host addresses. Each file in `tests/ui` must fail to compile with
//! the error recorded next to it.

#[test]
fn host_context_is_unreachable_from_safe_code() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
