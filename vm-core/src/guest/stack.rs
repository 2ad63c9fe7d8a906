//! Initial process stack per the Linux RISC-V ABI:
//! `sp -> argc, argv[0..argc], NULL, envp..., NULL, auxv pairs, AT_NULL`,
//! with the strings and AT_RANDOM bytes above, `sp` 16-byte aligned.
//!
//! The auxiliary vector carries what static glibc reads: the program
//! headers (AT_PHDR/PHENT/PHNUM, which locate PT_TLS), AT_PAGESZ,
//! AT_ENTRY, the ids (all 0), AT_SECURE 0, AT_HWCAP (rv64gc: the letters
//! I, M, A, F, D, C), AT_CLKTCK 100, AT_RANDOM (16 bytes from the host's
//! random source: glibc seeds its stack protector and pointer guard with
//! them) and AT_EXECFN (`argv[0]`). There is no vDSO (no
//! AT_SYSINFO_EHDR): glibc makes real clock system calls.

use super::elf::LoadedImage;
use crate::memory::{GuestAccess, MemFault};

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_EXECFN: u64 = 31;

/// AT_HWCAP of an rv64gc hart: one bit per single-letter extension
/// (`1 << (letter - 'A')`), as Linux reports them: I, M, A, F, D, C.
pub const HWCAP_RV64GC: u64 = (1 << (b'I' - b'A'))
    | (1 << (b'M' - b'A'))
    | 1 // 'A'
    | (1 << (b'F' - b'A'))
    | (1 << (b'D' - b'A'))
    | (1 << (b'C' - b'A'));

/// The 16 AT_RANDOM bytes of a new process: the next 16 bytes of a
/// `rand_chacha` `ChaCha20Rng` keyed once per thread from the host's
/// `getrandom` (the stream never repeats within a thread). A `getrandom`
/// system call per VM cost about 0.3 us of every VM start (a sixth of
/// `load_elf`), for bytes that only need to be unpredictable to the guest,
/// as a CSPRNG's are. A host `fork` copies the stream into the child: the
/// first use after a fork keys a new one (a fork counter bumped by a
/// `pthread_atfork` child handler), so parent and child never hand out the
/// same bytes.
fn at_random() -> [u8; 16] {
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use std::sync::atomic::{AtomicU64, Ordering};
    static FORKS: AtomicU64 = AtomicU64::new(0);
    static FORK_HANDLER: std::sync::Once = std::sync::Once::new();
    extern "C" fn forked() {
        FORKS.fetch_add(1, Ordering::Relaxed);
    }
    FORK_HANDLER.call_once(|| {
        // SAFETY: `forked` is a valid `extern "C" fn()` for the life of the
        // process and only touches an atomic (async-signal-safe, as a
        // child handler must be).
        unsafe { libc::pthread_atfork(None, None, Some(forked)) };
    });
    thread_local! {
        static STREAM: std::cell::RefCell<Option<(ChaCha20Rng, u64)>> = const { std::cell::RefCell::new(None) };
    }
    let draw = |st: &mut Option<(ChaCha20Rng, u64)>| -> Option<[u8; 16]> {
        let forks = FORKS.load(Ordering::Relaxed);
        if st.as_ref().is_none_or(|(_, f)| *f != forks) {
            let mut seed = [0u8; 32];
            super::syscall::host_random(&mut seed).ok()?;
            *st = Some((ChaCha20Rng::from_seed(seed), forks));
        }
        let mut out = [0u8; 16];
        st.as_mut()?.0.fill_bytes(&mut out);
        Some(out)
    };
    if let Some(b) = STREAM.try_with(|st| draw(&mut st.borrow_mut())).ok().flatten() {
        return b;
    }
    // No host randomness (not seen on Linux), or during thread teardown:
    // one system call, else the clock, mixed.
    let mut bytes = [0u8; 16];
    if super::syscall::host_random(&mut bytes).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        bytes[..8].copy_from_slice(&t.to_le_bytes());
        bytes[8..].copy_from_slice(&t.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    }
    bytes
}

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
    // The file name AT_EXECFN points to sits at the top, as Linux puts it.
    let execfn = push_str(mem, args.first().map_or("", |a| a.as_str()))?;
    let argv: Vec<u64> = args
        .iter()
        .map(|a| push_str(mem, a))
        .collect::<Result<_, _>>()?;
    let envp: Vec<u64> = env
        .iter()
        .map(|a| push_str(mem, a))
        .collect::<Result<_, _>>()?;
    sp -= 16;
    let random = sp;
    let bytes = at_random();
    mem.write_bytes(random, &bytes)?;
    let auxv = [
        (AT_PHDR, img.phdr),
        (AT_PHENT, img.phent),
        (AT_PHNUM, img.phnum),
        (AT_PAGESZ, 4096),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, img.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_SECURE, 0),
        (AT_HWCAP, HWCAP_RV64GC),
        (AT_CLKTCK, 100),
        (AT_RANDOM, random),
        (AT_EXECFN, execfn),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::GuestMemory;

    #[test]
    fn at_random_differs_per_process() {
        let v: Vec<[u8; 16]> = (0..9).map(|_| at_random()).collect();
        for (i, a) in v.iter().enumerate() {
            assert!(v[i + 1..].iter().all(|b| b != a));
        }
    }

    #[test]
    fn at_random_works_during_thread_teardown() {
        // A thread-local's destructor that starts a process after STREAM
        // may already be gone: the bytes still come (from the fallback).
        struct Late;
        impl Drop for Late {
            fn drop(&mut self) {
                let (a, b) = (at_random(), at_random());
                assert_ne!(a, b);
            }
        }
        thread_local! { static LATE: Late = const { Late }; }
        std::thread::spawn(|| {
            LATE.with(|_| {});
            let _ = at_random();
        })
        .join()
        .unwrap();
    }

    #[test]
    fn at_random_differs_between_a_forked_child_and_its_parent() {
        // The stream is keyed before the fork; without the re-key in the
        // child both would draw the same next 16 bytes.
        let _ = at_random();
        let mut fds = [0i32; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child only draws bytes (no allocation, no lock: the
        // stream and the fork handler are set up), writes them and exits
        // with `_exit`, running nothing of the parent's test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let b = at_random();
            // SAFETY: `b` is 16 readable bytes; `_exit` ends the child.
            unsafe {
                libc::write(fds[1], b.as_ptr().cast(), 16);
                libc::_exit(0);
            }
        }
        let parent = at_random();
        let mut child = [0u8; 16];
        // SAFETY: `child` has room for 16 bytes; `pid` is our child.
        let (n, status) = unsafe {
            libc::close(fds[1]);
            let n = libc::read(fds[0], child.as_mut_ptr().cast(), 16);
            libc::close(fds[0]);
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            (n, status)
        };
        assert_eq!((n, status), (16, 0));
        assert_ne!(parent, child);
    }

    /// Reads the initial stack back: argc, argv, envp, auxv.
    fn parse(mem: &mut GuestMemory, sp: u64) -> (Vec<String>, Vec<String>, Vec<(u64, u64)>) {
        let word = |mem: &mut GuestMemory, a: u64| GuestAccess::load(mem, a, 8).unwrap();
        let cstr = |mem: &mut GuestMemory, mut a: u64| {
            let mut s = Vec::new();
            loop {
                let b = GuestAccess::load(mem, a, 1).unwrap() as u8;
                if b == 0 {
                    return String::from_utf8(s).unwrap();
                }
                s.push(b);
                a += 1;
            }
        };
        let argc = word(mem, sp);
        let mut at = sp + 8;
        let strings = |mem: &mut GuestMemory, at: &mut u64| {
            let mut v = Vec::new();
            loop {
                let p = word(mem, *at);
                *at += 8;
                if p == 0 {
                    return v;
                }
                v.push(cstr(mem, p));
            }
        };
        let argv = strings(mem, &mut at);
        assert_eq!(argv.len() as u64, argc);
        let envp = strings(mem, &mut at);
        let mut auxv = Vec::new();
        loop {
            let (k, v) = (word(mem, at), word(mem, at + 8));
            at += 16;
            auxv.push((k, v));
            if k == AT_NULL {
                return (argv, envp, auxv);
            }
        }
    }

    #[test]
    fn auxv_has_what_static_glibc_reads() {
        let img = LoadedImage {
            entry: 0x10_0b0,
            phdr: 0x10_040,
            phnum: 7,
            phent: 56,
            brk_start: 0x80_000,
            segments: vec![],
        };
        let mut randoms = Vec::new();
        for _ in 0..2 {
            let mut mem = GuestMemory::new(1 << 20).unwrap();
            let args = vec!["prog".to_string(), "a b".to_string()];
            let env = vec!["K=V".to_string()];
            let sp = setup_stack(&mut mem, (1 << 20) - 4096, &img, &args, &env).unwrap();
            assert_eq!(sp % 16, 0);
            let (argv, envp, auxv) = parse(&mut mem, sp);
            assert_eq!(argv, args);
            assert_eq!(envp, env);
            let get = |k: u64| {
                let v: Vec<u64> = auxv.iter().filter(|e| e.0 == k).map(|e| e.1).collect();
                assert_eq!(v.len(), 1, "AT {k} once");
                v[0]
            };
            assert_eq!(get(AT_PHDR), 0x10_040);
            assert_eq!(get(AT_PHENT), 56);
            assert_eq!(get(AT_PHNUM), 7);
            assert_eq!(get(AT_PAGESZ), 4096);
            assert_eq!(get(AT_ENTRY), 0x10_0b0);
            assert_eq!(get(AT_BASE), 0);
            for k in [AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE] {
                assert_eq!(get(k), 0);
            }
            // rv64gc: I M A F D C.
            assert_eq!(get(AT_HWCAP), 0x112d);
            assert_eq!(get(AT_CLKTCK), 100);
            let execfn = get(AT_EXECFN);
            let mut name = [0u8; 5];
            GuestAccess::read_bytes(&mut mem, execfn, &mut name).unwrap();
            assert_eq!(&name, b"prog\0");
            let r = get(AT_RANDOM);
            assert!(r > sp && r + 16 <= (1 << 20) - 4096);
            let mut bytes = [0u8; 16];
            GuestAccess::read_bytes(&mut mem, r, &mut bytes).unwrap();
            randoms.push(bytes);
            assert_eq!(auxv.last(), Some(&(AT_NULL, 0)));
        }
        // Host randomness: two processes get different bytes (a repeat
        // has probability 2^-128).
        assert_ne!(randoms[0], randoms[1]);
    }
}
