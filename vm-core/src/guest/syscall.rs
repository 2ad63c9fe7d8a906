//! Linux RISC-V system calls (number in a7, arguments in a0..a5, result in a0).
//!
//! Behaviour follows Linux where the VM implements a call:
//!
//! - `write(fd, buf, len)` on fd 1/2 copies page by page and, when only the
//!   first part of `buf` is readable, writes that part and returns its length;
//!   `-EFAULT` only when nothing could be read. Other fds: `-EBADF`.
//! - `writev(fd, iov, iovcnt)`: `-EINVAL` for `iovcnt > IOV_MAX` (1024) or a
//!   length that does not fit `ssize_t`; `-EFAULT` when the iovec array is
//!   unreadable; otherwise the buffers are written in order and the call stops
//!   at the first partial one, returning the bytes written so far.
//! - `read` on fd 0 returns 0 (stdin is empty), other fds `-EBADF`;
//!   `close` returns 0; `fstat` `-EINVAL`; `getpid`/`set_tid_address` 1;
//!   `getuid` 0; `brk` grows and shrinks the heap up to its limit;
//!   `exit`/`exit_group` stop the guest.
//! - Any other number returns `-ENOSYS`, as Linux and qemu-user do (glibc's
//!   start-up code copes with it), and the VM notes it once per call number
//!   on its stderr stream. With [`SyscallHandler::set_strict`] (the CLI's
//!   `--strict-syscalls`) an unknown call stops the VM with
//!   [`VmError::UnknownSyscall`] instead.

use std::io::Write;

use crate::engine::VmError;
use crate::memory::GuestAccess;
#[cfg(test)]
use crate::memory::GuestMemory;
use crate::state::CpuState;

const SYS_CLOSE: u64 = 57;
const SYS_READ: u64 = 63;
const SYS_WRITE: u64 = 64;
const SYS_WRITEV: u64 = 66;
const SYS_FSTAT: u64 = 80;
const SYS_EXIT: u64 = 93;
const SYS_EXIT_GROUP: u64 = 94;
const SYS_SET_TID_ADDRESS: u64 = 96;
const SYS_GETPID: u64 = 172;
const SYS_GETUID: u64 = 174;
const SYS_BRK: u64 = 214;

const EBADF: i64 = 9;
const EFAULT: i64 = 14;
const EINVAL: i64 = 22;
const ENOSYS: i64 = 38;

/// Most iovec entries one `writev` accepts (Linux `UIO_MAXIOV`).
pub const IOV_MAX: u64 = 1024;

/// Guest page size the write path copies by, so a partial copy stops exactly
/// at the first unreadable page.
const COPY_CHUNK: u64 = 4096;

/// What the guest asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallOutcome {
    /// Keep running.
    Continue,
    /// The guest exited with this status.
    Exit(i32),
}

/// Host side of the guest's system calls: output streams and program break.
pub struct SyscallHandler {
    stdout: Box<dyn Write + Send>,
    stderr: Box<dyn Write + Send>,
    brk_start: u64,
    brk: u64,
    brk_max: u64,
    /// Guest range the last call wrote behind the engine's back.
    written: Option<(u64, u64)>,
    /// Unknown system calls stop the VM instead of returning `-ENOSYS`.
    strict: bool,
    /// Unknown call numbers already noted on stderr (each is noted once).
    noted_unknown: Vec<u64>,
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
            brk_start,
            brk: brk_start,
            brk_max,
            written: None,
            strict: false,
            noted_unknown: Vec::new(),
        }
    }

    /// Strict mode: an unknown system call stops the VM with
    /// [`VmError::UnknownSyscall`] instead of returning `-ENOSYS`.
    pub fn set_strict(&mut self, strict: bool) {
        self.strict = strict;
    }

    /// Sets the initial program break and its upper limit.
    pub fn reset_brk(&mut self, brk_start: u64, brk_max: u64) {
        self.brk_start = brk_start;
        self.brk = brk_start;
        self.brk_max = brk_max;
    }

    /// Takes the guest range `[start, end)` the last system call wrote, so
    /// the engine can drop translations of code that lived there.
    pub fn take_written(&mut self) -> Option<(u64, u64)> {
        self.written.take()
    }

    /// Current program break.
    pub fn brk(&self) -> u64 {
        self.brk
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
        let (nr, a0, a1, a2) = (r[17], r[10], r[11], r[12]);
        let ret: i64 = match nr {
            SYS_WRITE => self.write(mem, a0, a1, a2),
            SYS_WRITEV => self.writev(mem, a0, a1, a2),
            SYS_READ => {
                if a0 != 0 {
                    -EBADF
                } else {
                    // Guest stdin is empty: reads report end of file.
                    0
                }
            }
            SYS_CLOSE => 0,
            SYS_FSTAT => -EINVAL,
            SYS_EXIT | SYS_EXIT_GROUP => {
                self.flush();
                return Ok(SyscallOutcome::Exit(a0 as i32));
            }
            SYS_SET_TID_ADDRESS | SYS_GETPID => 1,
            SYS_GETUID => 0,
            SYS_BRK => {
                if a0 >= self.brk_start && a0 <= self.brk_max {
                    if a0 < self.brk {
                        // Shrinking: the released range must read as zero when regrown.
                        let zeros = vec![0u8; (self.brk - a0) as usize];
                        let _ = mem.write_bytes(a0, &zeros);
                        self.written = Some((a0, self.brk));
                    }
                    self.brk = a0;
                }
                self.brk as i64
            }
            _ if self.strict => return Err(VmError::UnknownSyscall { nr, pc }),
            _ => {
                if !self.noted_unknown.contains(&nr) {
                    self.noted_unknown.push(nr);
                    let _ = writeln!(
                        self.stderr,
                        "vm: unknown system call {nr} at pc {pc:#x}: returning -ENOSYS"
                    );
                }
                -ENOSYS
            }
        };
        r[10] = ret as u64;
        Ok(SyscallOutcome::Continue)
    }

    fn write<M: GuestAccess>(&mut self, mem: &mut M, fd: u64, buf: u64, len: u64) -> i64 {
        if fd != 1 && fd != 2 {
            return -EBADF;
        }
        // Copied out in page-sized chunks: guest memory may be translated
        // page by page, and a huge length must not allocate on the host.
        let mut chunk = [0u8; COPY_CHUNK as usize];
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
            let out = if fd == 1 {
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
        if fd != 1 && fd != 2 {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn call(
        h: &mut SyscallHandler,
        cpu: &mut CpuState,
        mem: &mut GuestMemory,
        nr: u64,
        args: [u64; 3],
    ) -> Result<SyscallOutcome, VmError> {
        cpu.globals[17] = nr;
        cpu.globals[10..13].copy_from_slice(&args);
        h.handle(cpu, mem, 0x1000)
    }

    #[test]
    fn write_brk_and_exit() {
        let out = Buf::default();
        let mut h = SyscallHandler::new(
            Box::new(out.clone()),
            Box::new(std::io::sink()),
            0x10000,
            0x20000,
        );
        let mut cpu = CpuState::default();
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        mem.write_bytes(0x100, b"hello").unwrap();
        assert_eq!(
            call(&mut h, &mut cpu, &mut mem, SYS_WRITE, [1, 0x100, 5]).unwrap(),
            SyscallOutcome::Continue
        );
        assert_eq!(cpu.globals[10], 5);
        assert_eq!(&*out.0.lock().unwrap(), b"hello");
        // Bad pointer and bad fd are errno results, not VM errors.
        call(&mut h, &mut cpu, &mut mem, SYS_WRITE, [1, u64::MAX - 2, 5]).unwrap();
        assert_eq!(cpu.globals[10] as i64, -EFAULT);
        call(&mut h, &mut cpu, &mut mem, SYS_WRITE, [7, 0x100, 5]).unwrap();
        assert_eq!(cpu.globals[10] as i64, -EBADF);
        // brk: query, grow, refuse beyond the limit, shrink (zeroing) reports the range.
        call(&mut h, &mut cpu, &mut mem, SYS_BRK, [0, 0, 0]).unwrap();
        assert_eq!(cpu.globals[10], 0x10000);
        call(&mut h, &mut cpu, &mut mem, SYS_BRK, [0x18000, 0, 0]).unwrap();
        assert_eq!(cpu.globals[10], 0x18000);
        call(&mut h, &mut cpu, &mut mem, SYS_BRK, [0x30000, 0, 0]).unwrap();
        assert_eq!(cpu.globals[10], 0x18000);
        assert_eq!(h.take_written(), None);
        mem.write_bytes(0x17000, &[0xaa; 16]).unwrap();
        call(&mut h, &mut cpu, &mut mem, SYS_BRK, [0x16000, 0, 0]).unwrap();
        assert_eq!(h.take_written(), Some((0x16000, 0x18000)));
        assert_eq!(mem.load(0x17000, 8).unwrap(), 0);
        assert_eq!(
            call(&mut h, &mut cpu, &mut mem, SYS_EXIT_GROUP, [3, 0, 0]).unwrap(),
            SyscallOutcome::Exit(3)
        );
    }

    fn handler() -> (SyscallHandler, Buf, Buf, CpuState, GuestMemory) {
        let (out, err) = (Buf::default(), Buf::default());
        let h = SyscallHandler::new(Box::new(out.clone()), Box::new(err.clone()), 0, 0);
        (
            h,
            out,
            err,
            CpuState::default(),
            GuestMemory::new(1 << 20).unwrap(),
        )
    }

    #[test]
    fn unknown_syscall_returns_enosys_with_one_note_per_number() {
        let (mut h, _, err, mut cpu, mut mem) = handler();
        for _ in 0..3 {
            let r = call(&mut h, &mut cpu, &mut mem, 99, [0, 0, 0]).unwrap();
            assert_eq!(r, SyscallOutcome::Continue);
            assert_eq!(cpu.globals[10] as i64, -ENOSYS);
        }
        call(&mut h, &mut cpu, &mut mem, 4242, [0, 0, 0]).unwrap();
        assert_eq!(cpu.globals[10] as i64, -ENOSYS);
        let note = String::from_utf8(err.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            note,
            "vm: unknown system call 99 at pc 0x1000: returning -ENOSYS\n\
             vm: unknown system call 4242 at pc 0x1000: returning -ENOSYS\n"
        );
    }

    #[test]
    fn strict_mode_stops_on_unknown_syscall() {
        let (mut h, _, err, mut cpu, mut mem) = handler();
        h.set_strict(true);
        let e = call(&mut h, &mut cpu, &mut mem, 4242, [0, 0, 0]).unwrap_err();
        assert!(matches!(
            e,
            VmError::UnknownSyscall {
                nr: 4242,
                pc: 0x1000
            }
        ));
        assert!(err.0.lock().unwrap().is_empty());
    }

    #[test]
    fn write_of_a_partly_valid_buffer_writes_the_valid_part() {
        let (mut h, out, _, mut cpu, mut mem) = handler();
        let end = mem.len();
        mem.write_bytes(end - 3, b"xyz").unwrap();
        call(&mut h, &mut cpu, &mut mem, SYS_WRITE, [1, end - 3, 10]).unwrap();
        assert_eq!(cpu.globals[10], 3);
        assert_eq!(&*out.0.lock().unwrap(), b"xyz");
        // A buffer spanning several pages stops exactly at the end of memory.
        out.0.lock().unwrap().clear();
        call(&mut h, &mut cpu, &mut mem, SYS_WRITE, [1, end - 5000, 9000]).unwrap();
        assert_eq!(cpu.globals[10], 5000);
        assert_eq!(out.0.lock().unwrap().len(), 5000);
    }

    #[test]
    fn writev_follows_linux() {
        let (mut h, out, _, mut cpu, mut mem) = handler();
        let end = mem.len();
        mem.write_bytes(0x100, b"hello ").unwrap();
        mem.write_bytes(0x200, b"world").unwrap();
        mem.write_bytes(end - 2, b"!!").unwrap();
        let iov = |mem: &mut GuestMemory, at: u64, v: &[(u64, u64)]| {
            for (i, (b, l)) in v.iter().enumerate() {
                mem.store(at + 16 * i as u64, 8, *b).unwrap();
                mem.store(at + 16 * i as u64 + 8, 8, *l).unwrap();
            }
        };
        iov(&mut mem, 0x1000, &[(0x100, 6), (0x200, 5)]);
        call(&mut h, &mut cpu, &mut mem, SYS_WRITEV, [1, 0x1000, 2]).unwrap();
        assert_eq!(cpu.globals[10], 11);
        assert_eq!(&*out.0.lock().unwrap(), b"hello world");
        // The second buffer is only partly valid: the partial count, and the
        // third buffer is not written.
        out.0.lock().unwrap().clear();
        iov(&mut mem, 0x2000, &[(0x100, 6), (end - 2, 10), (0x200, 5)]);
        call(&mut h, &mut cpu, &mut mem, SYS_WRITEV, [1, 0x2000, 3]).unwrap();
        assert_eq!(cpu.globals[10], 8);
        assert_eq!(&*out.0.lock().unwrap(), b"hello !!");
        // A first buffer that is entirely invalid: -EFAULT, nothing written.
        out.0.lock().unwrap().clear();
        iov(&mut mem, 0x3000, &[(end + 100, 4)]);
        call(&mut h, &mut cpu, &mut mem, SYS_WRITEV, [1, 0x3000, 1]).unwrap();
        assert_eq!(cpu.globals[10] as i64, -EFAULT);
        // iovcnt above IOV_MAX: -EINVAL; exactly IOV_MAX is accepted.
        call(
            &mut h,
            &mut cpu,
            &mut mem,
            SYS_WRITEV,
            [1, 0x1000, IOV_MAX + 1],
        )
        .unwrap();
        assert_eq!(cpu.globals[10] as i64, -EINVAL);
        mem.write_bytes(0x4000, &vec![0u8; 16 * IOV_MAX as usize])
            .unwrap();
        call(&mut h, &mut cpu, &mut mem, SYS_WRITEV, [1, 0x4000, IOV_MAX]).unwrap();
        assert_eq!(cpu.globals[10], 0);
        // An unreadable iovec array: -EFAULT; a total above ssize_t: -EINVAL.
        call(&mut h, &mut cpu, &mut mem, SYS_WRITEV, [1, end - 8, 1]).unwrap();
        assert_eq!(cpu.globals[10] as i64, -EFAULT);
        iov(&mut mem, 0x5000, &[(0x100, u64::MAX / 2 + 1)]);
        call(&mut h, &mut cpu, &mut mem, SYS_WRITEV, [1, 0x5000, 1]).unwrap();
        assert_eq!(cpu.globals[10] as i64, -EINVAL);
        assert!(out.0.lock().unwrap().is_empty());
    }
}
