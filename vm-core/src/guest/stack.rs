//! Initial process stack per the Linux RISC-V ABI:
//! `sp -> argc, argv[0..argc], NULL, envp..., NULL, auxv pairs, AT_NULL`,
//! with the strings and AT_RANDOM bytes above, `sp` 16-byte aligned.

use super::elf::LoadedImage;
use crate::memory::{GuestAccess, MemFault};

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_RANDOM: u64 = 25;

/// Writes argv/envp/auxv below `stack_top` and returns the initial `sp`.
pub fn setup_stack<M: GuestAccess>(
    mem: &mut M,
    stack_top: u64,
    img: &LoadedImage,
    args: &[String],
    env: &[String],
) -> Result<u64, MemFault> {
    let mut sp = stack_top;
    let mut push_str = |mem: &mut M, s: &str| -> Result<u64, MemFault> {
        let bytes = s.as_bytes();
        sp -= bytes.len() as u64 + 1;
        mem.write_bytes(sp, bytes)?;
        mem.write_bytes(sp + bytes.len() as u64, &[0])?;
        Ok(sp)
    };
    let argv: Vec<u64> = args
        .iter()
        .map(|a| push_str(mem, a))
        .collect::<Result<_, _>>()?;
    let envp: Vec<u64> = env
        .iter()
        .map(|a| push_str(mem, a))
        .collect::<Result<_, _>>()?;
    // Fixed "random" bytes keep runs reproducible.
    sp -= 16;
    let random = sp;
    mem.write_bytes(random, b"vm-core-rv64-rnd")?;
    let auxv = [
        (AT_PHDR, img.phdr),
        (AT_PHENT, img.phent),
        (AT_PHNUM, img.phnum),
        (AT_PAGESZ, 4096),
        (AT_ENTRY, img.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_RANDOM, random),
        (AT_NULL, 0),
    ];
    let words = 1 + argv.len() + 1 + envp.len() + 1 + 2 * auxv.len();
    sp = (sp - 8 * words as u64) & !15;
    let mut vec = Vec::with_capacity(words);
    vec.push(argv.len() as u64);
    vec.extend(&argv);
    vec.push(0);
    vec.extend(&envp);
    vec.push(0);
    for (k, v) in auxv {
        vec.push(k);
        vec.push(v);
    }
    let bytes: Vec<u8> = vec.iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.write_bytes(sp, &bytes)?;
    Ok(sp)
}
