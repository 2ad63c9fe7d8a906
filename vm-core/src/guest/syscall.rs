//! Linux RISC-V system calls (number in a7, arguments in a0..a5, result in a0).

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
        }
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
            SYS_WRITEV => {
                let mut total = 0i64;
                for i in 0..a2.min(1024) {
                    let (base, len) = match (
                        mem.load(a1.wrapping_add(16 * i), 8),
                        mem.load(a1.wrapping_add(16 * i + 8), 8),
                    ) {
                        (Ok(b), Ok(l)) => (b, l),
                        _ => {
                            total = -EFAULT;
                            break;
                        }
                    };
                    let n = self.write(mem, a0, base, len);
                    if n < 0 {
                        total = n;
                        break;
                    }
                    total += n;
                }
                total
            }
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
            _ => return Err(VmError::UnknownSyscall { nr, pc }),
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
        let mut chunk = [0u8; 4096];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(chunk.len() as u64) as usize;
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
    fn write_brk_exit_and_unknown() {
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
        let e = call(&mut h, &mut cpu, &mut mem, 4242, [0, 0, 0]).unwrap_err();
        assert!(matches!(
            e,
            VmError::UnknownSyscall {
                nr: 4242,
                pc: 0x1000
            }
        ));
        assert_eq!(
            call(&mut h, &mut cpu, &mut mem, SYS_EXIT_GROUP, [3, 0, 0]).unwrap(),
            SyscallOutcome::Exit(3)
        );
    }
}
