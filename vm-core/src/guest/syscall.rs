//! Linux RISC-V system calls (number in a7, arguments in a0..a5, result in a0).

use std::io::Write;

use crate::engine::VmError;
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
        }
    }

    /// Sets the initial program break and its upper limit.
    pub fn reset_brk(&mut self, brk_start: u64, brk_max: u64) {
        self.brk_start = brk_start;
        self.brk = brk_start;
        self.brk_max = brk_max;
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
    pub fn handle(
        &mut self,
        cpu: &mut CpuState,
        mem: &mut GuestMemory,
        pc: u64,
    ) -> Result<SyscallOutcome, VmError> {
        let r = &mut cpu.globals;
        let (nr, a0, a1, a2) = (r[17], r[10], r[11], r[12]);
        let ret: i64 = match nr {
            SYS_WRITE => self.write(mem, a0, a1, a2),
            SYS_WRITEV => {
                let mut total = 0i64;
                for i in 0..a2.min(1024) {
                    let (base, len) = match (mem.load(a1 + 16 * i, 8), mem.load(a1 + 16 * i + 8, 8))
                    {
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

    fn write(&mut self, mem: &GuestMemory, fd: u64, buf: u64, len: u64) -> i64 {
        let data = match mem.slice(buf, len) {
            Ok(d) => d,
            Err(_) => return -EFAULT,
        };
        let out = match fd {
            1 => &mut self.stdout,
            2 => &mut self.stderr,
            _ => return -EBADF,
        };
        match out.write_all(data) {
            Ok(()) => len as i64,
            Err(_) => -EBADF,
        }
    }
}
