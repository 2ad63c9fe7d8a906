//! Unit tests of the system calls (errno cases included).
use super::*;
use crate::memory::GuestMemory;
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
        call(&mut h, &mut cpu, &mut mem, nr::WRITE, [1, 0x100, 5]).unwrap(),
        SyscallOutcome::Continue
    );
    assert_eq!(cpu.globals[10], 5);
    assert_eq!(&*out.0.lock().unwrap(), b"hello");
    // Bad pointer and bad fd are errno results, not VM errors.
    call(&mut h, &mut cpu, &mut mem, nr::WRITE, [1, u64::MAX - 2, 5]).unwrap();
    assert_eq!(cpu.globals[10] as i64, -EFAULT);
    call(&mut h, &mut cpu, &mut mem, nr::WRITE, [7, 0x100, 5]).unwrap();
    assert_eq!(cpu.globals[10] as i64, -EBADF);
    // brk: query, grow (a fresh read/write mapping), refuse beyond the
    // limit, shrink (unmapped); regrown pages read as zero.
    call(&mut h, &mut cpu, &mut mem, nr::BRK, [0, 0, 0]).unwrap();
    assert_eq!(cpu.globals[10], 0x10000);
    call(&mut h, &mut cpu, &mut mem, nr::BRK, [0x18000, 0, 0]).unwrap();
    assert_eq!(cpu.globals[10], 0x18000);
    assert_eq!(
        h.take_map_effects(),
        vec![MapEffect::Map {
            start: 0x10000,
            end: 0x18000,
            prot: PROT_READ | PROT_WRITE,
            zero: true
        }]
    );
    call(&mut h, &mut cpu, &mut mem, nr::BRK, [0x30000, 0, 0]).unwrap();
    assert_eq!(cpu.globals[10], 0x18000);
    assert!(h.take_map_effects().is_empty());
    call(&mut h, &mut cpu, &mut mem, nr::BRK, [0x15800, 0, 0]).unwrap();
    assert_eq!(cpu.globals[10], 0x15800);
    assert_eq!(
        h.take_map_effects(),
        vec![MapEffect::Unmap {
            start: 0x16000,
            end: 0x18000
        }]
    );
    assert_eq!(h.brk(), 0x15800);
    assert_eq!(h.take_written(), None);
    assert_eq!(
        call(&mut h, &mut cpu, &mut mem, nr::EXIT_GROUP, [3, 0, 0]).unwrap(),
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
        let r = call(&mut h, &mut cpu, &mut mem, 1000, [0, 0, 0]).unwrap();
        assert_eq!(r, SyscallOutcome::Continue);
        assert_eq!(cpu.globals[10] as i64, -ENOSYS);
    }
    call(&mut h, &mut cpu, &mut mem, 4242, [0, 0, 0]).unwrap();
    assert_eq!(cpu.globals[10] as i64, -ENOSYS);
    let note = String::from_utf8(err.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        note,
        "vm: unknown system call 1000 at pc 0x1000: returning -ENOSYS\n\
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
    call(&mut h, &mut cpu, &mut mem, nr::WRITE, [1, end - 3, 10]).unwrap();
    assert_eq!(cpu.globals[10], 3);
    assert_eq!(&*out.0.lock().unwrap(), b"xyz");
    // A buffer spanning several pages stops exactly at the end of memory.
    out.0.lock().unwrap().clear();
    call(&mut h, &mut cpu, &mut mem, nr::WRITE, [1, end - 5000, 9000]).unwrap();
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
    call(&mut h, &mut cpu, &mut mem, nr::WRITEV, [1, 0x1000, 2]).unwrap();
    assert_eq!(cpu.globals[10], 11);
    assert_eq!(&*out.0.lock().unwrap(), b"hello world");
    // The second buffer is only partly valid: the partial count, and the
    // third buffer is not written.
    out.0.lock().unwrap().clear();
    iov(&mut mem, 0x2000, &[(0x100, 6), (end - 2, 10), (0x200, 5)]);
    call(&mut h, &mut cpu, &mut mem, nr::WRITEV, [1, 0x2000, 3]).unwrap();
    assert_eq!(cpu.globals[10], 8);
    assert_eq!(&*out.0.lock().unwrap(), b"hello !!");
    // A first buffer that is entirely invalid: -EFAULT, nothing written.
    out.0.lock().unwrap().clear();
    iov(&mut mem, 0x3000, &[(end + 100, 4)]);
    call(&mut h, &mut cpu, &mut mem, nr::WRITEV, [1, 0x3000, 1]).unwrap();
    assert_eq!(cpu.globals[10] as i64, -EFAULT);
    // iovcnt above IOV_MAX: -EINVAL; exactly IOV_MAX is accepted.
    call(
        &mut h,
        &mut cpu,
        &mut mem,
        nr::WRITEV,
        [1, 0x1000, IOV_MAX + 1],
    )
    .unwrap();
    assert_eq!(cpu.globals[10] as i64, -EINVAL);
    mem.write_bytes(0x4000, &vec![0u8; 16 * IOV_MAX as usize])
        .unwrap();
    call(&mut h, &mut cpu, &mut mem, nr::WRITEV, [1, 0x4000, IOV_MAX]).unwrap();
    assert_eq!(cpu.globals[10], 0);
    // An unreadable iovec array: -EFAULT; a total above ssize_t: -EINVAL.
    call(&mut h, &mut cpu, &mut mem, nr::WRITEV, [1, end - 8, 1]).unwrap();
    assert_eq!(cpu.globals[10] as i64, -EFAULT);
    iov(&mut mem, 0x5000, &[(0x100, u64::MAX / 2 + 1)]);
    call(&mut h, &mut cpu, &mut mem, nr::WRITEV, [1, 0x5000, 1]).unwrap();
    assert_eq!(cpu.globals[10] as i64, -EINVAL);
    assert!(out.0.lock().unwrap().is_empty());
}

/// Calls `nr` with up to six arguments; returns a0 as a signed value.
fn sys(h: &mut SyscallHandler, mem: &mut GuestMemory, nr: u64, args: &[u64]) -> i64 {
    let mut cpu = CpuState::default();
    cpu.globals[17] = nr;
    cpu.globals[10..10 + args.len()].copy_from_slice(args);
    assert_eq!(h.handle(&mut cpu, mem, 0x1000).unwrap(), SyscallOutcome::Continue);
    cpu.globals[10] as i64
}

const MB: u64 = 1 << 20;
const RW: u64 = (PROT_READ | PROT_WRITE) as u64;
const PRIV_ANON: u64 = 0x22;

/// A handler over a 256 MiB layout: image at 0x10000 (r-x) and
/// 0x20000..0x23000 (rw-), break at 0x23000, mmap below 248 MiB, stack
/// above.
fn layout() -> (SyscallHandler, Buf, GuestMemory) {
    let (mut h, _, err, _, _) = handler();
    let limit = 256 * MB;
    h.init_address_space(
        limit,
        0x23000,
        limit - 8 * MB,
        &[
            (0x10000, 0x11800, PROT_READ | PROT_EXEC),
            (0x20000, 0x23000, PROT_READ | PROT_WRITE),
            (limit - 8 * MB, limit, PROT_READ | PROT_WRITE),
        ],
        8 * MB,
    );
    (h, err, GuestMemory::new(MB).unwrap())
}

#[test]
fn mmap_places_zeroed_mappings_top_down_and_follows_linux_errnos() {
    let (mut h, _, mut m) = layout();
    let top = 248 * MB;
    // A 64 MB malloc block (glibc asks for 64 MB + a page) fits.
    let big = 64 * MB + 4096;
    let a = sys(&mut h, &mut m, nr::MMAP, &[0, big, RW, PRIV_ANON, u64::MAX, 0]);
    assert_eq!(a as u64, top - big);
    assert_eq!(
        h.take_map_effects(),
        vec![MapEffect::Map {
            start: top - big,
            end: top,
            prot: PROT_READ | PROT_WRITE,
            zero: true
        }]
    );
    // The next one goes below it; lengths round up to pages.
    let b = sys(&mut h, &mut m, nr::MMAP, &[0, 10, PROT_READ as u64, PRIV_ANON, 0, 0]);
    assert_eq!(b as u64, top - big - 4096);
    assert_eq!(h.address_space().prot_at(b as u64), Some(PROT_READ));
    // A free hint is taken as is.
    let c = sys(&mut h, &mut m, nr::MMAP, &[0x0400_0000, 4096, RW, PRIV_ANON, 0, 0]);
    assert_eq!(c, 0x0400_0000);
    h.take_map_effects();
    for (args, e) in [
        // Zero length, unaligned offset, no MAP_PRIVATE/MAP_SHARED, bad prot.
        ([0, 0, RW, PRIV_ANON, 0, 0], -EINVAL),
        ([0, 4096, RW, PRIV_ANON, 0, 100], -EINVAL),
        ([0, 4096, RW, 0x20, 0, 0], -EINVAL),
        ([0, 4096, 8, PRIV_ANON, 0, 0], -EINVAL),
        // File mappings: bad fd, or a file (not supported).
        ([0, 4096, RW, 0x02, 7, 0], -EBADF),
        ([0, 4096, RW, 0x02, 1, 0], -ENODEV),
        // Larger than the address space; more than what is free.
        ([0, u64::MAX - 10, RW, PRIV_ANON, 0, 0], -ENOMEM),
        ([0, 200 * MB, RW, PRIV_ANON, 0, 0], -ENOMEM),
        // MAP_FIXED: unaligned, page 0, beyond the end.
        ([0x5001, 4096, RW, PRIV_ANON | 0x10, 0, 0], -EINVAL),
        ([0, 4096, RW, PRIV_ANON | 0x10, 0, 0], -ENOMEM),
        ([256 * MB, 4096, RW, PRIV_ANON | 0x10, 0, 0], -ENOMEM),
        // MAP_FIXED_NOREPLACE over the image.
        ([0x10000, 4096, RW, PRIV_ANON | 0x10_0000, 0, 0], -EEXIST),
    ] {
        assert_eq!(sys(&mut h, &mut m, nr::MMAP, &args), e, "{args:x?}");
    }
    assert!(!h.has_map_effects());
    // MAP_FIXED replaces what was there (part of the image here).
    let f = sys(&mut h, &mut m, nr::MMAP, &[0x11000, 4096, RW, PRIV_ANON | 0x10, 0, 0]);
    assert_eq!(f, 0x11000);
    assert_eq!(
        h.address_space().mappings()[..2],
        [
            (0x10000, 0x11000, PROT_READ | PROT_EXEC),
            (0x11000, 0x12000, PROT_READ | PROT_WRITE)
        ]
    );
}

#[test]
fn munmap_mprotect_mremap_and_madvise_keep_the_books_at_page_granularity() {
    let (mut h, _, mut m) = layout();
    let a = sys(&mut h, &mut m, nr::MMAP, &[0, 16 * 4096, RW, PRIV_ANON, 0, 0]) as u64;
    h.take_map_effects();
    // munmap: errnos, then a hole in the middle splits the mapping.
    assert_eq!(sys(&mut h, &mut m, nr::MUNMAP, &[a + 1, 4096]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::MUNMAP, &[a, 0]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::MUNMAP, &[a, u64::MAX - 4096]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::MUNMAP, &[a + 4 * 4096, 4095]), 0);
    assert_eq!(
        h.take_map_effects(),
        vec![MapEffect::Unmap {
            start: a + 4 * 4096,
            end: a + 5 * 4096
        }]
    );
    assert_eq!(h.address_space().prot_at(a + 4 * 4096), None);
    assert_eq!(h.address_space().prot_at(a + 5 * 4096), Some(PROT_READ | PROT_WRITE));
    // Unmapping what is not mapped is fine.
    assert_eq!(sys(&mut h, &mut m, nr::MUNMAP, &[a + 4 * 4096, 4096]), 0);
    h.take_map_effects();
    // mprotect: across the hole -> ENOMEM and nothing changes.
    assert_eq!(sys(&mut h, &mut m, nr::MPROTECT, &[a, 8 * 4096, 1]), -ENOMEM);
    assert!(!h.has_map_effects());
    assert_eq!(sys(&mut h, &mut m, nr::MPROTECT, &[a + 2, 4096, 1]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::MPROTECT, &[a, 4096, 0x10]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::MPROTECT, &[a, 0, 1]), 0);
    assert_eq!(sys(&mut h, &mut m, nr::MPROTECT, &[a + 4096, 4096, 1]), 0);
    assert_eq!(
        h.take_map_effects(),
        vec![MapEffect::Map {
            start: a + 4096,
            end: a + 2 * 4096,
            prot: PROT_READ,
            zero: false
        }]
    );
    assert_eq!(h.address_space().prot_at(a), Some(PROT_READ | PROT_WRITE));
    assert_eq!(h.address_space().prot_at(a + 4096), Some(PROT_READ));
    assert_eq!(h.address_space().prot_at(a + 2 * 4096), Some(PROT_READ | PROT_WRITE));
    // The RELRO call glibc makes: image pages re-protected read-only.
    assert_eq!(sys(&mut h, &mut m, nr::MPROTECT, &[0x21000, 8192, 1]), 0);
    h.take_map_effects();
    // madvise(DONTNEED) zeroes mapped pages; unmapped -> ENOMEM.
    assert_eq!(sys(&mut h, &mut m, nr::MADVISE, &[a, 4096, 4]), 0);
    assert_eq!(
        h.take_map_effects(),
        vec![MapEffect::Zero {
            start: a,
            end: a + 4096
        }]
    );
    assert_eq!(sys(&mut h, &mut m, nr::MADVISE, &[a + 4 * 4096, 4096, 4]), -ENOMEM);
    assert_eq!(sys(&mut h, &mut m, nr::MADVISE, &[a, 4096, 0]), 0);
    assert!(!h.has_map_effects());
    // mremap: shrink in place (glibc's realloc of an mmapped chunk).
    let tail = a + 5 * 4096; // 11 pages, rw
    assert_eq!(sys(&mut h, &mut m, nr::MREMAP, &[tail, 11 * 4096, 4096, 1, 0]), tail as i64);
    assert_eq!(
        h.take_map_effects(),
        vec![MapEffect::Unmap {
            start: tail + 4096,
            end: tail + 11 * 4096
        }]
    );
    // Grow in place into the freed pages.
    assert_eq!(sys(&mut h, &mut m, nr::MREMAP, &[tail, 4096, 3 * 4096, 0, 0]), tail as i64);
    assert_eq!(
        h.take_map_effects(),
        vec![MapEffect::Map {
            start: tail + 4096,
            end: tail + 3 * 4096,
            prot: PROT_READ | PROT_WRITE,
            zero: true
        }]
    );
    // Growing the first page (the second is mapped): only with MAYMOVE.
    assert_eq!(sys(&mut h, &mut m, nr::MREMAP, &[a, 4096, 2 * 4096, 0, 0]), -ENOMEM);
    let moved = sys(&mut h, &mut m, nr::MREMAP, &[a, 4096, 2 * 4096, 1, 0]) as u64;
    assert_ne!(moved, a);
    assert_eq!(
        h.take_map_effects(),
        vec![
            MapEffect::Map {
                start: moved,
                end: moved + 2 * 4096,
                prot: PROT_READ | PROT_WRITE,
                zero: true
            },
            MapEffect::Copy {
                from: a,
                to: moved,
                len: 4096
            },
            MapEffect::Unmap {
                start: a,
                end: a + 4096
            }
        ]
    );
    assert_eq!(h.address_space().prot_at(a), None);
    // Unmapped old range, bad flags, FIXED without MAYMOVE.
    assert_eq!(sys(&mut h, &mut m, nr::MREMAP, &[a, 4096, 8192, 1, 0]), -EFAULT);
    assert_eq!(sys(&mut h, &mut m, nr::MREMAP, &[moved, 4096, 8192, 8, 0]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::MREMAP, &[moved, 4096, 8192, 2, 0]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::MREMAP, &[moved, 4096, 0, 1, 0]), -EINVAL);
}

#[test]
fn sysinfo_reports_the_guest_memory() {
    let (mut h, _, mut m) = layout();
    assert_eq!(sys(&mut h, &mut m, nr::SYSINFO, &[0x100]), 0);
    assert_eq!(m.load(0x100 + 32, 8).unwrap(), 256 * MB);
    // Free: all but the image pages and the 8 MiB stack region.
    assert_eq!(m.load(0x100 + 40, 8).unwrap(), 248 * MB - 0x5000);
    assert_eq!(m.load(0x100 + 80, 2).unwrap(), 1);
    assert_eq!(m.load(0x100 + 104, 4).unwrap(), 1);
    assert_eq!(sys(&mut h, &mut m, nr::SYSINFO, &[u64::MAX - 8]), -EFAULT);
}

#[test]
fn brk_does_not_grow_into_a_mapping() {
    let (mut h, _, mut m) = layout();
    assert_eq!(sys(&mut h, &mut m, nr::BRK, &[0]), 0x23000);
    let fixed = PRIV_ANON | 0x10;
    assert_eq!(sys(&mut h, &mut m, nr::MMAP, &[0x40000, 4096, RW, fixed, 0, 0]), 0x40000);
    assert_eq!(sys(&mut h, &mut m, nr::BRK, &[0x3f000]), 0x3f000);
    assert_eq!(sys(&mut h, &mut m, nr::BRK, &[0x40001]), 0x3f000);
    // Below the start or above the mmap area: unchanged.
    assert_eq!(sys(&mut h, &mut m, nr::BRK, &[0x1000]), 0x3f000);
    assert_eq!(sys(&mut h, &mut m, nr::BRK, &[250 * MB]), 0x3f000);
    // mmap without a hint never lands on the heap.
    h.take_map_effects();
    let a = sys(&mut h, &mut m, nr::MMAP, &[0, 4096, RW, PRIV_ANON, 0, 0]) as u64;
    assert!(a >= 0x40000);
}

#[test]
fn process_calls_report_what_linux_reports() {
    let (mut h, _, err, _, mut m) = handler();
    assert_eq!(sys(&mut h, &mut m, nr::SET_TID_ADDRESS, &[0x500]), GUEST_PID as i64);
    assert_eq!(sys(&mut h, &mut m, nr::GETTID, &[]), GUEST_PID as i64);
    assert_eq!(sys(&mut h, &mut m, nr::SET_ROBUST_LIST, &[0x600, 24]), 0);
    assert_eq!(sys(&mut h, &mut m, nr::SET_ROBUST_LIST, &[0x600, 16]), -EINVAL);
    for n in [nr::GETUID, nr::GETEUID, nr::GETGID, nr::GETEGID] {
        assert_eq!(sys(&mut h, &mut m, n, &[]), 0);
    }
    // No threads: -ENOSYS without a note on stderr.
    assert_eq!(sys(&mut h, &mut m, nr::CLONE, &[0x11, 0, 0, 0, 0]), -ENOSYS);
    assert_eq!(sys(&mut h, &mut m, nr::CLONE3, &[0, 0]), -ENOSYS);
    assert!(err.0.lock().unwrap().is_empty());
    // prlimit64: RLIMIT_STACK as glibc reads it at start-up.
    assert_eq!(sys(&mut h, &mut m, nr::PRLIMIT64, &[0, 3, 0, 0x100]), 0);
    assert_eq!(m.load(0x100, 8).unwrap(), 8 * MB);
    assert_eq!(m.load(0x108, 8).unwrap(), u64::MAX);
    // Set, then read back through getrlimit.
    m.store(0x200, 8, 1000).unwrap();
    m.store(0x208, 8, 2000).unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::PRLIMIT64, &[GUEST_PID, 2, 0x200, 0x100]), 0);
    assert_eq!(m.load(0x100, 8).unwrap(), u64::MAX);
    assert_eq!(sys(&mut h, &mut m, nr::GETRLIMIT, &[2, 0x300]), 0);
    assert_eq!(m.load(0x300, 8).unwrap(), 1000);
    assert_eq!(m.load(0x308, 8).unwrap(), 2000);
    m.store(0x200, 8, 3000).unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::SETRLIMIT, &[2, 0x200]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::PRLIMIT64, &[77, 3, 0, 0x100]), -ESRCH);
    assert_eq!(sys(&mut h, &mut m, nr::PRLIMIT64, &[0, 16, 0, 0x100]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::PRLIMIT64, &[0, 3, 0, u64::MAX - 4]), -EFAULT);
    // ioctl: no terminals.
    assert_eq!(sys(&mut h, &mut m, nr::IOCTL, &[1, 0x5401, 0x100]), -ENOTTY);
    assert_eq!(sys(&mut h, &mut m, nr::IOCTL, &[9, 0x5401, 0x100]), -EBADF);
    // uname.
    assert_eq!(sys(&mut h, &mut m, nr::UNAME, &[0x1000]), 0);
    let mut u = [0u8; 390];
    m.read_bytes(0x1000, &mut u).unwrap();
    assert_eq!(&u[..6], b"Linux\0");
    assert_eq!(&u[4 * 65..4 * 65 + 8], b"riscv64\0");
    assert_eq!(sys(&mut h, &mut m, nr::UNAME, &[u64::MAX - 100]), -EFAULT);
    assert_eq!(sys(&mut h, &mut m, nr::GETCWD, &[0x2000, 64]), 2);
    assert_eq!(sys(&mut h, &mut m, nr::GETCWD, &[0x2000, 1]), -ERANGE);
}

#[test]
fn getrandom_and_clocks_use_the_host() {
    let (mut h, _, _, _, mut m) = handler();
    assert_eq!(sys(&mut h, &mut m, nr::GETRANDOM, &[0x100, 64, 1]), 64);
    assert_eq!(sys(&mut h, &mut m, nr::GETRANDOM, &[0x200, 64, 0]), 64);
    let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
    m.read_bytes(0x100, &mut a).unwrap();
    m.read_bytes(0x200, &mut b).unwrap();
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 64]);
    assert_eq!(h.take_written(), Some((0x100, 0x240)));
    assert_eq!(sys(&mut h, &mut m, nr::GETRANDOM, &[0x100, 8, 8]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::GETRANDOM, &[0x100, 8, 6]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::GETRANDOM, &[u64::MAX - 100, 8, 0]), -EFAULT);
    // Partly writable buffer: the writable part.
    let end = m.len();
    assert_eq!(sys(&mut h, &mut m, nr::GETRANDOM, &[end - 10, 64, 0]), 10);
    // clock_gettime: monotonic does not go back; realtime is after 2020.
    assert_eq!(sys(&mut h, &mut m, nr::CLOCK_GETTIME, &[1, 0x300]), 0);
    assert_eq!(sys(&mut h, &mut m, nr::CLOCK_GETTIME, &[1, 0x310]), 0);
    let t = |m: &GuestMemory, a: u64| {
        (m.load(a, 8).unwrap() as i128) * 1_000_000_000 + m.load(a + 8, 8).unwrap() as i128
    };
    assert!(t(&m, 0x310) >= t(&m, 0x300));
    assert!(m.load(0x308, 8).unwrap() < 1_000_000_000);
    assert_eq!(sys(&mut h, &mut m, nr::CLOCK_GETTIME, &[0, 0x300]), 0);
    assert!(m.load(0x300, 8).unwrap() > 1_577_836_800);
    assert_eq!(sys(&mut h, &mut m, nr::CLOCK_GETTIME, &[42, 0x300]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::CLOCK_GETTIME, &[(-6i64) as u64, 0x300]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::CLOCK_GETTIME, &[1, u64::MAX - 4]), -EFAULT);
    assert_eq!(sys(&mut h, &mut m, nr::CLOCK_GETRES, &[1, 0x320]), 0);
    assert!(m.load(0x328, 8).unwrap() > 0);
    assert_eq!(sys(&mut h, &mut m, nr::GETTIMEOFDAY, &[0x400, 0x420]), 0);
    assert!(m.load(0x400, 8).unwrap() > 1_577_836_800);
    assert!(m.load(0x408, 8).unwrap() < 1_000_000);
    assert_eq!(sys(&mut h, &mut m, nr::GETTIMEOFDAY, &[u64::MAX - 4, 0]), -EFAULT);
    // nanosleep: invalid nanoseconds.
    m.store(0x500, 8, 0).unwrap();
    m.store(0x508, 8, 1_000_000_000).unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::NANOSLEEP, &[0x500, 0]), -EINVAL);
    m.store(0x508, 8, 1000).unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::NANOSLEEP, &[0x500, 0x510]), 0);
}

#[test]
fn signal_calls_are_recorded_not_delivered() {
    let (mut h, _, _, _, mut m) = handler();
    // rt_sigaction(SIGINT, act, oact): the old one is the default.
    m.write_bytes(0x100, &[0xab; 24]).unwrap();
    m.write_bytes(0x200, &[0xff; 24]).unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGACTION, &[2, 0x100, 0x200, 8]), 0);
    assert_eq!(m.load(0x200, 8).unwrap(), 0);
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGACTION, &[2, 0, 0x200, 8]), 0);
    assert_eq!(m.load(0x210, 8).unwrap(), 0xabab_abab_abab_abab);
    for args in [[9, 0x100, 0, 8], [19, 0x100, 0, 8], [0, 0, 0, 8], [65, 0, 0, 8], [2, 0, 0, 4]] {
        assert_eq!(sys(&mut h, &mut m, nr::RT_SIGACTION, &args), -EINVAL, "{args:?}");
    }
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGACTION, &[9, 0, 0x200, 8]), 0);
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGACTION, &[2, u64::MAX - 8, 0, 8]), -EFAULT);
    // rt_sigprocmask: block, unblock, set; SIGKILL cannot be blocked.
    m.store(0x300, 8, (1 << 1) | (1 << 8)).unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGPROCMASK, &[0, 0x300, 0x308, 8]), 0);
    assert_eq!(m.load(0x308, 8).unwrap(), 0);
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGPROCMASK, &[1, 0, 0x308, 8]), 0);
    assert_eq!(m.load(0x308, 8).unwrap(), 1 << 1);
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGPROCMASK, &[3, 0x300, 0, 8]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGPROCMASK, &[0, 0x300, 0, 16]), -EINVAL);
    // how is ignored without a set.
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGPROCMASK, &[3, 0, 0x308, 8]), 0);
}

/// A fresh directory under the host's temp dir, removed on drop.
struct TempDir(std::path::PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("vm-core-fs-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `openat(AT_FDCWD, path, flags)` with the path placed at 0x8000.
fn open(h: &mut SyscallHandler, m: &mut GuestMemory, dirfd: u64, path: &str, flags: u64) -> i64 {
    let mut p = path.as_bytes().to_vec();
    p.push(0);
    m.write_bytes(0x8000, &p).unwrap();
    sys(h, m, nr::OPENAT, &[dirfd, 0x8000, flags])
}

const AT_FDCWD: u64 = (-100i64) as u64;

#[test]
fn files_are_readable_only_below_the_granted_root() {
    let (mut h, _, _, _, mut m) = handler();
    let t = TempDir::new("root");
    let root = t.0.join("root");
    std::fs::create_dir_all(root.join("dir/sub")).unwrap();
    std::fs::write(root.join("dir/data.txt"), b"0123456789").unwrap();
    std::fs::write(t.0.join("secret"), b"host secret").unwrap();
    use std::os::unix::fs::symlink;
    symlink("/dir/data.txt", root.join("abs-link")).unwrap();
    symlink("../../secret", root.join("dir/escape")).unwrap();
    symlink(t.0.join("secret"), root.join("host-abs")).unwrap();
    symlink("loop2", root.join("loop1")).unwrap();
    symlink("loop1", root.join("loop2")).unwrap();
    // Without a root nothing opens.
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "/dir/data.txt", 0), -ENOENT);
    h.set_fs_root(Some(FsRoot::open(&root).unwrap()));
    let fd = open(&mut h, &mut m, AT_FDCWD, "/dir/data.txt", 0);
    assert_eq!(fd, 3);
    let fd = fd as u64;
    assert_eq!(sys(&mut h, &mut m, nr::READ, &[fd, 0x100, 4]), 4);
    assert_eq!(h.take_written(), Some((0x100, 0x104)));
    assert_eq!(sys(&mut h, &mut m, nr::READ, &[fd, 0x104, 100]), 6);
    let mut b = [0u8; 10];
    m.read_bytes(0x100, &mut b).unwrap();
    assert_eq!(&b, b"0123456789");
    assert_eq!(sys(&mut h, &mut m, nr::READ, &[fd, 0x100, 100]), 0);
    assert_eq!(sys(&mut h, &mut m, nr::LSEEK, &[fd, 2, 0]), 2);
    assert_eq!(sys(&mut h, &mut m, nr::READ, &[fd, 0x200, 3]), 3);
    assert_eq!(m.load(0x200, 2).unwrap(), u64::from(u16::from_le_bytes(*b"23")));
    assert_eq!(sys(&mut h, &mut m, nr::LSEEK, &[fd, 0, 9]), -EINVAL);
    assert_eq!(sys(&mut h, &mut m, nr::PREAD64, &[fd, 0x300, 2, 8]), 2);
    assert_eq!(m.load(0x300, 2).unwrap(), u64::from(u16::from_le_bytes(*b"89")));
    // Unreadable guest buffer: -EFAULT, the file position unchanged.
    assert_eq!(sys(&mut h, &mut m, nr::READ, &[fd, u64::MAX - 100, 3]), -EFAULT);
    assert_eq!(sys(&mut h, &mut m, nr::READ, &[fd, 0x200, 1]), 1);
    assert_eq!(m.load(0x200, 1).unwrap(), u64::from(b'5'));
    // fstat and newfstatat(fd, "", AT_EMPTY_PATH): a 10-byte regular file.
    assert_eq!(sys(&mut h, &mut m, nr::FSTAT, &[fd, 0x400]), 0);
    assert_eq!(m.load(0x400 + 16, 4).unwrap() as u32 & libc::S_IFMT, libc::S_IFREG);
    assert_eq!(m.load(0x400 + 48, 8).unwrap(), 10);
    m.write_bytes(0x8000, b"\0").unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::NEWFSTATAT, &[fd, 0x8000, 0x500, 0x1000]), 0);
    assert_eq!(m.load(0x500 + 48, 8).unwrap(), 10);
    assert_eq!(sys(&mut h, &mut m, nr::NEWFSTATAT, &[fd, 0x8000, 0x500, 0]), -ENOENT);
    assert_eq!(sys(&mut h, &mut m, nr::WRITE, &[fd, 0x100, 1]), -EBADF);
    assert_eq!(sys(&mut h, &mut m, nr::IOCTL, &[fd, 0x5401, 0x100]), -ENOTTY);
    assert_eq!(sys(&mut h, &mut m, nr::CLOSE, &[fd]), 0);
    assert_eq!(sys(&mut h, &mut m, nr::CLOSE, &[fd]), -EBADF);
    assert_eq!(sys(&mut h, &mut m, nr::READ, &[fd, 0x100, 1]), -EBADF);
    // `..` stops at the root; an absolute link resolves inside the root.
    for p in ["../../dir/data.txt", "/../../../dir/./sub/../data.txt", "abs-link", "dir/sub/../../abs-link"] {
        let fd = open(&mut h, &mut m, AT_FDCWD, p, 0);
        assert_eq!(fd, 3, "{p}");
        assert_eq!(sys(&mut h, &mut m, nr::READ, &[3, 0x100, 10]), 10, "{p}");
        sys(&mut h, &mut m, nr::CLOSE, &[3]);
    }
    // Escapes: a relative link climbing out, a link to a host path, `..`
    // above the root: none reaches the host file next to the root.
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "dir/escape", 0), -ENOENT);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "host-abs", 0), -ENOENT);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "../secret", 0), -ENOENT);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "loop1", 0), -ELOOP);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "abs-link", 0o400000), -ELOOP);
    // Errnos Linux gives.
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "missing", 0), -ENOENT);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "missing/x", 0), -ENOENT);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "dir/data.txt/x", 0), -ENOTDIR);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "dir/data.txt", 0o200000), -ENOTDIR);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "dir/data.txt", 1), -EROFS);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "dir/new", 0o101), -EROFS);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "dir/new", 1), -ENOENT);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, "", 0), -ENOENT);
    assert_eq!(open(&mut h, &mut m, 55, "x", 0), -EBADF);
    assert_eq!(open(&mut h, &mut m, 1, "x", 0), -ENOTDIR);
    assert_eq!(sys(&mut h, &mut m, nr::OPENAT, &[AT_FDCWD, u64::MAX - 2, 0]), -EFAULT);
    let long = "a/".repeat(2100);
    assert_eq!(open(&mut h, &mut m, AT_FDCWD, &long, 0), -ENAMETOOLONG);
    // A directory fd: relative opens start there, `..` still stops at the root.
    let d = open(&mut h, &mut m, AT_FDCWD, "/dir/sub", 0o200000);
    assert_eq!(d, 3);
    assert_eq!(sys(&mut h, &mut m, nr::READ, &[3, 0x100, 10]), -EISDIR);
    assert_eq!(open(&mut h, &mut m, 3, "../data.txt", 0), 4);
    assert_eq!(open(&mut h, &mut m, 3, "../../../../secret", 0), -ENOENT);
    // readlinkat: the link text (truncated to the buffer), -EINVAL on a file.
    m.write_bytes(0x8000, b"dir/escape\0").unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::READLINKAT, &[AT_FDCWD, 0x8000, 0x600, 100]), 12);
    let mut l = [0u8; 12];
    m.read_bytes(0x600, &mut l).unwrap();
    assert_eq!(&l, b"../../secret");
    assert_eq!(sys(&mut h, &mut m, nr::READLINKAT, &[AT_FDCWD, 0x8000, 0x600, 5]), 5);
    assert_eq!(sys(&mut h, &mut m, nr::READLINKAT, &[AT_FDCWD, 0x8000, 0x600, 0]), -EINVAL);
    m.write_bytes(0x8000, b"dir/data.txt\0").unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::READLINKAT, &[AT_FDCWD, 0x8000, 0x600, 100]), -EINVAL);
    m.write_bytes(0x8000, b"/proc/self/exe\0").unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::READLINKAT, &[AT_FDCWD, 0x8000, 0x600, 100]), -ENOENT);
    // newfstatat on a path: follows links unless AT_SYMLINK_NOFOLLOW.
    m.write_bytes(0x8000, b"abs-link\0").unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::NEWFSTATAT, &[AT_FDCWD, 0x8000, 0x700, 0]), 0);
    assert_eq!(m.load(0x700 + 48, 8).unwrap(), 10);
    assert_eq!(sys(&mut h, &mut m, nr::NEWFSTATAT, &[AT_FDCWD, 0x8000, 0x700, 0x100]), 0);
    assert_eq!(m.load(0x700 + 16, 4).unwrap() as u32 & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(sys(&mut h, &mut m, nr::NEWFSTATAT, &[AT_FDCWD, 0x8000, 0x700, 0x4]), -EINVAL);
}

#[test]
fn standard_streams_are_pipes_and_close_like_files() {
    let (mut h, _, _, _, mut m) = handler();
    assert_eq!(sys(&mut h, &mut m, nr::FSTAT, &[1, 0x100]), 0);
    assert_eq!(m.load(0x100 + 16, 4).unwrap() as u32 & libc::S_IFMT, libc::S_IFIFO);
    assert_eq!(m.load(0x100 + 56, 4).unwrap(), 4096);
    assert_eq!(sys(&mut h, &mut m, nr::FSTAT, &[5, 0x100]), -EBADF);
    assert_eq!(sys(&mut h, &mut m, nr::FSTAT, &[1, u64::MAX - 8]), -EFAULT);
    assert_eq!(sys(&mut h, &mut m, nr::LSEEK, &[1, 0, 0]), -ESPIPE);
    assert_eq!(sys(&mut h, &mut m, nr::READ, &[0, 0x100, 10]), 0);
    assert_eq!(sys(&mut h, &mut m, nr::READ, &[1, 0x100, 10]), -EBADF);
    assert_eq!(sys(&mut h, &mut m, nr::CLOSE, &[1]), 0);
    assert_eq!(sys(&mut h, &mut m, nr::WRITE, &[1, 0x100, 1]), -EBADF);
    assert_eq!(sys(&mut h, &mut m, nr::WRITE, &[2, 0x100, 1]), 1);
}

/// kill/tkill/tgkill to the guest itself: errno checks, default actions
/// (ignore; end the guest with 128 + signal), SIG_IGN, blocked signals
/// pending until unblocked, rt_sigpending; a handler is never run.
#[test]
fn signals_to_self_take_their_default_action() {
    let (mut h, _, err, mut cpu, mut m) = handler();
    let mut kill = |h: &mut SyscallHandler, m: &mut GuestMemory, n, a: [u64; 3]| {
        cpu.globals[13] = 8; // rt_sigprocmask's sigsetsize
        let r = call(h, &mut cpu, m, n, a).unwrap();
        (r, cpu.globals[10] as i64)
    };
    let cont = SyscallOutcome::Continue;
    let me = GUEST_PID;
    assert_eq!(kill(&mut h, &mut m, nr::KILL, [me, 0, 0]), (cont, 0));
    assert_eq!(kill(&mut h, &mut m, nr::KILL, [me, 65, 0]), (cont, -EINVAL));
    assert_eq!(kill(&mut h, &mut m, nr::KILL, [me + 1, 0, 0]), (cont, -ESRCH));
    assert_eq!(kill(&mut h, &mut m, nr::KILL, [-1i64 as u64, 15, 0]), (cont, -ESRCH));
    assert_eq!(kill(&mut h, &mut m, nr::TGKILL, [me, me, -1i64 as u64]), (cont, -EINVAL));
    assert_eq!(kill(&mut h, &mut m, nr::TGKILL, [0, me, 6]), (cont, -EINVAL));
    assert_eq!(kill(&mut h, &mut m, nr::TGKILL, [me, me + 1, 6]), (cont, -ESRCH));
    assert_eq!(kill(&mut h, &mut m, nr::TKILL, [me + 1, 6, 0]), (cont, -ESRCH));
    // Default action "ignore": SIGCHLD, SIGCONT, SIGURG, SIGWINCH.
    for sig in [17, 18, 23, 28] {
        assert_eq!(kill(&mut h, &mut m, nr::TGKILL, [me, me, sig]), (cont, 0));
    }
    // SIG_IGN discards; SIG_DFL again terminates.
    m.write_bytes(0x100, &[1, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    m.write_bytes(0x108, &[0; 16]).unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGACTION, &[15, 0x100, 0, 8]), 0);
    assert_eq!(kill(&mut h, &mut m, nr::KILL, [0, 15, 0]), (cont, 0));
    // Blocked: pending (rt_sigpending shows it), acted on when unblocked.
    m.store(0x300, 8, 1 << 5).unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGPROCMASK, &[0, 0x300, 0, 8]), 0);
    assert_eq!(kill(&mut h, &mut m, nr::TKILL, [me, 6, 0]), (cont, 0));
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGPENDING, &[0x310, 8]), 0);
    assert_eq!(m.load(0x310, 8).unwrap(), 1 << 5);
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGPENDING, &[0x310, 9]), -EINVAL);
    // A handler is not run: noted once, the call succeeds.
    m.write_bytes(0x100, &0x1234u64.to_le_bytes()).unwrap();
    assert_eq!(sys(&mut h, &mut m, nr::RT_SIGACTION, &[10, 0x100, 0, 8]), 0);
    assert_eq!(kill(&mut h, &mut m, nr::KILL, [me, 10, 0]), (cont, 0));
    assert_eq!(kill(&mut h, &mut m, nr::KILL, [me, 10, 0]), (cont, 0));
    let noted = String::from_utf8(err.0.lock().unwrap().clone()).unwrap();
    assert_eq!(noted.matches("signal 10 has a guest handler").count(), 1, "{noted}");
    // Unblocking SIGABRT ends the guest with 128 + 6.
    assert_eq!(
        kill(&mut h, &mut m, nr::RT_SIGPROCMASK, [1, 0x300, 0]).0,
        SyscallOutcome::Exit(134)
    );
    // Unblocked and default: SIGKILL and SIGTERM end it at once.
    let (mut h, _, _, mut cpu, mut m) = handler();
    assert_eq!(
        call(&mut h, &mut cpu, &mut m, nr::KILL, [me, 9, 0]).unwrap(),
        SyscallOutcome::Exit(137)
    );
}
