//! Host files for the guest: read-only access below one directory the
//! user grants (`--fs-root DIR`, [`crate::VmConfig::fs_root`]).
//!
//! The granted directory is the guest's `/` (and its working directory).
//! Paths are resolved here one component at a time, relative to directory
//! file descriptors the VM holds, and never by handing a guest path to the
//! host kernel: every component is opened with `O_NOFOLLOW`, a symbolic
//! link is read and its target resolved the same way (an absolute target
//! starts again at the granted root), and `..` at the root stays at the
//! root, as in a `chroot`. So neither `..` nor a symbolic link (nor one
//! swapped in between two steps) reaches a host file outside the root.
//!
//! Without a granted root the guest sees an empty file system: every open
//! fails with `-ENOENT`. Opening for writing fails with `-EROFS`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::errno::*;

/// Links followed in one lookup before `-ELOOP` (Linux's limit).
const MAX_SYMLINKS: u32 = 40;
/// Longest path accepted (Linux `PATH_MAX`, with its NUL).
pub const PATH_MAX: usize = 4096;

/// Guest `open` flags (asm-generic values, as on RISC-V Linux).
pub mod oflags {
    /// Access mode mask.
    pub const O_ACCMODE: u64 = 3;
    /// Create.
    pub const O_CREAT: u64 = 0o100;
    /// Truncate.
    pub const O_TRUNC: u64 = 0o1000;
    /// Append.
    pub const O_APPEND: u64 = 0o2000;
    /// Must be a directory.
    pub const O_DIRECTORY: u64 = 0o200000;
    /// Do not follow a final symbolic link.
    pub const O_NOFOLLOW: u64 = 0o400000;
    /// Temporary file (needs write access).
    pub const O_TMPFILE: u64 = 0o20000000;
}
use oflags::*;

/// `AT_FDCWD`.
pub const AT_FDCWD: i64 = -100;
/// `AT_SYMLINK_NOFOLLOW`.
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
/// `AT_EMPTY_PATH`.
pub const AT_EMPTY_PATH: u64 = 0x1000;

/// A guest directory as the components of its path below the root.
pub type GuestDir = Vec<Vec<u8>>;

/// A granted host directory.
#[derive(Debug)]
pub struct FsRoot {
    root: OwnedFd,
}

/// A resolved path: the directory holding the last component and that
/// component's name (None for the root itself), plus the guest path of
/// that directory.
pub struct Resolved {
    /// Directory holding `name` (or the target itself when `name` is None).
    pub dir: OwnedFd,
    /// Last component, not yet opened.
    pub name: Option<CString>,
    /// Guest path of `dir`, as components below the root.
    pub dir_path: Vec<Vec<u8>>,
}

fn errno() -> i64 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .map_or(EIO, i64::from)
}

/// `openat(dir, name, flags)` on the host; the descriptor or a negative errno.
fn host_openat(dir: &OwnedFd, name: &CString, flags: i32) -> Result<OwnedFd, i64> {
    // SAFETY: `name` is NUL-terminated, `dir` is an open descriptor; the
    // returned descriptor (if any) is owned by the new OwnedFd alone.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(-errno())
    } else {
        // SAFETY: `fd` was just opened and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)` (or `fstat(dir)` for None).
pub fn host_lstat(dir: &OwnedFd, name: Option<&CString>) -> Result<libc::stat, i64> {
    // SAFETY: all-zero is a valid `struct stat` bit pattern.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = match name {
        // SAFETY: `name` is NUL-terminated, `st` is writable and large enough.
        Some(n) => unsafe {
            libc::fstatat(dir.as_raw_fd(), n.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
        },
        // SAFETY: `st` is writable and large enough.
        None => unsafe { libc::fstat(dir.as_raw_fd(), &mut st) },
    };
    if r < 0 {
        Err(-errno())
    } else {
        Ok(st)
    }
}

/// The target of symbolic link `name` in `dir`.
pub fn host_readlink(dir: &OwnedFd, name: &CString) -> Result<Vec<u8>, i64> {
    let mut buf = vec![0u8; PATH_MAX];
    // SAFETY: `name` is NUL-terminated; `buf` has `buf.len()` writable bytes.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
        )
    };
    if n < 0 {
        return Err(-errno());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

fn is_link(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

impl FsRoot {
    /// Grants `dir` (which must be a directory).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let f = std::fs::File::open(dir)?;
        if !f.metadata()?.is_dir() {
            return Err(std::io::Error::other(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        Ok(Self { root: f.into() })
    }

    fn open_dir_path(&self, comps: &[Vec<u8>]) -> Result<Vec<OwnedFd>, i64> {
        let mut stack = vec![self.root.try_clone().map_err(|_| -EMFILE)?];
        for c in comps {
            let name = CString::new(c.clone()).map_err(|_| -ENOENT)?;
            let top = stack.last().expect("root stays on the stack");
            let fd = host_openat(
                top,
                &name,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            )?;
            stack.push(fd);
        }
        Ok(stack)
    }

    /// Resolves guest `path` relative to the guest directory `base` (the
    /// components of an already resolved directory; empty = the root).
    /// Symbolic links are followed, the last one only when `follow_last`.
    /// Intermediate components must be directories.
    pub fn resolve(
        &self,
        base: &[Vec<u8>],
        path: &[u8],
        follow_last: bool,
    ) -> Result<Resolved, i64> {
        if path.is_empty() {
            return Err(-ENOENT);
        }
        let mut dir_path: Vec<Vec<u8>> = if path[0] == b'/' {
            Vec::new()
        } else {
            base.to_vec()
        };
        let mut stack = self.open_dir_path(&dir_path)?;
        // Components still to walk, last first.
        let mut todo: Vec<Vec<u8>> = path
            .split(|&b| b == b'/')
            .rev()
            .map(|c| c.to_vec())
            .collect();
        // A trailing slash requires a directory.
        let must_be_dir = path.ends_with(b"/");
        let mut links = 0;
        while let Some(c) = todo.pop() {
            if c.is_empty() || c == b"." {
                continue;
            }
            if c == b".." {
                if stack.len() > 1 {
                    stack.pop();
                    dir_path.pop();
                }
                continue;
            }
            if c.len() > 255 {
                return Err(-ENAMETOOLONG);
            }
            let last = todo.iter().all(|t| t.is_empty() || t == b".");
            let name = CString::new(c.clone()).map_err(|_| -ENOENT)?;
            let top = stack.last().expect("root stays on the stack");
            let st = match host_lstat(top, Some(&name)) {
                Ok(st) => st,
                Err(e) if last && e == -ENOENT => {
                    // A missing last component: the caller decides.
                    let dir = stack.pop().expect("root stays on the stack");
                    return Ok(Resolved {
                        dir,
                        name: Some(name),
                        dir_path,
                    });
                }
                Err(e) => return Err(e),
            };
            if is_link(&st) && (!last || follow_last || must_be_dir) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(-ELOOP);
                }
                let target = host_readlink(top, &name)?;
                if target.is_empty() {
                    return Err(-ENOENT);
                }
                if target[0] == b'/' {
                    stack.truncate(1);
                    dir_path.clear();
                }
                todo.extend(target.split(|&b| b == b'/').rev().map(|c| c.to_vec()));
                continue;
            }
            if last {
                if must_be_dir && !is_dir(&st) {
                    return Err(-ENOTDIR);
                }
                let dir = stack.pop().expect("root stays on the stack");
                return Ok(Resolved {
                    dir,
                    name: Some(name),
                    dir_path,
                });
            }
            if !is_dir(&st) {
                return Err(-ENOTDIR);
            }
            let fd = host_openat(
                top,
                &name,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            )?;
            stack.push(fd);
            dir_path.push(c);
        }
        // The path named a directory on the stack itself ("/", "a/..").
        let dir = stack.pop().expect("root stays on the stack");
        Ok(Resolved {
            dir,
            name: None,
            dir_path,
        })
    }

    /// Opens guest `path` (relative to guest directory `base`) read-only
    /// with guest `flags`; returns the host file and, for a directory, its
    /// guest path (for later `*at` calls relative to it).
    pub fn open_file(
        &self,
        base: &[Vec<u8>],
        path: &[u8],
        flags: u64,
    ) -> Result<(OwnedFd, Option<GuestDir>), i64> {
        if flags & O_ACCMODE != 0 || flags & (O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE) != 0 {
            // Resolve first so a missing directory still reports ENOENT.
            let r = self.resolve(base, path, flags & O_NOFOLLOW == 0)?;
            if flags & O_ACCMODE == 3 {
                return Err(-EINVAL);
            }
            let exists = match &r.name {
                Some(n) => host_lstat(&r.dir, Some(n)).is_ok(),
                None => true,
            };
            if !exists && flags & O_CREAT == 0 {
                return Err(-ENOENT);
            }
            return Err(-EROFS);
        }
        let r = self.resolve(base, path, flags & O_NOFOLLOW == 0)?;
        let mut host = libc::O_RDONLY | libc::O_NOFOLLOW;
        if flags & O_DIRECTORY != 0 {
            host |= libc::O_DIRECTORY;
        }
        let (fd, mut sub) = match &r.name {
            Some(n) => {
                let st = host_lstat(&r.dir, Some(n))?;
                if is_link(&st) {
                    // Only reached with O_NOFOLLOW.
                    return Err(-ELOOP);
                }
                let fd = host_openat(&r.dir, n, host)?;
                let mut p = r.dir_path.clone();
                p.push(n.as_bytes().to_vec());
                (fd, p)
            }
            None => {
                let dot = CString::new(".").expect("no NUL");
                (host_openat(&r.dir, &dot, host)?, r.dir_path.clone())
            }
        };
        let st = host_lstat(&fd, None)?;
        let dir = is_dir(&st).then(|| std::mem::take(&mut sub));
        Ok((fd, dir))
    }
}

/// Converts a host `struct stat` to the RISC-V Linux layout (asm-generic
/// `struct stat`, 128 bytes).
pub fn guest_stat(st: &libc::stat) -> [u8; 128] {
    let mut b = [0u8; 128];
    let mut put = |off: usize, v: u64, n: usize| {
        b[off..off + n].copy_from_slice(&v.to_le_bytes()[..n]);
    };
    put(0, st.st_dev, 8);
    put(8, st.st_ino, 8);
    put(16, u64::from(st.st_mode), 4);
    put(20, st.st_nlink, 4);
    put(24, u64::from(st.st_uid), 4);
    put(28, u64::from(st.st_gid), 4);
    put(32, st.st_rdev, 8);
    put(48, st.st_size as u64, 8);
    put(56, st.st_blksize as u64, 4);
    put(64, st.st_blocks as u64, 8);
    put(72, st.st_atime as u64, 8);
    put(80, st.st_atime_nsec as u64, 8);
    put(88, st.st_mtime as u64, 8);
    put(96, st.st_mtime_nsec as u64, 8);
    put(104, st.st_ctime as u64, 8);
    put(112, st.st_ctime_nsec as u64, 8);
    b
}

/// The `struct stat` of the guest's standard streams: pipes, owned by the
/// guest's user, with 4 KiB blocks (not terminals: `ioctl(TCGETS)` says
/// `-ENOTTY`).
pub fn stream_stat(fd: u64) -> [u8; 128] {
    // SAFETY: all-zero is a valid `struct stat` bit pattern.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = libc::S_IFIFO | 0o600;
    st.st_nlink = 1;
    st.st_ino = fd + 1;
    st.st_blksize = 4096;
    guest_stat(&st)
}
