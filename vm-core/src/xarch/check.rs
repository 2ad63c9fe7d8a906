//! Semantic oracles for the translators (tests only):
//!
//! - x86-64 -> AArch64: the translated unit runs under `qemu-aarch64` in
//!   the committed harness ELF; the original x86-64 functions run natively
//!   in this process.
//! - AArch64 -> RV64: the translated unit runs on this crate's own RV64 VM;
//!   the original AArch64 functions run under `qemu-aarch64` (harness
//!   `native` mode).
//!
//! Missing qemu prints a visible SKIP line instead of failing.

use std::process::Command;

use super::inputs::{
    buf_hash, encode_vectors, load_input, vectors, Vector, AARCH64_ELF, BUF_WORDS, FUNCS,
    X86_64_ELF,
};
use super::unit::translate_unit;
use crate::backend::unitgen::UnitCode;
use crate::engine::{EngineKind, Vm, VmConfig, VmError};
use crate::frontend::aarch64::A64Frontend;
use crate::frontend::x86_64::X86Frontend;
use crate::ir::TranslationUnit;
use crate::state::offsets;
use crate::xarch::native::NativeImage;

const HARNESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/guest/xarch/harness_a64.elf");
const SENTINEL: u64 = 0x5e_17e1;
const GUEST_BUF: u64 = 0x30_0000;
const GUEST_STACK_TOP: u64 = 0x3f_f000;

fn qemu_available() -> bool {
    let ok = Command::new("qemu-aarch64")
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        eprintln!("SKIP: qemu-aarch64 not installed; cross-architecture semantic oracle not run");
    }
    ok
}

/// Writes `data` to a fresh file in a private temp dir (atomically).
fn temp_file(dir: &std::path::Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, data).unwrap();
    std::fs::rename(&tmp, &p).unwrap();
    p
}

fn run_harness(args: &[&std::path::Path]) -> Vec<(u64, u64)> {
    let out = Command::new("qemu-aarch64")
        .arg(HARNESS)
        .args(args)
        .output()
        .expect("qemu-aarch64 runs");
    assert!(
        out.status.success(),
        "harness failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            let r = u64::from_str_radix(it.next().unwrap_or("x"), 16);
            let h = u64::from_str_radix(it.next().unwrap_or("x"), 16);
            match (r, h) {
                (Ok(r), Ok(h)) => (r, h),
                _ => panic!("harness reported: {l}"),
            }
        })
        .collect()
}

fn entry_offsets(unit: &TranslationUnit, code: &UnitCode, funcs: &[u64]) -> Vec<u64> {
    funcs
        .iter()
        .map(|pc| {
            let i = unit.entries.iter().position(|e| e.1 == *pc).unwrap();
            code.entries[i] as u64
        })
        .collect()
}

#[test]
fn x86_64_to_aarch64_matches_native_x86_64() {
    let input = load_input(X86_64_ELF).unwrap();
    let unit = translate_unit(&mut X86Frontend::default(), &input.image, &input.symbols).unwrap();
    let code = crate::backend::aarch64::compile(&unit).unwrap();
    let vecs = vectors(48, 0x9e37_79b9_7f4a_7c15);
    let native = NativeImage::new(&input.image).unwrap();
    let expected: Vec<(u64, u64)> = vecs
        .iter()
        .map(|v| {
            let mut buf = v.buf;
            // SAFETY: funcs.c functions have this signature and touch only `buf`.
            let r = unsafe { native.call3(input.funcs[v.func], v.a, v.b, buf.as_mut_ptr() as u64) };
            (r, buf_hash(&buf))
        })
        .collect();
    if !qemu_available() {
        return;
    }
    let mut blob = Vec::new();
    let entries = entry_offsets(&unit, &code, &input.funcs);
    let head = [
        u64::from_le_bytes(*b"XARCHBL1"),
        code.bytes.len() as u64,
        input.image.base,
        input.image.bytes.len() as u64,
        entries.len() as u64,
        7, // rdi
        6, // rsi
        2, // rdx
        0, // rax
        4, // rsp
    ];
    for w in head.iter().chain(entries.iter()) {
        blob.extend_from_slice(&w.to_le_bytes());
    }
    blob.extend_from_slice(&code.bytes);
    blob.extend_from_slice(&input.image.bytes);
    let dir = std::env::temp_dir().join(format!("vm-xarch-x86-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bp = temp_file(&dir, "unit.blob", &blob);
    let vp = temp_file(&dir, "vectors.bin", &encode_vectors(&vecs));
    let got = run_harness(&[std::path::Path::new("blob"), &bp, &vp]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(got.len(), vecs.len());
    for ((v, e), g) in vecs.iter().zip(&expected).zip(&got) {
        assert_eq!(
            e, g,
            "{}({:#x}, {:#x}): native x86-64 vs translated AArch64 (result, buf hash)",
            FUNCS[v.func], v.a, v.b
        );
    }
}

/// Runs a translated RV64 unit on the project's RV64 VM, one call per vector.
pub(crate) struct Rv64Runner {
    vm: Vm,
    entries: Vec<u64>,
}

const RV_CODE: u64 = 0x80_0000;
const RV_STATE: u64 = 0x70_0000;
const RV_STACK: u64 = 0x60_0000;
const RV_RETURN: u64 = 0x90_0000;

impl Rv64Runner {
    pub(crate) fn new(
        unit: &TranslationUnit,
        code: &UnitCode,
        img: &crate::frontend::CodeImage,
        funcs: &[u64],
    ) -> Self {
        let cfg = VmConfig {
            engine: EngineKind::Jit,
            mem_size: 32 << 20,
            ..VmConfig::default()
        };
        let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
        vm.memory_mut().write_bytes(img.base, &img.bytes).unwrap();
        vm.memory_mut().write_bytes(RV_CODE, &code.bytes).unwrap();
        // The unit returns to an ebreak: the VM stops with a breakpoint there.
        vm.memory_mut()
            .write_bytes(RV_RETURN, &0x0010_0073u32.to_le_bytes())
            .unwrap();
        let entries = entry_offsets(unit, code, funcs);
        Self { vm, entries }
    }

    pub(crate) fn call(&mut self, v: &Vector) -> (u64, u64) {
        let mut mem = self.vm.memory_mut();
        let bytes: Vec<u8> = v.buf.iter().flat_map(|w| w.to_le_bytes()).collect();
        mem.write_bytes(GUEST_BUF, &bytes).unwrap();
        let mut st = [0u64; 80];
        st[0] = v.a;
        st[1] = v.b;
        st[2] = GUEST_BUF;
        st[30] = SENTINEL;
        st[31] = GUEST_STACK_TOP;
        let sb: Vec<u8> = st.iter().flat_map(|w| w.to_le_bytes()).collect();
        mem.write_bytes(RV_STATE, &sb).unwrap();
        let cpu = self.vm.cpu_mut();
        cpu.globals[10] = RV_STATE;
        cpu.globals[11] = 0;
        cpu.globals[2] = RV_STACK;
        cpu.globals[1] = RV_RETURN;
        cpu.pc = RV_CODE + self.entries[v.func];
        match self.vm.run() {
            Err(VmError::Breakpoint { pc }) if pc == RV_RETURN => {}
            other => panic!("translated RV64 code did not return: {other:?}"),
        }
        assert_eq!(
            self.vm.cpu().globals[10],
            crate::backend::exit_code::INDIRECT
        );
        let mem = self.vm.memory();
        let pc = mem.load(RV_STATE + offsets::PC as u64, 8).unwrap();
        assert_eq!(pc, SENTINEL, "left the unit at an unexpected pc");
        let r = mem.load(RV_STATE, 8).unwrap();
        let mut buf = [0u64; BUF_WORDS];
        for (i, w) in buf.iter_mut().enumerate() {
            *w = mem.load(GUEST_BUF + 8 * i as u64, 8).unwrap();
        }
        (r, buf_hash(&buf))
    }
}

#[test]
fn aarch64_to_rv64_on_own_vm_matches_aarch64_under_qemu() {
    let input = load_input(AARCH64_ELF).unwrap();
    let unit = translate_unit(&mut A64Frontend::default(), &input.image, &input.symbols).unwrap();
    let code = crate::backend::riscv64::compile(&unit).unwrap();
    let vecs = vectors(48, 0x2545_f491_4f6c_dd1d);
    let mut rv = Rv64Runner::new(&unit, &code, &input.image, &input.funcs);
    let got: Vec<(u64, u64)> = vecs.iter().map(|v| rv.call(v)).collect();
    if !qemu_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vm-xarch-a64-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vp = temp_file(&dir, "vectors.bin", &encode_vectors(&vecs));
    let expected = run_harness(&[std::path::Path::new("native"), &vp]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(expected.len(), vecs.len());
    for ((v, e), g) in vecs.iter().zip(&expected).zip(&got) {
        assert_eq!(
            e, g,
            "{}({:#x}, {:#x}): AArch64 under qemu vs translated RV64 on the VM (result, buf hash)",
            FUNCS[v.func], v.a, v.b
        );
    }
}

/// Every instruction of both translated committed units decodes with
/// binutils (no undefined words anywhere in the emitted code).
#[test]
fn whole_units_disassemble_cleanly() {
    use crate::backend::unitgen::objdump::disassemble;
    let x = load_input(X86_64_ELF).unwrap();
    let unit = translate_unit(&mut X86Frontend::default(), &x.image, &x.symbols).unwrap();
    let code = crate::backend::aarch64::compile(&unit).unwrap();
    let words: Vec<u32> = code.bytes[..code.code_len]
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(lines) = disassemble("aarch64-linux-gnu-objdump", "aarch64", &words) {
        assert_eq!(lines.len(), words.len());
        for (w, l) in words.iter().zip(&lines) {
            assert!(
                !l.starts_with(".inst") && !l.starts_with("udf") && !l.contains("unknown"),
                "{w:#010x}: {l}"
            );
        }
    }
    let a = load_input(AARCH64_ELF).unwrap();
    let unit = translate_unit(&mut A64Frontend::default(), &a.image, &a.symbols).unwrap();
    let code = crate::backend::riscv64::compile(&unit).unwrap();
    let words: Vec<u32> = code.bytes[..code.code_len]
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // Also decodable by this crate's own RV64 decoder (what the VM runs).
    for w in &words {
        crate::frontend::riscv::decode(*w).unwrap();
    }
    if let Some(lines) = disassemble("riscv64-linux-gnu-objdump", "riscv:rv64", &words) {
        assert_eq!(lines.len(), words.len());
        for (w, l) in words.iter().zip(&lines) {
            assert!(
                !l.starts_with(".") && !l.contains("unknown"),
                "{w:#010x}: {l}"
            );
        }
    }
}

/// Reference semantics of one operation block.
type RefOp = Box<dyn Fn(u64, u64) -> u64>;

/// One IR operation per block: `globals[0] = op(globals[0], globals[1])`,
/// then a computed jump to the return sentinel. The unit covers every
/// binary op, every comparison, both extensions and a block whose live
/// values outnumber the registers (spills).
fn op_unit() -> (TranslationUnit, Vec<(String, u64)>, Vec<RefOp>) {
    use crate::ir::dense::{mark_dead_and_last_use, UnitBuilder};
    use crate::ir::BlockIndex;
    use crate::ir::{BinOp, Cond, Terminator, UnOp, UnitBlock};
    let bins = crate::ir::dense::BIN_OPS;
    let conds = [Cond::Eq, Cond::Ne, Cond::Lt, Cond::Ge, Cond::Ltu, Cond::Geu];
    let mut blocks = Vec::new();
    let mut refs: Vec<RefOp> = Vec::new();
    let mut ops = crate::ir::dense::UnitOps::default();
    let mut last_use = Vec::new();
    let mut last_use_base = Vec::new();
    let mut emit = |f: &dyn Fn(&mut UnitBuilder, u32, u32) -> u32| {
        let mut b = UnitBuilder::new();
        let (start, consts_start) = (ops.ops.len(), ops.consts.len());
        b.reset(std::mem::take(&mut ops));
        let x = b.get(0);
        let y = b.get(1);
        let r = f(&mut b, x, y);
        b.set(0, r);
        let s = b.constant(SENTINEL);
        let pc = 0x1000 + 0x10 * blocks.len() as u64;
        let num_temps = b.num_temps();
        ops = b.take();
        let term = Terminator::JumpIndirect(s);
        let base = last_use.len();
        last_use_base.push(base);
        last_use.resize(base + num_temps as usize, 0);
        mark_dead_and_last_use(&mut ops.ops[start..], &term, &mut last_use[base..]);
        blocks.push(UnitBlock {
            pc,
            insn_count: 1,
            num_temps,
            start: start as u32,
            end: ops.ops.len() as u32,
            consts_start: consts_start as u32,
            consts_end: ops.consts.len() as u32,
            term,
        });
    };
    for op in bins {
        emit(&|b, x, y| b.bin(op, x, y));
        refs.push(Box::new(move |a, c| op.eval(a, c)));
        // The same with a constant right operand (immediate forms).
        for k in [1u64, 7, 63, 4095, 4096, u64::MAX] {
            emit(&|b, x, _| {
                let c = b.constant(k);
                b.bin(op, x, c)
            });
            refs.push(Box::new(move |a, _| op.eval(a, k)));
        }
    }
    // The 32-bit forms (BIN32: the result's low 32 bits zero-extended),
    // with register and constant right operands (the A64 `w` forms and
    // immediates: add/sub either sign, masks up to and beyond 32 bits).
    for op in bins {
        emit(&|b, x, y| b.bin32(op, x, y));
        refs.push(Box::new(move |a, c| op.eval(a, c) as u32 as u64));
        for k in [
            1u64,
            31,
            63,
            4095,
            4096,
            0xffff_ffff,
            0x1_ffff_ffff,
            (-5i64) as u64,
            u64::MAX,
        ] {
            emit(&|b, x, _| {
                let c = b.constant(k);
                b.bin32(op, x, c)
            });
            refs.push(Box::new(move |a, _| op.eval(a, k) as u32 as u64));
        }
    }
    for cond in conds {
        emit(&|b, x, y| b.setcond(cond, x, y));
        refs.push(Box::new(move |a, c| cond.eval(a, c) as u64));
    }
    for op in [UnOp::Sext32, UnOp::Zext32] {
        emit(&|b, x, _| b.un(op, x));
        refs.push(Box::new(move |a, _| op.eval(a)));
    }
    // Register pressure: 24 values live at once (more than either host's
    // pool), so the allocator spills and reloads.
    const LIVE: u64 = 24;
    let k = |i: u64| i.wrapping_mul(0x9e37_79b9) | 1;
    emit(&|b, x, y| {
        let ts: Vec<u32> = (0..LIVE)
            .map(|i| {
                let c = b.constant(k(i));
                let t = b.bin(BinOp::Mul, x, c);
                b.bin(BinOp::Add, t, y)
            })
            .collect();
        ts.iter()
            .skip(1)
            .fold(ts[0], |acc, &t| b.bin(BinOp::Xor, acc, t))
    });
    refs.push(Box::new(move |a, c| {
        (0..LIVE).fold(0, |acc, i| acc ^ a.wrapping_mul(k(i)).wrapping_add(c))
    }));
    let mut index = BlockIndex::default();
    index.reset(0x1000, 0x10 * blocks.len());
    let mut entries = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        index.insert(b.pc, i);
        entries.push((format!("op{i}"), b.pc));
    }
    let n = blocks.len() as u64;
    let unit = TranslationUnit {
        blocks,
        ops: ops.ops,
        consts: ops.consts,
        index,
        entries: entries.clone(),
        guest_insns: n,
        indirect_targets: (0..n as usize).collect(),
        last_use,
        last_use_base,
    };
    (unit, entries, refs)
}

fn op_vectors(nops: usize) -> Vec<Vector> {
    const V: [u64; 14] = [
        0,
        1,
        2,
        7,
        63,
        64,
        65,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        i64::MAX as u64,
        i64::MIN as u64,
        u64::MAX,
        0x1234_5678_9abc_def0,
    ];
    let mut out = Vec::new();
    for func in 0..nops {
        for &a in &V {
            for &b in &V {
                out.push(Vector {
                    func,
                    a,
                    b,
                    buf: [0; BUF_WORDS],
                });
            }
        }
    }
    out
}

/// Every IR operation (register and immediate operands, edge values)
/// compiled by the RV64 backend and run on the VM, against `BinOp::eval`
/// and friends (the IR's reference semantics).
#[test]
fn rv64_backend_ops_match_ir_semantics_on_the_vm() {
    let (unit, entries, refs) = op_unit();
    let code = crate::backend::riscv64::compile(&unit).unwrap();
    // The register-pressure block really spills: some `sd xN, off(sp)`.
    let spills = code.bytes[..code.code_len]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .filter(|w| w & 0x7f == 0x23 && (w >> 12) & 7 == 3 && (w >> 15) & 31 == 2)
        .count();
    assert!(spills > 0, "no spill emitted");
    let img = crate::frontend::CodeImage {
        base: 0x1000,
        bytes: vec![0; 16],
    };
    let pcs: Vec<u64> = entries.iter().map(|e| e.1).collect();
    let mut rv = Rv64Runner::new(&unit, &code, &img, &pcs);
    for v in op_vectors(refs.len()) {
        let (got, _) = rv.call(&v);
        assert_eq!(
            got,
            refs[v.func](v.a, v.b),
            "op {} ({:#x}, {:#x})",
            v.func,
            v.a,
            v.b
        );
    }
}

/// The same for the AArch64 backend, run under qemu-aarch64.
#[test]
fn aarch64_backend_ops_match_ir_semantics_under_qemu() {
    let (unit, entries, refs) = op_unit();
    let code = crate::backend::aarch64::compile(&unit).unwrap();
    if !qemu_available() {
        return;
    }
    let pcs: Vec<u64> = entries.iter().map(|e| e.1).collect();
    let offs = entry_offsets(&unit, &code, &pcs);
    let image = [0u8; 16];
    let head = [
        u64::from_le_bytes(*b"XARCHBL1"),
        code.bytes.len() as u64,
        0x1000,
        image.len() as u64,
        offs.len() as u64,
        0, // a -> global 0
        1, // b -> global 1
        2, // buffer -> global 2
        0, // result <- global 0
        4, // stack pointer -> global 4 (unused)
    ];
    let mut blob = Vec::new();
    for w in head.iter().chain(offs.iter()) {
        blob.extend_from_slice(&w.to_le_bytes());
    }
    blob.extend_from_slice(&code.bytes);
    blob.extend_from_slice(&image);
    let vecs = op_vectors(refs.len());
    let dir = std::env::temp_dir().join(format!("vm-xarch-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bp = temp_file(&dir, "ops.blob", &blob);
    let vp = temp_file(&dir, "vectors.bin", &encode_vectors(&vecs));
    let got = run_harness(&[std::path::Path::new("blob"), &bp, &vp]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(got.len(), vecs.len());
    for (v, (r, _)) in vecs.iter().zip(&got) {
        assert_eq!(
            *r,
            refs[v.func](v.a, v.b),
            "op {} ({:#x}, {:#x})",
            v.func,
            v.a,
            v.b
        );
    }
}
