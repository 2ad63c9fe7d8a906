//! Linux RISC-V system calls (number in a7, arguments in a0..a5, result in
//! a0; asm-generic numbers and structure layouts, Linux errno values).
//!
//! The calls a static glibc program makes are implemented (the table is in
//! `vm-core/ARCHITECTURE.md`, "System calls and limits"):
//!
//! - memory: `brk`, anonymous `mmap`/`munmap`/`mprotect`/`mremap`/`madvise`
//!   ([`mm`]: the books are kept here, the engine applies the
//!   [`MapEffect`]s to memory and page tables);
//! - files: `openat`/`read`/`pread64`/`close`/`lseek`/`newfstatat`/`fstat`/
//!   `readlinkat` read-only below a granted directory ([`fs`]); none by
//!   default. `write`/`writev` on fd 1/2; fd 0 reads as empty;
//!   `ioctl` says `-ENOTTY` (no terminals);
//! - process: `exit`/`exit_group`, `set_tid_address`, `set_robust_list`,
//!   `prlimit64`/`getrlimit`/`setrlimit`, ids, `uname`, `sysinfo`, `getrandom` (host
//!   randomness), `clock_gettime`/`clock_getres`/`gettimeofday`/`nanosleep`
//!   (host clocks), `rt_sigaction`/`rt_sigprocmask`/`rt_sigpending`
//!   (recorded; no handler ever runs);
//! - signals to itself: `kill`/`tkill`/`tgkill` take a signal's default
//!   action as Linux does (ignore, or end the guest: the run ends with
//!   status `128 + signal`, the status a shell reports for a process killed
//!   by it, as `qemu-riscv64 prog; echo $?` prints); `SIG_IGN` discards;
//!   a blocked signal stays pending until unblocked. A signal with a guest
//!   handler is not delivered (noted once on stderr), and the stop signals
//!   do not stop the guest (no job control);
//! - `clone`/`clone3` return `-ENOSYS` (no threads).
//!
//! `write(fd, buf, len)` copies page by page and, when only the first part
//! of `buf` is readable, writes that part and returns its length; `-EFAULT`
//! only when nothing could be read. `writev` rejects `iovcnt > IOV_MAX`
//! and totals above `ssize_t` with `-EINVAL`, reads the whole iovec array
//! first, and stops at the first partial buffer.
//!
//! Any other number returns `-ENOSYS`, as Linux and qemu-user do, and the
//! VM notes it once per call number on its stderr stream. With
//! [`SyscallHandler::set_strict`] (the CLI's `--strict-syscalls`) an
//! unknown call stops the VM with [`VmError::UnknownSyscall`] instead.

pub mod fs;
pub mod mm;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::engine::VmError;
use crate::memory::GuestAccess;
use crate::state::CpuState;
pub use fs::FsRoot;

/// A guest directory as the path components below the granted root.
type GuestDir = Vec<Vec<u8>>;
pub use mm::{AddressSpace, MapEffect, PROT_EXEC, PROT_READ, PROT_WRITE};

/// Linux errno values (asm-generic, the same on RISC-V and x86-64).
pub mod errno {
    #![allow(missing_docs)]
    pub const EPERM: i64 = 1;
    pub const ENOENT: i64 = 2;
    pub const ESRCH: i64 = 3;
    pub const EIO: i64 = 5;
    pub const EBADF: i64 = 9;
    pub const ENOMEM: i64 = 12;
    pub const EFAULT: i64 = 14;
    pub const EEXIST: i64 = 17;
    pub const ENODEV: i64 = 19;
    pub const ENOTDIR: i64 = 20;
    pub const EISDIR: i64 = 21;
    pub const EINVAL: i64 = 22;
    pub const EMFILE: i64 = 24;
    pub const ENOTTY: i64 = 25;
    pub const ESPIPE: i64 = 29;
    pub const EROFS: i64 = 30;
    pub const ERANGE: i64 = 34;
    pub const ENAMETOOLONG: i64 = 36;
    pub const ENOSYS: i64 = 38;
    pub const ELOOP: i64 = 40;
}
use errno::*;

/// System call numbers (asm-generic, as RISC-V Linux uses them).
#[allow(missing_docs)]
pub mod nr {
    pub const GETCWD: u64 = 17;
    pub const IOCTL: u64 = 29;
    pub const OPENAT: u64 = 56;
    pub const CLOSE: u64 = 57;
    pub const LSEEK: u64 = 62;
    pub const READ: u64 = 63;
    pub const WRITE: u64 = 64;
    pub const WRITEV: u64 = 66;
    pub const PREAD64: u64 = 67;
    pub const READLINKAT: u64 = 78;
    pub const NEWFSTATAT: u64 = 79;
    pub const FSTAT: u64 = 80;
    pub const EXIT: u64 = 93;
    pub const EXIT_GROUP: u64 = 94;
    pub const SET_TID_ADDRESS: u64 = 96;
    pub const SET_ROBUST_LIST: u64 = 99;
    pub const NANOSLEEP: u64 = 101;
    pub const CLOCK_GETTIME: u64 = 113;
    pub const CLOCK_GETRES: u64 = 114;
    pub const RT_SIGACTION: u64 = 134;
    pub const RT_SIGPROCMASK: u64 = 135;
    pub const RT_SIGPENDING: u64 = 136;
    pub const KILL: u64 = 129;
    pub const TKILL: u64 = 130;
    pub const TGKILL: u64 = 131;
    pub const UNAME: u64 = 160;
    pub const GETRLIMIT: u64 = 163;
    pub const SETRLIMIT: u64 = 164;
    pub const GETTIMEOFDAY: u64 = 169;
    pub const GETPID: u64 = 172;
    pub const GETPPID: u64 = 173;
    pub const GETUID: u64 = 174;
    pub const GETEUID: u64 = 175;
    pub const GETGID: u64 = 176;
    pub const GETEGID: u64 = 177;
    pub const GETTID: u64 = 178;
    pub const SYSINFO: u64 = 179;
    pub const BRK: u64 = 214;
    pub const MUNMAP: u64 = 215;
    pub const MREMAP: u64 = 216;
    pub const CLONE: u64 = 220;
    pub const MMAP: u64 = 222;
    pub const MPROTECT: u64 = 226;
    pub const MADVISE: u64 = 233;
    pub const PRLIMIT64: u64 = 261;
    pub const GETRANDOM: u64 = 278;
    pub const CLONE3: u64 = 435;
}

/// Most iovec entries one `writev` accepts (Linux `UIO_MAXIOV`).
pub const IOV_MAX: u64 = 1024;

/// The guest's process and thread id.
pub const GUEST_PID: u64 = 1;

/// Guest page size the copy paths work by, so a partial copy stops exactly
/// at the first unreadable page.
const COPY_CHUNK: u64 = 4096;

/// Open file descriptors a guest may hold (`RLIMIT_NOFILE`'s soft limit).
const MAX_FDS: usize = 1024;

/// `RLIM_INFINITY`.
const RLIM_INFINITY: u64 = u64::MAX;
/// Resource limits (`RLIM_NLIMITS`).
const RLIM_NLIMITS: usize = 16;
const RLIMIT_STACK: usize = 3;
const RLIMIT_NOFILE: usize = 7;

/// What the guest asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallOutcome {
    /// Keep running.
    Continue,
    /// The guest exited with this status.
    Exit(i32),
}

/// One guest file descriptor.
enum Fd {
    Stdin,
    Stdout,
    Stderr,
    /// A host file opened read-only below the granted root; for a
    /// directory, its guest path (for `*at` calls relative to it).
    Host(OwnedFd, Option<Vec<Vec<u8>>>),
}

/// `sa_handler` values with a meaning of their own.
const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;

/// One signal's disposition as `rt_sigaction` records it: handler,
/// flags, mask (riscv64 `struct sigaction` has no restorer).
type SigAction = [u64; 3];

/// Host side of the guest's system calls: output streams, address space,
/// file descriptors and the small per-process state the calls report.
pub struct SyscallHandler {
    stdout: Box<dyn Write + Send>,
    stderr: Box<dyn Write + Send>,
    mm: AddressSpace,
    fds: Vec<Option<Fd>>,
    fs_root: Option<FsRoot>,
    /// Guest range the last call wrote behind the engine's back.
    written: Option<(u64, u64)>,
    /// Unknown system calls stop the VM instead of returning `-ENOSYS`.
    strict: bool,
    /// Unknown call numbers already noted on stderr (each is noted once).
    noted_unknown: Vec<u64>,
    sigactions: Box<[SigAction; 64]>,
    sigmask: u64,
    /// Signals sent while blocked (bit `sig - 1`), acted on when unblocked.
    pending: u64,
    /// Signals with a guest handler already noted as not delivered.
    noted_handlers: u64,
    rlimits: [(u64, u64); RLIM_NLIMITS],
    robust_list: (u64, u64),
    clear_child_tid: u64,
}

fn default_rlimits(stack: u64) -> [(u64, u64); RLIM_NLIMITS] {
    let mut r = [(RLIM_INFINITY, RLIM_INFINITY); RLIM_NLIMITS];
    r[RLIMIT_STACK] = (stack, RLIM_INFINITY);
    r[RLIMIT_NOFILE] = (MAX_FDS as u64, MAX_FDS as u64);
    // RLIMIT_CORE: no core dumps; RLIMIT_NPROC/SIGPENDING/MSGQUEUE/
    // MEMLOCK/RTPRIO/NICE as a default Linux user sees them.
    r[4] = (0, RLIM_INFINITY);
    r[6] = (63_000, 63_000);
    r[8] = (8 << 20, 8 << 20);
    r[11] = (63_000, 63_000);
    r[12] = (819_200, 819_200);
    r[13] = (0, 0);
    r[14] = (0, 0);
    r
}

impl SyscallHandler {
    /// Creates a handler writing guest fd 1/2 to the given streams; the heap
    /// may grow from `brk_start` up to `brk_max`.
    pub fn new(
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
        brk_start: u64,
        brk_max: u64,
    ) -> Self {
        Self {
            stdout,
            stderr,
            mm: AddressSpace::new(brk_max, brk_start, brk_max),
            fds: vec![Some(Fd::Stdin), Some(Fd::Stdout), Some(Fd::Stderr)],
            fs_root: None,
            written: None,
            strict: false,
            noted_unknown: Vec::new(),
            sigactions: Box::new([[0; 3]; 64]),
            sigmask: 0,
            pending: 0,
            noted_handlers: 0,
            rlimits: default_rlimits(8 << 20),
            robust_list: (0, 0),
            clear_child_tid: 0,
        }
    }

    /// Strict mode: an unknown system call stops the VM with
    /// [`VmError::UnknownSyscall`] instead of returning `-ENOSYS`.
    pub fn set_strict(&mut self, strict: bool) {
        self.strict = strict;
    }

    /// Grants the guest read-only access to the host files below a
    /// directory (its `/`), or none.
    pub fn set_fs_root(&mut self, root: Option<FsRoot>) {
        self.fs_root = root;
    }

    /// Sets the initial program break and its upper limit (which is also
    /// the top of the address space): no mappings.
    pub fn reset_brk(&mut self, brk_start: u64, brk_max: u64) {
        self.mm = AddressSpace::new(brk_max, brk_start, brk_max);
    }

    /// Sets up the address space of a freshly loaded program: the guest's
    /// addresses end at `limit`; `mappings` (image segments and the stack,
    /// `(start, end, PROT_*)`) are in place; the break starts at
    /// `brk_start` and may grow, and `mmap` places mappings, below
    /// `mmap_top`; `stack_limit` is what `RLIMIT_STACK` reports.
    pub fn init_address_space(
        &mut self,
        limit: u64,
        brk_start: u64,
        mmap_top: u64,
        mappings: &[(u64, u64, u32)],
        stack_limit: u64,
    ) {
        self.mm = AddressSpace::new(limit, brk_start, mmap_top);
        for &(s, e, p) in mappings {
            self.mm.add_existing(s, e, p);
        }
        self.rlimits[RLIMIT_STACK].0 = stack_limit;
    }

    /// The address space as the system calls see it.
    pub fn address_space(&self) -> &AddressSpace {
        &self.mm
    }

    /// Takes the memory changes (mappings made, removed or re-protected,
    /// pages zeroed or copied) of the calls since the last take, for the
    /// engine to apply in order.
    pub fn take_map_effects(&mut self) -> Vec<MapEffect> {
        self.mm.take_effects()
    }

    /// Whether memory changes wait to be applied.
    pub fn has_map_effects(&self) -> bool {
        self.mm.has_effects()
    }

    /// Takes the guest range `[start, end)` the last system call wrote, so
    /// the engine can drop translations of code that lived there.
    pub fn take_written(&mut self) -> Option<(u64, u64)> {
        self.written.take()
    }

    /// Current program break.
    pub fn brk(&self) -> u64 {
        self.mm.brk()
    }

    /// Flushes guest output streams.
    pub fn flush(&mut self) {
        let _ = self.stdout.flush();
        let _ = self.stderr.flush();
    }

    /// Executes the system call described by the registers of `cpu`
    /// (the ecall at `pc`) and writes the result to a0.
    pub fn handle<M: GuestAccess>(
        &mut self,
        cpu: &mut CpuState,
        mem: &mut M,
        pc: u64,
    ) -> Result<SyscallOutcome, VmError> {
        let r = &mut cpu.globals;
        let (n, a0, a1, a2, a3, a4, a5) = (r[17], r[10], r[11], r[12], r[13], r[14], r[15]);
        let ret: i64 = match n {
            nr::WRITE => self.write(mem, a0, a1, a2),
            nr::WRITEV => self.writev(mem, a0, a1, a2),
            nr::READ => self.read(mem, a0, a1, a2, None),
            nr::PREAD64 => self.read(mem, a0, a1, a2, Some(a3)),
            nr::OPENAT => self.openat(mem, a0, a1, a2),
            nr::CLOSE => self.close(a0),
            nr::LSEEK => self.lseek(a0, a1, a2),
            nr::FSTAT => self.fstat(mem, a0, a1),
            nr::NEWFSTATAT => self.newfstatat(mem, a0, a1, a2, a3),
            nr::READLINKAT => self.readlinkat(mem, a0, a1, a2, a3),
            nr::IOCTL => match self.fd(a0) {
                Some(_) => -ENOTTY,
                None => -EBADF,
            },
            nr::GETCWD => self.getcwd(mem, a0, a1),
            nr::EXIT | nr::EXIT_GROUP => {
                self.flush();
                return Ok(SyscallOutcome::Exit(a0 as i32));
            }
            nr::SET_TID_ADDRESS => {
                self.clear_child_tid = a0;
                GUEST_PID as i64
            }
            nr::SET_ROBUST_LIST => {
                // sizeof(struct robust_list_head) on 64-bit.
                if a1 != 24 {
                    -EINVAL
                } else {
                    self.robust_list = (a0, a1);
                    0
                }
            }
            nr::GETPID | nr::GETTID => GUEST_PID as i64,
            nr::GETPPID => 0,
            nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => 0,
            nr::BRK => self.mm.set_brk(a0) as i64,
            nr::MMAP => {
                if a3 & mm::MAP_ANONYMOUS == 0 {
                    // File mappings are not supported.
                    match self.fd(a4) {
                        Some(_) => -ENODEV,
                        None => -EBADF,
                    }
                } else {
                    self.mm.mmap(a0, a1, a2, a3, a5)
                }
            }
            nr::MUNMAP => self.mm.munmap(a0, a1),
            nr::MPROTECT => self.mm.mprotect(a0, a1, a2),
            nr::MREMAP => self.mm.mremap(a0, a1, a2, a3, a4),
            nr::MADVISE => self.mm.madvise(a0, a1, a2),
            nr::PRLIMIT64 => self.prlimit(mem, a0, a1, a2, a3),
            nr::GETRLIMIT => self.prlimit(mem, 0, a0, 0, a1),
            nr::SETRLIMIT => self.prlimit(mem, 0, a0, a1, 0),
            nr::GETRANDOM => self.getrandom(mem, a0, a1, a2),
            nr::CLOCK_GETTIME => self.clock(mem, a0, a1, false),
            nr::CLOCK_GETRES => self.clock(mem, a0, a1, true),
            nr::GETTIMEOFDAY => self.gettimeofday(mem, a0, a1),
            nr::NANOSLEEP => self.nanosleep(mem, a0, a1),
            nr::UNAME => self.uname(mem, a0),
            nr::SYSINFO => self.sysinfo(mem, a0),
            nr::RT_SIGACTION => self.rt_sigaction(mem, a0, a1, a2, a3),
            nr::RT_SIGPROCMASK => {
                let r = self.rt_sigprocmask(mem, a0, a1, a2, a3);
                // Unblocking a pending signal acts on it now.
                if let Some(code) = self.act_on_pending() {
                    return Ok(SyscallOutcome::Exit(code));
                }
                r
            }
            nr::RT_SIGPENDING => self.rt_sigpending(mem, a0, a1),
            nr::KILL | nr::TKILL | nr::TGKILL => {
                let sig = match self.signal_target(n, a0, a1, a2) {
                    Ok(sig) => sig,
                    Err(e) => {
                        cpu.globals[10] = e as u64;
                        return Ok(SyscallOutcome::Continue);
                    }
                };
                cpu.globals[10] = 0;
                if let Some(code) = self.raise(sig) {
                    return Ok(SyscallOutcome::Exit(code));
                }
                return Ok(SyscallOutcome::Continue);
            }
            // No threads: documented, so not noted as unknown.
            nr::CLONE | nr::CLONE3 => -ENOSYS,
            _ if self.strict => return Err(VmError::UnknownSyscall { nr: n, pc }),
            _ => {
                if !self.noted_unknown.contains(&n) {
                    self.noted_unknown.push(n);
                    let _ = writeln!(
                        self.stderr,
                        "vm: unknown system call {n} at pc {pc:#x}: returning -ENOSYS"
                    );
                }
                -ENOSYS
            }
        };
        cpu.globals[10] = ret as u64;
        Ok(SyscallOutcome::Continue)
    }

    fn fd(&self, fd: u64) -> Option<&Fd> {
        self.fds.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    /// Copies `data` to guest `addr` and records the range as written.
    fn put<M: GuestAccess>(&mut self, mem: &mut M, addr: u64, data: &[u8]) -> Result<(), i64> {
        if data.is_empty() {
            return Ok(());
        }
        mem.write_bytes(addr, data).map_err(|_| -EFAULT)?;
        let end = addr + data.len() as u64;
        self.written = Some(match self.written {
            Some((s, e)) => (s.min(addr), e.max(end)),
            None => (addr, end),
        });
        Ok(())
    }

    /// Reads `N` guest bytes.
    fn get<M: GuestAccess, const N: usize>(mem: &mut M, addr: u64) -> Result<[u8; N], i64> {
        let mut b = [0u8; N];
        mem.read_bytes(addr, &mut b).map_err(|_| -EFAULT)?;
        Ok(b)
    }

    /// Reads the NUL-terminated guest string at `addr` (at most
    /// `PATH_MAX` bytes with the NUL).
    fn get_path<M: GuestAccess>(mem: &mut M, addr: u64) -> Result<Vec<u8>, i64> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let n = (COPY_CHUNK - at % COPY_CHUNK) as usize;
            let mut chunk = [0u8; COPY_CHUNK as usize];
            mem.read_bytes(at, &mut chunk[..n]).map_err(|_| -EFAULT)?;
            if let Some(z) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..z]);
                if out.len() >= fs::PATH_MAX {
                    return Err(-ENAMETOOLONG);
                }
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
            if out.len() >= fs::PATH_MAX {
                return Err(-ENAMETOOLONG);
            }
            at = at.wrapping_add(n as u64);
        }
    }

    fn write<M: GuestAccess>(&mut self, mem: &mut M, fd: u64, buf: u64, len: u64) -> i64 {
        match self.fd(fd) {
            Some(Fd::Stdout | Fd::Stderr) => {}
            _ => return -EBADF,
        }
        let to_stdout = matches!(self.fd(fd), Some(Fd::Stdout));
        // Copied out in page-sized chunks: guest memory may be translated
        // page by page, and a huge length must not allocate on the host.
        // A short write (most are a line of text) goes through a small
        // buffer: zeroing the page-sized one cost more than the copy.
        let mut small = [0u8; 256];
        let mut page;
        let chunk: &mut [u8] = if len <= small.len() as u64 {
            &mut small
        } else {
            page = [0u8; COPY_CHUNK as usize];
            &mut page
        };
        let mut done = 0u64;
        while done < len {
            // Chunks end at page boundaries, so a failed copy means the page
            // itself is unreadable and everything before it was written.
            let at = buf.wrapping_add(done);
            let to_page_end = COPY_CHUNK - (at % COPY_CHUNK);
            let n = (len - done).min(to_page_end) as usize;
            if mem
                .read_bytes(buf.wrapping_add(done), &mut chunk[..n])
                .is_err()
            {
                // Linux reports a fault only when nothing was written.
                return if done == 0 { -EFAULT } else { done as i64 };
            }
            let out = if to_stdout {
                &mut self.stdout
            } else {
                &mut self.stderr
            };
            if out.write_all(&chunk[..n]).is_err() {
                return if done == 0 { -EBADF } else { done as i64 };
            }
            done += n as u64;
        }
        len as i64
    }

    /// `writev`: reads the whole iovec array first (as Linux does), then
    /// writes the buffers in order, stopping at the first partial one.
    fn writev<M: GuestAccess>(&mut self, mem: &mut M, fd: u64, iov: u64, iovcnt: u64) -> i64 {
        if iovcnt > IOV_MAX {
            return -EINVAL;
        }
        let mut vecs = Vec::with_capacity(iovcnt as usize);
        let mut sum = 0u64;
        for i in 0..iovcnt {
            let entry = iov.wrapping_add(16 * i);
            let (Ok(base), Ok(len)) = (mem.load(entry, 8), mem.load(entry.wrapping_add(8), 8))
            else {
                return -EFAULT;
            };
            // Linux refuses a total that does not fit ssize_t.
            sum = match sum.checked_add(len) {
                Some(s) if s <= i64::MAX as u64 => s,
                _ => return -EINVAL,
            };
            vecs.push((base, len));
        }
        if !matches!(self.fd(fd), Some(Fd::Stdout | Fd::Stderr)) {
            return -EBADF;
        }
        let mut total = 0i64;
        for (base, len) in vecs {
            let n = self.write(mem, fd, base, len);
            if n < 0 {
                return if total > 0 { total } else { n };
            }
            total += n;
            if (n as u64) < len {
                break;
            }
        }
        total
    }

    /// `read`/`pread64`: fd 0 is empty, host files are read in chunks
    /// copied to the guest; a chunk the guest cannot take is given back to
    /// the file (position restored) and the call returns what was copied.
    fn read<M: GuestAccess>(
        &mut self,
        mem: &mut M,
        fd: u64,
        buf: u64,
        len: u64,
        at: Option<u64>,
    ) -> i64 {
        let raw = match self.fd(fd) {
            None | Some(Fd::Stdout | Fd::Stderr) => return -EBADF,
            Some(Fd::Stdin) => return if at.is_some() { -ESPIPE } else { 0 },
            Some(Fd::Host(f, _)) => f.as_raw_fd(),
        };
        if at.is_some_and(|o| (o as i64) < 0) {
            return -EINVAL;
        }
        let len = len.min(0x7fff_f000); // Linux's MAX_RW_COUNT
        let mut chunk = vec![0u8; len.min(1 << 16) as usize];
        let mut done = 0u64;
        while done < len {
            let want = (len - done).min(chunk.len() as u64) as usize;
            // SAFETY: `chunk` has at least `want` writable bytes; `raw` is
            // an open descriptor owned by the fd table.
            let got = unsafe {
                match at {
                    Some(off) => libc::pread(
                        raw,
                        chunk.as_mut_ptr() as *mut libc::c_void,
                        want,
                        (off + done) as libc::off_t,
                    ),
                    None => libc::read(raw, chunk.as_mut_ptr() as *mut libc::c_void, want),
                }
            };
            if got < 0 {
                let e = std::io::Error::last_os_error()
                    .raw_os_error()
                    .map_or(EIO, i64::from);
                return if done > 0 { done as i64 } else { -e };
            }
            if got == 0 {
                break;
            }
            let got = got as u64;
            if self
                .put(mem, buf.wrapping_add(done), &chunk[..got as usize])
                .is_err()
            {
                if at.is_none() {
                    // SAFETY: plain lseek on an owned descriptor.
                    unsafe { libc::lseek(raw, -(got as libc::off_t), libc::SEEK_CUR) };
                }
                return if done > 0 { done as i64 } else { -EFAULT };
            }
            done += got;
            if (got as usize) < want {
                break;
            }
        }
        done as i64
    }

    fn openat<M: GuestAccess>(&mut self, mem: &mut M, dirfd: u64, path: u64, flags: u64) -> i64 {
        let (root, base, path) = match self.at_path(mem, dirfd, path) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let (file, dir) = match root.open_file(&base, &path, flags) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let slot = self.fds.iter().position(|f| f.is_none());
        let i = match slot {
            Some(i) => i,
            None if self.fds.len() < MAX_FDS => {
                self.fds.push(None);
                self.fds.len() - 1
            }
            None => return -errno::EMFILE,
        };
        self.fds[i] = Some(Fd::Host(file, dir));
        i as i64
    }

    /// The path argument of an `*at` call read from guest memory, the guest
    /// directory it starts from, and the granted file-system root it is
    /// resolved in (`-ENOENT` when none was granted).
    fn at_path<M: GuestAccess>(
        &self,
        mem: &mut M,
        dirfd: u64,
        path: u64,
    ) -> Result<(&FsRoot, GuestDir, Vec<u8>), i64> {
        let path = Self::get_path(mem, path)?;
        let base = self.dir_base(dirfd, &path)?;
        let root = self.fs_root.as_ref().ok_or(-ENOENT)?;
        Ok((root, base, path))
    }

    /// The guest directory a relative path in an `*at` call starts from.
    fn dir_base(&self, dirfd: u64, path: &[u8]) -> Result<GuestDir, i64> {
        if path.first() == Some(&b'/') || dirfd as i64 == fs::AT_FDCWD {
            return Ok(Vec::new());
        }
        match self.fd(dirfd) {
            None => Err(-EBADF),
            Some(Fd::Host(_, Some(dir))) => Ok(dir.clone()),
            Some(_) => Err(-ENOTDIR),
        }
    }

    fn close(&mut self, fd: u64) -> i64 {
        match usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) {
            Some(slot @ Some(_)) => {
                *slot = None;
                0
            }
            _ => -EBADF,
        }
    }

    fn lseek(&mut self, fd: u64, off: u64, whence: u64) -> i64 {
        match self.fd(fd) {
            None => -EBADF,
            Some(Fd::Host(f, _)) => {
                if whence > 4 {
                    return -EINVAL;
                }
                // SAFETY: plain lseek on an owned descriptor.
                let r = unsafe { libc::lseek(f.as_raw_fd(), off as libc::off_t, whence as i32) };
                if r < 0 {
                    -std::io::Error::last_os_error()
                        .raw_os_error()
                        .map_or(EIO, i64::from)
                } else {
                    r
                }
            }
            Some(_) => -ESPIPE,
        }
    }

    fn stat_of_fd(&self, fd: u64) -> Result<[u8; 128], i64> {
        match self.fd(fd) {
            None => Err(-EBADF),
            Some(Fd::Host(f, _)) => fs::host_lstat(f, None).map(|st| fs::guest_stat(&st)),
            Some(_) => Ok(fs::stream_stat(fd)),
        }
    }

    fn fstat<M: GuestAccess>(&mut self, mem: &mut M, fd: u64, buf: u64) -> i64 {
        match self.stat_of_fd(fd) {
            Ok(st) => self.put(mem, buf, &st).map_or_else(|e| e, |_| 0),
            Err(e) => e,
        }
    }

    fn newfstatat<M: GuestAccess>(
        &mut self,
        mem: &mut M,
        dirfd: u64,
        path: u64,
        buf: u64,
        flags: u64,
    ) -> i64 {
        if flags & !(fs::AT_SYMLINK_NOFOLLOW | fs::AT_EMPTY_PATH | 0x800 | 0x6000) != 0 {
            return -EINVAL;
        }
        let path = match Self::get_path(mem, path) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let st = if path.is_empty() {
            if flags & fs::AT_EMPTY_PATH == 0 {
                return -ENOENT;
            }
            if dirfd as i64 == fs::AT_FDCWD {
                match &self.fs_root {
                    Some(root) => match root.resolve(&[], b"/", true) {
                        Ok(r) => fs::host_lstat(&r.dir, None).map(|st| fs::guest_stat(&st)),
                        Err(e) => Err(e),
                    },
                    None => Err(-ENOENT),
                }
            } else {
                self.stat_of_fd(dirfd)
            }
        } else {
            let base = match self.dir_base(dirfd, &path) {
                Ok(b) => b,
                Err(e) => return e,
            };
            match &self.fs_root {
                None => Err(-ENOENT),
                Some(root) => root
                    .resolve(&base, &path, flags & fs::AT_SYMLINK_NOFOLLOW == 0)
                    .and_then(|r| fs::host_lstat(&r.dir, r.name.as_ref()))
                    .map(|st| fs::guest_stat(&st)),
            }
        };
        match st {
            Ok(st) => self.put(mem, buf, &st).map_or_else(|e| e, |_| 0),
            Err(e) => e,
        }
    }

    fn readlinkat<M: GuestAccess>(
        &mut self,
        mem: &mut M,
        dirfd: u64,
        path: u64,
        buf: u64,
        size: u64,
    ) -> i64 {
        if size as i64 <= 0 {
            return -EINVAL;
        }
        let (root, base, path) = match self.at_path(mem, dirfd, path) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let target = root.resolve(&base, &path, false).and_then(|r| match &r.name {
            None => Err(-EINVAL),
            Some(n) => {
                let st = fs::host_lstat(&r.dir, Some(n))?;
                if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
                    return Err(-EINVAL);
                }
                fs::host_readlink(&r.dir, n)
            }
        });
        match target {
            Ok(t) => {
                let n = t.len().min(size as usize);
                self.put(mem, buf, &t[..n]).map_or_else(|e| e, |_| n as i64)
            }
            Err(e) => e,
        }
    }

    /// `getcwd`: the guest's working directory is always `/`.
    fn getcwd<M: GuestAccess>(&mut self, mem: &mut M, buf: u64, size: u64) -> i64 {
        if size < 2 {
            return -errno::ERANGE;
        }
        self.put(mem, buf, b"/\0").map_or_else(|e| e, |_| 2)
    }

    fn prlimit<M: GuestAccess>(
        &mut self,
        mem: &mut M,
        pid: u64,
        res: u64,
        new: u64,
        old: u64,
    ) -> i64 {
        if pid != 0 && pid != GUEST_PID {
            return -ESRCH;
        }
        let Some(cur) = usize::try_from(res)
            .ok()
            .and_then(|r| self.rlimits.get(r).copied())
        else {
            return -EINVAL;
        };
        let mut next = None;
        if new != 0 {
            let b = match Self::get::<M, 16>(mem, new) {
                Ok(b) => b,
                Err(e) => return e,
            };
            let soft = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
            let hard = u64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
            if soft > hard {
                return -EINVAL;
            }
            if res as usize == RLIMIT_NOFILE && hard > MAX_FDS as u64 {
                return -EPERM;
            }
            next = Some((soft, hard));
        }
        if old != 0 {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&cur.0.to_le_bytes());
            b[8..].copy_from_slice(&cur.1.to_le_bytes());
            if let Err(e) = self.put(mem, old, &b) {
                return e;
            }
        }
        if let Some(l) = next {
            self.rlimits[res as usize] = l;
        }
        0
    }

    /// `getrandom`: host randomness, copied page by page.
    fn getrandom<M: GuestAccess>(&mut self, mem: &mut M, buf: u64, len: u64, flags: u64) -> i64 {
        const GRND_NONBLOCK: u64 = 1;
        const GRND_RANDOM: u64 = 2;
        const GRND_INSECURE: u64 = 4;
        if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
            || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
        {
            return -EINVAL;
        }
        let len = len.min((1 << 25) - 1);
        let mut done = 0;
        while done < len {
            let at = buf.wrapping_add(done);
            let n = (len - done).min(COPY_CHUNK - at % COPY_CHUNK) as usize;
            let mut chunk = [0u8; COPY_CHUNK as usize];
            if host_random(&mut chunk[..n]).is_err() {
                return if done > 0 { done as i64 } else { -EIO };
            }
            if self.put(mem, at, &chunk[..n]).is_err() {
                return if done > 0 { done as i64 } else { -EFAULT };
            }
            done += n as u64;
        }
        done as i64
    }

    /// `clock_gettime`/`clock_getres` on the host's clocks (the ids Linux
    /// defines for every process; per-process CPU clocks of other
    /// processes are not reachable).
    fn clock<M: GuestAccess>(&mut self, mem: &mut M, id: u64, ts: u64, res: bool) -> i64 {
        let id = id as i64;
        if !(0..=7).contains(&id) && id != 11 {
            return -EINVAL;
        }
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec; the id is one of Linux's fixed clocks.
        let r = unsafe {
            if res {
                libc::clock_getres(id as libc::clockid_t, &mut t)
            } else {
                libc::clock_gettime(id as libc::clockid_t, &mut t)
            }
        };
        if r != 0 {
            return -EINVAL;
        }
        if ts == 0 {
            return 0;
        }
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&t.tv_sec.to_le_bytes());
        b[8..].copy_from_slice(&t.tv_nsec.to_le_bytes());
        self.put(mem, ts, &b).map_or_else(|e| e, |_| 0)
    }

    fn gettimeofday<M: GuestAccess>(&mut self, mem: &mut M, tv: u64, tz: u64) -> i64 {
        if tv != 0 {
            let d = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&d.as_secs().to_le_bytes());
            b[8..].copy_from_slice(&u64::from(d.subsec_micros()).to_le_bytes());
            if let Err(e) = self.put(mem, tv, &b) {
                return e;
            }
        }
        if tz != 0 {
            // struct timezone: UTC, no DST.
            if let Err(e) = self.put(mem, tz, &[0u8; 8]) {
                return e;
            }
        }
        0
    }

    fn nanosleep<M: GuestAccess>(&mut self, mem: &mut M, req: u64, rem: u64) -> i64 {
        let b = match Self::get::<M, 16>(mem, req) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let sec = i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let nsec = i64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return -EINVAL;
        }
        std::thread::sleep(std::time::Duration::new(sec as u64, nsec as u32));
        if rem != 0 {
            // Never interrupted: nothing remains.
            if let Err(e) = self.put(mem, rem, &[0u8; 16]) {
                return e;
            }
        }
        0
    }

    /// `uname`: a Linux 6.1 riscv64 machine named `vm-core`.
    fn uname<M: GuestAccess>(&mut self, mem: &mut M, buf: u64) -> i64 {
        let mut b = [0u8; 6 * 65];
        for (i, f) in [
            "Linux",
            "vm-core",
            "6.1.0",
            "#1 SMP vm-core",
            "riscv64",
            "(none)",
        ]
        .iter()
        .enumerate()
        {
            b[65 * i..65 * i + f.len()].copy_from_slice(f.as_bytes());
        }
        self.put(mem, buf, &b).map_or_else(|e| e, |_| 0)
    }

    /// `sysinfo`: the guest's own machine: its memory size as total RAM,
    /// what no mapping covers as free, one process, no swap, the host's
    /// uptime. (glibc's `qsort` asks, through `sysconf(_SC_PHYS_PAGES)`.)
    fn sysinfo<M: GuestAccess>(&mut self, mem: &mut M, buf: u64) -> i64 {
        let mut b = [0u8; 112];
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut t) };
        let total = self.mm.limit();
        let used: u64 = self.mm.mappings().iter().map(|m| m.1 - m.0).sum();
        b[..8].copy_from_slice(&t.tv_sec.to_le_bytes());
        b[32..40].copy_from_slice(&total.to_le_bytes());
        b[40..48].copy_from_slice(&total.saturating_sub(used).to_le_bytes());
        b[80..82].copy_from_slice(&1u16.to_le_bytes());
        b[104..108].copy_from_slice(&1u32.to_le_bytes());
        self.put(mem, buf, &b).map_or_else(|e| e, |_| 0)
    }

    /// `rt_sigaction`: records the disposition (what a signal sent to the
    /// guest itself does: see [`Self::act`]) and reports the previous one.
    fn rt_sigaction<M: GuestAccess>(
        &mut self,
        mem: &mut M,
        sig: u64,
        act: u64,
        oact: u64,
        sigsetsize: u64,
    ) -> i64 {
        const SIGKILL: u64 = 9;
        const SIGSTOP: u64 = 19;
        if sigsetsize != 8 || !(1..=64).contains(&sig) {
            return -EINVAL;
        }
        if act != 0 && (sig == SIGKILL || sig == SIGSTOP) {
            return -EINVAL;
        }
        let mut next = None;
        if act != 0 {
            let b = match Self::get::<M, 24>(mem, act) {
                Ok(b) => b,
                Err(e) => return e,
            };
            let w = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8"));
            next = Some([w(0), w(1), w(2)]);
        }
        let i = (sig - 1) as usize;
        if oact != 0 {
            let b: Vec<u8> = self.sigactions[i]
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .collect();
            if let Err(e) = self.put(mem, oact, &b) {
                return e;
            }
        }
        if let Some(a) = next {
            self.sigactions[i] = a;
            // A signal that is ignored now is discarded from the pending set.
            if self.ignored(sig) {
                self.pending &= !(1 << i);
            }
        }
        0
    }

    /// The signal number a `kill`/`tkill`/`tgkill` call sends to the guest
    /// itself (0: only the checks), or its errno. The guest is one process
    /// of one thread ([`GUEST_PID`]); `kill` reaches it by its pid, its
    /// process group (0 or `-pid`); any other target does not exist.
    fn signal_target(&self, n: u64, a0: u64, a1: u64, a2: u64) -> Result<u64, i64> {
        let (target, sig) = match n {
            nr::KILL => {
                let pid = a0 as i32 as i64;
                let ok = pid == 0 || pid.unsigned_abs() == GUEST_PID;
                (if pid == -1 { Err(-ESRCH) } else { Ok(ok) }, a1)
            }
            nr::TKILL => {
                let tid = a0 as i32 as i64;
                (
                    if tid <= 0 {
                        Err(-EINVAL)
                    } else {
                        Ok(tid as u64 == GUEST_PID)
                    },
                    a1,
                )
            }
            _ => {
                let (tgid, tid) = (a0 as i32 as i64, a1 as i32 as i64);
                (
                    if tgid <= 0 || tid <= 0 {
                        Err(-EINVAL)
                    } else {
                        Ok(tgid as u64 == GUEST_PID && tid as u64 == GUEST_PID)
                    },
                    a2,
                )
            }
        };
        let sig = sig as i32;
        if !(0..=64).contains(&sig) {
            return Err(-EINVAL);
        }
        match target {
            Err(e) => Err(e),
            Ok(false) => Err(-ESRCH),
            Ok(true) => Ok(sig as u64),
        }
    }

    /// Whether `sig` is ignored: `SIG_IGN`, or `SIG_DFL` for a signal whose
    /// default action is to ignore it (SIGCHLD, SIGCONT, SIGURG, SIGWINCH).
    fn ignored(&self, sig: u64) -> bool {
        match self.sigactions[(sig - 1) as usize][0] {
            SIG_IGN => true,
            SIG_DFL => matches!(sig, 17 | 18 | 23 | 28),
            _ => false,
        }
    }

    /// Sends `sig` (0: none) to the guest: pending while blocked, otherwise
    /// its action now. Returns the exit status when it ends the guest.
    fn raise(&mut self, sig: u64) -> Option<i32> {
        if sig == 0 {
            return None;
        }
        let bit = 1u64 << (sig - 1);
        if self.sigmask & bit != 0 {
            self.pending |= bit;
            return None;
        }
        self.act(sig)
    }

    /// Acts on the lowest pending signal no longer blocked, then the next.
    fn act_on_pending(&mut self) -> Option<i32> {
        while self.pending & !self.sigmask != 0 {
            let sig = u64::from((self.pending & !self.sigmask).trailing_zeros()) + 1;
            self.pending &= !(1 << (sig - 1));
            if let Some(code) = self.act(sig) {
                return Some(code);
            }
        }
        None
    }

    /// The action of an unblocked `sig` as Linux takes it: ignored ones are
    /// discarded; the default action of the others ends the process, except
    /// the stop signals (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU), which would
    /// stop it until a SIGCONT no one can send (noted, not taken). A guest
    /// handler cannot run: noted once per signal, not delivered.
    fn act(&mut self, sig: u64) -> Option<i32> {
        if self.ignored(sig) {
            return None;
        }
        let bit = 1u64 << (sig - 1);
        if self.sigactions[(sig - 1) as usize][0] != SIG_DFL || matches!(sig, 19..=22) {
            if self.noted_handlers & bit == 0 {
                self.noted_handlers |= bit;
                let what = if matches!(sig, 19..=22) {
                    "stops the process: no job control in the VM, not stopped"
                } else {
                    "has a guest handler: not delivered (the VM runs no signal handlers)"
                };
                let _ = writeln!(self.stderr, "vm: signal {sig} {what}");
            }
            return None;
        }
        self.flush();
        Some(128 + sig as i32)
    }

    /// `rt_sigpending`: the blocked signals waiting (Linux reports the
    /// pending set masked by the blocked one).
    fn rt_sigpending<M: GuestAccess>(&mut self, mem: &mut M, set: u64, sigsetsize: u64) -> i64 {
        if sigsetsize > 8 {
            return -EINVAL;
        }
        let b = (self.pending & self.sigmask).to_le_bytes();
        self.put(mem, set, &b[..sigsetsize as usize])
            .map_or_else(|e| e, |_| 0)
    }

    /// `rt_sigprocmask`: keeps the blocked set (SIGKILL and SIGSTOP
    /// cannot be blocked).
    fn rt_sigprocmask<M: GuestAccess>(
        &mut self,
        mem: &mut M,
        how: u64,
        set: u64,
        oset: u64,
        sigsetsize: u64,
    ) -> i64 {
        if sigsetsize != 8 {
            return -EINVAL;
        }
        let mut next = None;
        if set != 0 {
            let b = match Self::get::<M, 8>(mem, set) {
                Ok(b) => b,
                Err(e) => return e,
            };
            let s = u64::from_le_bytes(b);
            next = Some(match how {
                0 => self.sigmask | s,
                1 => self.sigmask & !s,
                2 => s,
                _ => return -EINVAL,
            });
        }
        if oset != 0 {
            let old = self.sigmask.to_le_bytes();
            if let Err(e) = self.put(mem, oset, &old) {
                return e;
            }
        }
        if let Some(m) = next {
            self.sigmask = m & !((1 << 8) | (1 << 18));
        }
        0
    }
}

/// Fills `buf` with host randomness (the host's `getrandom` system call,
/// which blocks only until the host's pool is initialized at boot).
pub fn host_random(buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: `buf[done..]` is writable for its length.
        let n = unsafe {
            libc::getrandom(
                buf[done..].as_mut_ptr() as *mut libc::c_void,
                buf.len() - done,
                0,
            )
        };
        if n > 0 {
            done += n as usize;
        } else {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
    Ok(())
}
