//! End-to-end tests of the AOT path: every workload gives the interpreter's
//! output from an image, and damaged or mismatched images are rejected at
//! every byte offset, before anything reaches executable memory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::format::{self, Expectation, ImageCheck};
use super::hash::crc32c;
use super::*;
use crate::engine::{EngineKind, Vm, VmConfig};

const WORKLOADS: [&str; 7] = ["sieve", "matmul", "qsort", "crc32", "fib", "strings", "smc"];

fn workload(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("guest/bin/{name}.elf"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn new_vm(engine: EngineKind, out: &Captured) -> Vm {
    let cfg = VmConfig {
        engine,
        ..VmConfig::default()
    };
    Vm::new(cfg, Box::new(out.clone()), Box::new(std::io::sink())).unwrap()
}

/// A unique scratch directory per test.
fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vm-aot-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn expectation(elf: &[u8]) -> Expectation {
    Expectation::for_elf(build_info(VmConfig::default().max_block_insns), elf)
}

fn image(elf: &[u8]) -> Vec<u8> {
    build_image(elf, VmConfig::default().max_block_insns)
        .unwrap()
        .0
}

/// Re-seals a modified image with a correct checksum, to reach the checks
/// behind the checksum.
fn reseal(img: &mut [u8]) {
    let n = img.len() - format::TRAILER_LEN;
    let c = crc32c(&img[..n]);
    img[n..].copy_from_slice(&c.to_le_bytes());
}

#[test]
fn every_workload_matches_the_interpreter_under_aot() {
    let dir = scratch_dir("workloads");
    for name in WORKLOADS {
        let elf = workload(name);
        let args = [name.to_string()];
        let interp_out = Captured::default();
        let mut vm = new_vm(EngineKind::Interp, &interp_out);
        vm.load_elf(&elf, &args).unwrap();
        let interp_exit = vm.run().unwrap();

        let path = dir.join(format!("{name}.vmimg"));
        write_image(&path, &image(&elf)).unwrap();
        let aot_out = Captured::default();
        let mut vm = new_vm(EngineKind::Jit, &aot_out);
        vm.load_elf(&elf, &args).unwrap();
        // SAFETY: the image file was written by this test from build_image output (or is a deliberately damaged copy the checks must reject).
        let load = unsafe { load_image(&mut vm, &path, &elf, BadImagePolicy::Stop) }.unwrap();
        let inst = load.installed.expect("installed");
        assert!(inst.blocks > 20, "{name}: {inst:?}");
        let aot_exit = vm.run().unwrap();
        assert_eq!(aot_exit, interp_exit, "{name}: exit status");
        assert_eq!(
            *aot_out.0.lock().unwrap(),
            *interp_out.0.lock().unwrap(),
            "{name}: stdout"
        );
        if name == "smc" {
            // Rewritten code invalidated image blocks; the JIT (or the
            // interpreter, for thrashing pages) took over.
            assert!(vm.stats().invalidations > 0, "{name}");
        } else {
            // Everything reachable was found ahead of time: the JIT had
            // nothing left to compile.
            assert_eq!(vm.stats().blocks_compiled, 0, "{name}");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn aot_without_chaining_still_matches() {
    let elf = workload("qsort");
    let img = image(&elf);
    let expect = expectation(&elf);
    let view = format::validate(&img, &expect).unwrap();
    let out = Captured::default();
    let cfg = VmConfig {
        chaining: false,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(out.clone()), Box::new(std::io::sink())).unwrap();
    vm.load_elf(&elf, &["qsort".into()]).unwrap();
    let inst = vm.install_aot_image(&view).unwrap();
    assert_eq!(inst.prelinked, 0);
    let code = vm.run().unwrap();
    let expected =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/expected/qsort.stdout"))
            .unwrap();
    assert_eq!(*out.0.lock().unwrap(), expected);
    assert_eq!(code, 22);
}

#[test]
fn every_single_byte_flip_is_rejected() {
    let elf = workload("smc");
    let img = image(&elf);
    let expect = expectation(&elf);
    assert!(format::validate(&img, &expect).is_ok());
    let mut bad = img.clone();
    for i in 0..img.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            bad[i] ^= flip;
            let r = format::validate(&bad, &expect);
            assert!(r.is_err(), "flip {flip:#x} at byte {i} accepted");
            bad[i] = img[i];
        }
    }
}

#[test]
fn every_truncation_is_rejected() {
    let elf = workload("smc");
    let img = image(&elf);
    let expect = expectation(&elf);
    for len in 0..img.len() {
        let r = format::validate(&img[..len], &expect);
        let check = r.err().map(|e| e.check);
        assert_eq!(check, Some(ImageCheck::Truncated), "truncated to {len}");
    }
    // Extra bytes are rejected too.
    let mut long = img.clone();
    long.extend_from_slice(&[0; 16]);
    assert_eq!(
        format::validate(&long, &expect).unwrap_err().check,
        ImageCheck::Length
    );
}

#[test]
fn resealed_corruptions_never_panic_and_header_fields_are_checked() {
    // Behind a correct checksum, every modified header or table byte must
    // still yield a typed result, and installing whatever passes must not
    // panic or touch the VM on failure.
    let elf = workload("smc");
    let img = image(&elf);
    let expect = expectation(&elf);
    let code_off = u32::from_le_bytes(img[164..168].try_into().unwrap()) as usize;
    let mut bad = img.clone();
    let mut rejected = 0;
    for i in 0..code_off {
        bad[i] ^= 0x5a;
        reseal(&mut bad);
        match format::validate(&bad, &expect) {
            Err(_) => rejected += 1,
            Ok(view) => {
                let out = Captured::default();
                let mut vm = new_vm(EngineKind::Jit, &out);
                vm.load_elf(&elf, &["smc".into()]).unwrap();
                let before = vm.cache().len();
                if vm.install_aot_image(&view).is_err() {
                    assert_eq!(vm.cache().len(), before, "byte {i}: partial install");
                    // Nothing reached the code region either.
                    assert_eq!(
                        vm.stats().install_time,
                        std::time::Duration::ZERO,
                        "byte {i}: code written for a rejected image"
                    );
                }
            }
        }
        bad.copy_from_slice(&img);
    }
    assert!(rejected > code_off / 2, "{rejected} of {code_off}");
}

fn field_mismatch(at: usize, bytes: &[u8]) -> ImageCheck {
    let elf = workload("fib");
    let mut img = image(&elf);
    img[at..at + bytes.len()].copy_from_slice(bytes);
    reseal(&mut img);
    format::validate(&img, &expectation(&elf))
        .unwrap_err()
        .check
}

#[test]
fn version_host_abi_config_and_magic_mismatches_name_their_check() {
    assert_eq!(field_mismatch(0, b"NOTANIMG"), ImageCheck::Magic);
    assert_eq!(
        field_mismatch(8, &1u32.to_le_bytes()),
        ImageCheck::FormatVersion
    );
    assert_eq!(field_mismatch(24, b"99.0.0\0\0"), ImageCheck::VmVersion);
    assert_eq!(field_mismatch(40, b"aarch64\0"), ImageCheck::HostTarget);
    assert_eq!(field_mismatch(56, b"macos\0"), ImageCheck::HostTarget);
    assert_eq!(
        field_mismatch(72, &1u64.to_le_bytes()),
        ImageCheck::CodegenAbi
    );
    assert_eq!(
        field_mismatch(80, &32u32.to_le_bytes()),
        ImageCheck::BuildConfig
    );
    assert_eq!(field_mismatch(96, &[1]), ImageCheck::FormatVersion);
    assert_eq!(
        field_mismatch(128, &0x1234u64.to_le_bytes()),
        ImageCheck::Program
    );
}

/// An image whose recorded guest words differ from the program's (here:
/// one word changed and the checksum recomputed) passes the file checks
/// but is rejected by install, naming the address, before anything is
/// installed.
#[test]
fn image_compiled_from_other_guest_words_is_rejected_at_install() {
    let elf = workload("fib");
    let img = image(&elf);
    let word_off = u32::from_le_bytes(img[92..96].try_into().unwrap()) as usize;
    let word_count = u32::from_le_bytes(img[88..92].try_into().unwrap()) as usize;
    assert!(word_count > 0);
    for k in [0, word_count / 2, word_count - 1] {
        let mut bad = img.clone();
        bad[word_off + format::WORD_REC * k] ^= 0x80;
        reseal(&mut bad);
        let view = format::validate(&bad, &expectation(&elf)).unwrap();
        let out = Captured::default();
        let mut vm = new_vm(EngineKind::Jit, &out);
        vm.load_elf(&elf, &["fib".into()]).unwrap();
        match vm.install_aot_image(&view) {
            Err(InstallError::Rejected(r)) => {
                assert_eq!(r.check, ImageCheck::Program, "{r}");
                assert!(r.detail.contains("another program"), "{r}");
            }
            other => panic!("word {k}: {other:?}"),
        }
        assert!(vm.cache().is_empty());
        assert_eq!(
            vm.stats().install_time,
            std::time::Duration::ZERO,
            "code written for a rejected image"
        );
    }
}

/// Writes the damaged image `img` to `path` and loads it (`Stop` policy)
/// into a fresh JIT VM with `elf` (fib) loaded: the load must be refused
/// naming the file, with nothing installed. Returns the rejection.
fn load_refused(elf: &[u8], path: &Path, img: &[u8], what: &str) -> format::Rejection {
    std::fs::write(path, img).unwrap();
    let out = Captured::default();
    let mut vm = new_vm(EngineKind::Jit, &out);
    vm.load_elf(elf, &["fib".into()]).unwrap();
    // SAFETY: a deliberately damaged copy of build_image output, which the checks must reject.
    let e = unsafe { load_image(&mut vm, path, elf, BadImagePolicy::Stop) }.unwrap_err();
    let AotError::Rejected {
        path: named,
        rejection,
    } = &e
    else {
        panic!("{what}: expected a rejection, got {e:?}");
    };
    assert_eq!(named, path, "{what}");
    let file = path.file_name().unwrap().to_string_lossy();
    assert!(e.to_string().contains(&*file), "{what}: {e}");
    assert!(vm.cache().is_empty(), "{what}: partial install");
    assert_eq!(vm.stats().install_time, std::time::Duration::ZERO, "{what}");
    rejection.clone()
}

#[test]
fn image_of_another_program_is_rejected_and_run_falls_back_to_the_jit() {
    let dir = scratch_dir("wrong-program");
    let path = dir.join("fib.vmimg");
    write_image(&path, &image(&workload("fib"))).unwrap();
    let elf = workload("qsort");
    let out = Captured::default();
    let mut vm = new_vm(EngineKind::Jit, &out);
    vm.load_elf(&elf, &["qsort".into()]).unwrap();
    // SAFETY: the image file was written by this test from build_image output (or is a deliberately damaged copy the checks must reject).
    let err = unsafe { load_image(&mut vm, &path, &elf, BadImagePolicy::Stop) }.unwrap_err();
    assert_eq!(err.check(), Some(ImageCheck::Program));
    let msg = err.to_string();
    assert!(
        msg.contains("fib.vmimg") && msg.contains("guest-program"),
        "{msg}"
    );
    // Nothing was installed: the same VM still runs, under the JIT.
    assert!(vm.cache().is_empty());
    assert_eq!(vm.stats().install_time, std::time::Duration::ZERO);
    // SAFETY: the image file was written by this test from build_image output (or is a deliberately damaged copy the checks must reject).
    let load = unsafe { load_image(&mut vm, &path, &elf, BadImagePolicy::Jit) }.unwrap();
    assert!(load.installed.is_none());
    assert_eq!(
        load.rejected.and_then(|e| e.check()),
        Some(ImageCheck::Program)
    );
    assert_eq!(vm.run().unwrap(), 22);
    assert!(vm.stats().blocks_compiled > 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn missing_and_empty_files_are_errors_naming_the_file() {
    let dir = scratch_dir("files");
    let elf = workload("fib");
    let mut vm = new_vm(EngineKind::Jit, &Captured::default());
    vm.load_elf(&elf, &["fib".into()]).unwrap();
    let missing = dir.join("missing.vmimg");
    // SAFETY: the image file was written by this test from build_image output (or is a deliberately damaged copy the checks must reject).
    let e = unsafe { load_image(&mut vm, &missing, &elf, BadImagePolicy::Stop) }.unwrap_err();
    assert!(e.to_string().contains("missing.vmimg"), "{e}");
    let empty = dir.join("empty.vmimg");
    std::fs::write(&empty, b"").unwrap();
    // SAFETY: the image file was written by this test from build_image output (or is a deliberately damaged copy the checks must reject).
    let e = unsafe { load_image(&mut vm, &empty, &elf, BadImagePolicy::Stop) }.unwrap_err();
    assert_eq!(e.check(), Some(ImageCheck::Truncated));
    assert!(e.to_string().contains("empty.vmimg"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn interpreter_engine_and_running_vms_refuse_images() {
    let elf = workload("fib");
    let img = image(&elf);
    let view = format::validate(&img, &expectation(&elf)).unwrap();
    let mut vm = new_vm(EngineKind::Interp, &Captured::default());
    vm.load_elf(&elf, &["fib".into()]).unwrap();
    assert!(vm.install_aot_image(&view).is_err());
    let mut vm = new_vm(EngineKind::Jit, &Captured::default());
    vm.load_elf(&elf, &["fib".into()]).unwrap();
    vm.run_blocks(10).unwrap();
    assert!(vm.install_aot_image(&view).is_err());
}

#[test]
fn atomic_write_replaces_without_leftovers() {
    let dir = scratch_dir("atomic");
    let path = dir.join("x.vmimg");
    write_image(&path, b"first").unwrap();
    write_image(&path, b"second").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let e = write_image(&dir.join("no/such/dir/x.vmimg"), b"x").unwrap_err();
    assert!(matches!(e, AotError::Io { .. }));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn images_are_deterministic_and_fingerprint_is_stable() {
    let elf = workload("crc32");
    assert_eq!(image(&elf), image(&elf));
    assert_eq!(codegen_fingerprint(), codegen_fingerprint());
    // A VM's flat backend reuses the process-wide fingerprint: it must be
    // what its own generator produces, wherever its region lies.
    let mut be = crate::backend::x86_64::X64Backend::new(1 << 20).unwrap();
    be.compile(&probe_blocks()[0]).unwrap();
    assert_eq!(codegen_fingerprint_of(&mut be), codegen_fingerprint());
    let mut soft = crate::backend::x86_64::X64Backend::with_softmmu(1 << 20, true).unwrap();
    assert_ne!(codegen_fingerprint_of(&mut soft), codegen_fingerprint());
}

#[test]
fn code_region_flush_drops_image_blocks_and_the_jit_takes_over() {
    // A code region just larger than the image: the smc workload's JIT
    // recompilations fill it, the engine flushes everything (image blocks
    // included) and recompiles on demand; output stays exact.
    let elf = workload("smc");
    let img = image(&elf);
    let view = format::validate(&img, &expectation(&elf)).unwrap();
    let code: usize = (0..view.block_count())
        .map(|i| view.block(i).code_len as usize + 16)
        .sum();
    let out = Captured::default();
    let cfg = VmConfig {
        code_cache_bytes: code + 4096 + 8192,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(out.clone()), Box::new(std::io::sink())).unwrap();
    vm.load_elf(&elf, &["smc".into()]).unwrap();
    vm.install_aot_image(&view).unwrap();
    let status = vm.run().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/expected");
    let expected = std::fs::read(dir.join("smc.stdout")).unwrap();
    let expected_status: i32 = std::fs::read_to_string(dir.join("smc.exit"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(*out.0.lock().unwrap(), expected);
    assert_eq!(status, expected_status);
}

#[test]
fn too_small_code_region_is_a_typed_error_and_nothing_is_installed() {
    let elf = workload("fib");
    let img = image(&elf);
    let view = format::validate(&img, &expectation(&elf)).unwrap();
    // Smaller than the image's code, large enough for what fib's JIT
    // compiles (the image also holds blocks this run never executes).
    let code: usize = (0..view.block_count())
        .map(|i| view.block(i).code_len as usize)
        .sum();
    let cfg = VmConfig {
        code_cache_bytes: code - 4096,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
    vm.load_elf(&elf, &["fib".into()]).unwrap();
    let e = vm.install_aot_image(&view).unwrap_err();
    assert!(e.to_string().contains("code region full"), "{e}");
    assert!(vm.cache().is_empty());
    // The VM still runs under the JIT.
    assert_eq!(vm.run().unwrap(), 109);
}

/// A hand-written program: main calls `f`, loops on a branch, exits by
/// `ecall`; an `ebreak` after the exit is reachable only as fall-through.
fn tiny_program() -> Vec<u8> {
    use crate::frontend::riscv::{encode, Inst, Op};
    let i = |op, rd, rs1, rs2, imm| {
        encode(&Inst {
            op,
            rd,
            rs1,
            rs2,
            imm,
            rs3: 0,
            rm: 0,
            len: 4,
        })
    };
    let code: Vec<u8> = [
        i(Op::Addi, 10, 0, 0, 3),   // 0x1000 a0 = 3
        i(Op::Jal, 1, 0, 0, 0x1c),  // 0x1004 call f (0x1020)
        i(Op::Beq, 0, 10, 0, 0xc),  // 0x1008 a0 == 0 -> 0x1014
        i(Op::Addi, 10, 10, 0, -1), // 0x100c a0 -= 1
        i(Op::Jal, 0, 0, 0, -8),    // 0x1010 -> 0x1008
        i(Op::Addi, 17, 0, 0, 93),  // 0x1014 a7 = exit
        i(Op::Ecall, 0, 0, 0, 0),   // 0x1018
        i(Op::Ebreak, 0, 0, 0, 0),  // 0x101c
        i(Op::Addi, 10, 10, 0, 1),  // 0x1020 f: a0 += 1
        i(Op::Jalr, 0, 1, 0, 0),    // 0x1024 ret
    ]
    .iter()
    .flat_map(|w| w.to_le_bytes())
    .collect();
    crate::guest::elf::tests::tiny_elf(&[(0x1000, &code, 0x1000)], 0x1000)
}

#[test]
fn discovery_follows_calls_returns_branches_and_ecall() {
    let elf = tiny_program();
    let p = discover::discover(&elf, 64).unwrap();
    let mut ranges: Vec<(u64, u64)> = p.blocks.iter().map(|b| (b.pc, b.end)).collect();
    ranges.sort_unstable();
    assert_eq!(
        ranges,
        vec![
            (0x1000, 0x1008),
            (0x1008, 0x100c),
            (0x100c, 0x1014),
            (0x1014, 0x101c),
            (0x101c, 0x1020),
            (0x1020, 0x1028),
        ]
    );
    let mut entries: Vec<u64> = p.functions.iter().map(|f| f.entry).collect();
    entries.sort_unstable();
    assert_eq!(entries, vec![0x1000, 0x1020]);
    let f = p.functions.iter().find(|f| f.entry == 0x1020).unwrap();
    assert_eq!(f.blocks.len(), 1);
}

#[test]
fn tiny_program_runs_from_its_image_with_all_jumps_prelinked() {
    let elf = tiny_program();
    let img = image(&elf);
    let view = format::validate(&img, &expectation(&elf)).unwrap();
    assert_eq!(view.block_count(), 6);
    assert_eq!(view.function_count(), 2);
    let mut vm = new_vm(EngineKind::Jit, &Captured::default());
    vm.load_elf(&elf, &["tiny".into()]).unwrap();
    let inst = vm.install_aot_image(&view).unwrap();
    // The call, both edges of the beq and the loop's back jump; the return
    // is indirect (jump cache) and the ecall exits to the runtime.
    assert_eq!(inst.prelinked, 4, "{inst:?}");
    assert_eq!(vm.run().unwrap(), 0);
    let s = vm.stats();
    assert_eq!(s.blocks_compiled, 0);
    assert_eq!(s.chains_patched, 0, "everything was linked at load time");
    // 3 + 1 = 4 loop iterations run without leaving generated code.
    assert_eq!(vm.cpu().icount, 2 + 2 + 4 * 3 + 1 + 2);
    // Only the entry block went through the dispatcher: the others ran
    // through prelinked jumps and the jump cache, never entering the
    // block cache.
    assert_eq!(s.aot_blocks_registered, 1, "{s:?}");
    assert_eq!(vm.cache().len(), 1);
}

#[test]
fn rewriting_code_of_image_blocks_never_entered_into_the_cache_drops_them() {
    // `f` (0x1020) is reached only through the prelinked call, so it is
    // still a pending image block when its code is rewritten: the store
    // must unlink the call and the jump cache, and the new code must run.
    use crate::frontend::riscv::{encode, Inst, Op};
    let elf = tiny_program();
    let img = image(&elf);
    let view = format::validate(&img, &expectation(&elf)).unwrap();
    let mut vm = new_vm(EngineKind::Jit, &Captured::default());
    vm.load_elf(&elf, &["tiny".into()]).unwrap();
    vm.install_aot_image(&view).unwrap();
    let add2 = encode(&Inst {
        op: Op::Addi,
        rd: 10,
        rs1: 10,
        rs2: 0,
        imm: 2,
        rs3: 0,
        rm: 0,
        len: 4,
    });
    vm.write_guest(0x1020, &add2.to_le_bytes()).unwrap();
    assert_eq!(vm.run().unwrap(), 0);
    let s = vm.stats();
    // 3 + 2 = 5 loop iterations: the rewritten `f` ran, not the image's.
    assert_eq!(vm.cpu().icount, 2 + 2 + 5 * 3 + 1 + 2);
    assert_eq!(s.aot_blocks_registered, 0, "{s:?}");
    assert!(s.invalidations >= 6, "{s:?}");
    assert!(s.blocks_compiled > 0, "{s:?}");
}

#[test]
fn a_second_image_is_refused() {
    let elf = tiny_program();
    let img = image(&elf);
    let view = format::validate(&img, &expectation(&elf)).unwrap();
    let mut vm = new_vm(EngineKind::Jit, &Captured::default());
    vm.load_elf(&elf, &["tiny".into()]).unwrap();
    vm.install_aot_image(&view).unwrap();
    let e = vm.install_aot_image(&view).unwrap_err();
    assert!(e.to_string().contains("already installed"), "{e}");
    assert_eq!(vm.run().unwrap(), 0);
}

#[test]
fn reused_mappings_see_files_changed_in_place() {
    // The loader keeps recent image mappings; a change to the file made in
    // place (same inode, same length) must still be seen by the next load,
    // and so must a truncation.
    let dir = scratch_dir("map-reuse");
    let elf = workload("fib");
    let path = dir.join("fib.vmimg");
    let good = image(&elf);
    write_image(&path, &good).unwrap();
    let load = |expect_ok: bool| {
        let mut vm = new_vm(EngineKind::Jit, &Captured::default());
        vm.load_elf(&elf, &["fib".to_string()]).unwrap();
        // SAFETY: the image file was written by this test from build_image output (or is a deliberately damaged copy the checks must reject).
        let r = unsafe { load_image(&mut vm, &path, &elf, BadImagePolicy::Stop) };
        assert_eq!(r.is_ok(), expect_ok, "{:?}", r.err());
        r.err()
    };
    load(true);
    load(true);
    {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(good.len() as u64 / 2)).unwrap();
        f.write_all(&[good[good.len() / 2] ^ 0x5a]).unwrap();
    }
    let e = load(false).expect("changed in place");
    assert_eq!(e.check(), Some(ImageCheck::Checksum), "{e}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(good.len() as u64 - 100)
        .unwrap();
    let e = load(false).expect("truncated in place");
    assert!(matches!(e.check(), Some(ImageCheck::Truncated)), "{e}");
    write_image(&path, &good).unwrap();
    load(true);
    // A file of the same length renamed over the path (another inode) is
    // read afresh, not through the kept mapping of the file it replaced.
    let mut damaged = good.clone();
    damaged[good.len() / 3] ^= 0x5a;
    write_image(&path, &damaged).unwrap();
    let e = load(false).expect("replaced by a damaged file");
    assert_eq!(e.check(), Some(ImageCheck::Checksum), "{e}");
    write_image(&path, &good).unwrap();
    load(true);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Code built for the C extension branches to 2-byte-aligned targets
/// (here into the middle of a 32-bit instruction, whose upper half is a
/// valid compressed instruction): the image builds, validates and holds
/// the block there.
#[test]
fn images_chain_to_two_byte_aligned_targets() {
    use crate::frontend::riscv::{encode, Inst, Op};
    let ins = |op, rd, rs1, rs2, imm| {
        encode(&Inst {
            op,
            rd,
            rs1,
            rs2,
            imm,
            rs3: 0,
            rm: 0,
            len: 4,
        })
    };
    // 0x10000: beq a0, zero, +6 (to 0x10006) ; 0x10004: li a7, 93 ; ecall
    let words = [
        ins(Op::Beq, 0, 10, 0, 6),
        ins(Op::Addi, 17, 0, 0, 93),
        ins(Op::Ecall, 0, 0, 0, 0),
        ins(Op::Ecall, 0, 0, 0, 0),
    ];
    let code: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let elf = crate::guest::elf::tests::tiny_elf(&[(0x10000, &code, code.len() as u64)], 0x10000);
    let img = build_image(&elf, VmConfig::default().max_block_insns)
        .unwrap()
        .0;
    let view = format::validate(&img, &expectation(&elf)).unwrap();
    assert!(
        (0..view.block_count()).any(|i| view.block(i).pc == 0x10006),
        "no block at the 2-byte-aligned branch target"
    );
}

#[test]
fn relocations_on_the_same_field_are_rejected_at_any_bit_position() {
    // Two zero-initialised (site) fields of one block moved onto the same
    // offset: only the overlap check can catch it (format 5: one record per
    // chain exit, its site field at bytes 4..8). Every such pair of
    // several workloads' images is tried.
    let mut tried = 0;
    for w in ["fib", "qsort", "strings", "crc32"] {
        let elf = workload(w);
        let good = image(&elf);
        let expect = expectation(&elf);
        let rd32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let view = format::validate(&good, &expect).unwrap();
        let relocs_at = rd32(&good, 156) as usize;
        for i in 0..view.block_count() {
            let b = view.block(i);
            let records: Vec<usize> = (b.reloc_start..b.reloc_start + b.reloc_count)
                .map(|r| r as usize)
                .collect();
            for w in records.windows(2) {
                let mut img = good.clone();
                let src = relocs_at + w[0] * format::RELOC_REC + 4;
                let dst = relocs_at + w[1] * format::RELOC_REC + 4;
                let off = rd32(&img, src).to_le_bytes();
                img[dst..dst + 4].copy_from_slice(&off);
                reseal(&mut img);
                let e = format::validate(&img, &expect).unwrap_err();
                assert_eq!(e.check, ImageCheck::Relocations, "{e}");
                tried += 1;
            }
        }
    }
    assert!(tried > 50, "{tried}");
}

#[test]
fn site_fields_before_a_chain_field_are_rejected() {
    // A site field moved onto, or before, a chain field of its block.
    let elf = workload("fib");
    let good = image(&elf);
    let expect = expectation(&elf);
    let rd32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let view = format::validate(&good, &expect).unwrap();
    let relocs_at = rd32(&good, 156) as usize;
    let mut tried = 0;
    for r in 0..view.reloc_count() {
        let rec = relocs_at + r * format::RELOC_REC;
        let chain = view.reloc(r).chain;
        // onto its own chain field (not zero), and just before it (overlap)
        for site in [chain, chain - 4] {
            let mut img = good.clone();
            img[rec + 4..rec + 8].copy_from_slice(&site.to_le_bytes());
            reseal(&mut img);
            let e = format::validate(&img, &expect).unwrap_err();
            assert_eq!(e.check, ImageCheck::Relocations, "{e}");
            tried += 1;
        }
    }
    assert!(tried > 100, "{tried}");
}

#[test]
fn relocations_out_of_order_or_partly_overlapping_are_rejected() {
    // A block's relocation fields are sorted by offset; the loader checks
    // order and overlap together. Swapping two records of a block, or
    // moving a field 1-3 bytes onto its predecessor, is rejected.
    let elf = workload("fib");
    let good = image(&elf);
    let expect = expectation(&elf);
    let rd32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let view = format::validate(&good, &expect).unwrap();
    let relocs_at = rd32(&good, 156) as usize;
    let rec = |r: usize| relocs_at + r * format::RELOC_REC;
    let mut tried = 0;
    for i in 0..view.block_count() {
        let b = view.block(i);
        let (s, n) = (b.reloc_start as usize, b.reloc_count as usize);
        for r in s..s + n.saturating_sub(1) {
            assert!(view.reloc(r).chain + 4 <= view.reloc(r + 1).chain);
            assert!(view.reloc(r).site + 4 <= view.reloc(r + 1).site);
            let mut img = good.clone();
            let (a, c) = (rec(r), rec(r + 1));
            let first: Vec<u8> = img[a..a + format::RELOC_REC].to_vec();
            img.copy_within(c..c + format::RELOC_REC, a);
            img[c..c + format::RELOC_REC].copy_from_slice(&first);
            reseal(&mut img);
            let e = format::validate(&img, &expect).unwrap_err();
            assert_eq!(e.check, ImageCheck::Relocations, "{e}");
            assert!(e.detail.contains("sorted by offset"), "{e}");
            for back in 1..4u32 {
                let mut img = good.clone();
                let o = view.reloc(r).chain + 4 - back;
                img[c..c + 4].copy_from_slice(&o.to_le_bytes());
                reseal(&mut img);
                let e = format::validate(&img, &expect).unwrap_err();
                assert_eq!(e.check, ImageCheck::Relocations, "{e}");
            }
            tried += 1;
        }
    }
    assert!(tried > 50, "{tried}");
}

#[test]
fn loader_rejects_bad_relocation_records_like_validate_before_writing_code() {
    // The loader leaves relocation records to the install's relocation
    // pass (one pass over them per load): every malformed record must
    // still reject the image before any code is written, with the check
    // and the message `format::validate` gives, naming the file.
    let elf = workload("fib");
    let good = image(&elf);
    let expect = expectation(&elf);
    let rd32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let view = format::validate(&good, &expect).unwrap();
    let relocs_at = rd32(&good, 156) as usize;
    let dir = scratch_dir("bad-relocs");
    let path = dir.join("fib-bad-reloc.vmimg");
    let mut tried = 0usize;
    for r in (0..view.reloc_count()).step_by(3) {
        let rec = relocs_at + r * format::RELOC_REC;
        type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
        let moved = |at: usize, by: u32| -> Mutation {
            Box::new(move |img: &mut Vec<u8>| {
                let o = u32::from_le_bytes(img[at..at + 4].try_into().unwrap());
                img[at..at + 4].copy_from_slice(&o.wrapping_add(by).to_le_bytes());
            })
        };
        let mutations: Vec<Mutation> = vec![
            // chain field past the block's code, or before it
            moved(rec, 0x1000),
            moved(rec, 0u32.wrapping_sub(0x1000)),
            // site field past the block's code
            moved(rec + 4, 0x1000),
            // site field onto the chain field (not zero)
            Box::new(move |img| img.copy_within(rec..rec + 4, rec + 4)),
            // misaligned (odd) chain target
            Box::new(move |img| img[rec + 8] ^= 1),
        ];
        for m in &mutations {
            let mut img = good.clone();
            m(&mut img);
            reseal(&mut img);
            let want = format::validate(&img, &expect).unwrap_err();
            let got = load_refused(&elf, &path, &img, &format!("record {r}"));
            assert_eq!(got, want, "record {r}");
            tried += 1;
        }
    }
    assert!(tried > 100, "{tried}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_thunk_is_checked_and_old_formats_are_refused_naming_the_file() {
    // Format 4: every block's exit jumps lead to one exit thunk at the end
    // of the code section, the image's only jump to the exit routine.
    let elf = workload("fib");
    let good = image(&elf);
    let expect = expectation(&elf);
    let rd32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let view = format::validate(&good, &expect).unwrap();
    let code_off = rd32(&good, 164) as usize;
    let code_len = rd32(&good, 160) as usize;
    let thunk = view.exit_thunk();
    assert_eq!(thunk + format::EXIT_THUNK.len(), code_len);
    assert_eq!(
        good[code_off + thunk..code_off + code_len],
        format::EXIT_THUNK
    );
    let dir = scratch_dir("exit-thunk");
    let path = dir.join("fib-thunk.vmimg");
    type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
    let mutations: Vec<(Mutation, ImageCheck)> = vec![
        // thunk offset inside a block, misaligned, past the section
        (
            Box::new(|img| img[168..172].copy_from_slice(&0u32.to_le_bytes())),
            ImageCheck::Relocations,
        ),
        (
            Box::new(move |img| img[168..172].copy_from_slice(&(thunk as u32 + 1).to_le_bytes())),
            ImageCheck::Relocations,
        ),
        (
            Box::new(move |img| img[168..172].copy_from_slice(&(thunk as u32 + 16).to_le_bytes())),
            ImageCheck::Relocations,
        ),
        // not a jmp, or a nonzero rel32
        (
            Box::new(move |img| img[code_off + thunk] = 0xe8),
            ImageCheck::Relocations,
        ),
        (
            Box::new(move |img| img[code_off + thunk + 2] = 1),
            ImageCheck::Relocations,
        ),
        // an image of format 3
        (
            Box::new(|img| img[8..12].copy_from_slice(&3u32.to_le_bytes())),
            ImageCheck::FormatVersion,
        ),
        // an image of format 4 (two relocation records per chain exit)
        (
            Box::new(|img| img[8..12].copy_from_slice(&4u32.to_le_bytes())),
            ImageCheck::FormatVersion,
        ),
    ];
    for (m, check) in &mutations {
        let mut img = good.clone();
        m(&mut img);
        reseal(&mut img);
        let want = format::validate(&img, &expect).unwrap_err();
        assert_eq!(want.check, *check, "{want}");
        let got = load_refused(&elf, &path, &img, &format!("{check}"));
        assert_eq!(got, want);
        if *check == ImageCheck::FormatVersion {
            let v = u32::from_le_bytes(img[8..12].try_into().unwrap());
            assert!(
                got.to_string()
                    .contains(&format!("format version {v}, this VM reads version 5")),
                "{got}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn loader_rejects_bad_function_and_block_tables_like_validate_before_installing() {
    // The loader checks the function and block tables in the install's
    // pass over the block records (`format::check_tables`): every damaged
    // byte of those tables (and of the exit thunk offset) that
    // `format::validate` rejects must reject the load, naming the file,
    // with nothing installed; a function- or block-table rejection is
    // exactly `format::validate`'s.
    let elf = workload("fib");
    let good = image(&elf);
    let expect = expectation(&elf);
    let rd32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let funcs = rd32(&good, 140)..rd32(&good, 140) + rd32(&good, 136) * format::FUNC_REC;
    let blocks = rd32(&good, 148)..rd32(&good, 148) + rd32(&good, 144) * format::BLOCK_REC;
    assert!(!funcs.is_empty() && !blocks.is_empty());
    let dir = scratch_dir("bad-tables");
    let path = dir.join("fib-bad-table.vmimg");
    let (mut rejected, mut exact) = (0usize, 0usize);
    for at in funcs.chain(blocks).chain(168..172) {
        for flip in [0x5a_u8, 0x01, 0x80] {
            let mut img = good.clone();
            img[at] ^= flip;
            reseal(&mut img);
            let Err(want) = format::validate(&img, &expect) else {
                continue;
            };
            let got = load_refused(&elf, &path, &img, &format!("byte {at} ^ {flip:#x}"));
            if matches!(
                want.check,
                ImageCheck::FunctionTable | ImageCheck::BlockTable
            ) {
                assert_eq!(got, want, "byte {at} ^ {flip:#x}");
                exact += 1;
            }
            rejected += 1;
        }
    }
    assert!(
        rejected > 1000 && exact > 500,
        "{rejected} rejected, {exact} table checks"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
