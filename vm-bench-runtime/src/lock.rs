//! Mutual exclusion of timed regions: one benchmark at a time per process (libtest runs
//! tests on threads) and per machine-wide lock file (nextest runs tests as processes).

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static PROCESS_LOCK: Mutex<()> = Mutex::new(());

/// Held while a benchmark runs; releases both locks on drop.
pub struct BenchLock {
    _file: Option<FileLock>,
    _process: MutexGuard<'static, ()>,
    /// Time spent waiting for both locks.
    pub waited: Duration,
}

/// Takes the process lock, then an exclusive `flock` on `<dir>/.lock`. A file lock that
/// cannot be created (read-only directory) degrades to the process lock alone; the
/// returned string says why.
pub fn acquire(dir: &Path) -> (BenchLock, Option<String>) {
    let start = Instant::now();
    // A benchmark that panicked while holding the lock poisons it; the lock protects no data.
    let process = PROCESS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (file, warning) = match FileLock::acquire(&dir.join(".lock")) {
        Ok(f) => (Some(f), None),
        Err(e) => (
            None,
            Some(format!(
                "cross-process lock {} unavailable ({e}); only this process is serialized",
                dir.join(".lock").display()
            )),
        ),
    };
    (
        BenchLock {
            _file: file,
            _process: process,
            waited: start.elapsed(),
        },
        warning,
    )
}

struct FileLock(File);

impl FileLock {
    fn acquire(path: &Path) -> std::io::Result<FileLock> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            loop {
                // SAFETY: the descriptor is owned by `file`, open for the whole call.
                let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
                if rc == 0 {
                    break;
                }
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
        Ok(FileLock(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: the descriptor is still open; closing it would also release the lock.
            unsafe {
                libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
            }
        }
    }
}
