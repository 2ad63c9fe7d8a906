//! The one atomic file write of the crate: artifacts, reports, baselines, history records
//! and the guide all go through [`write_atomic`], so a reader never sees half a file and a
//! failed write leaves neither a partial file nor a stray temporary behind.

use std::path::Path;

/// Writes `bytes` to `path` atomically: a hidden temporary file in the same directory
/// (`.<name>.<pid>.tmp`, so a directory scan for `*.json` never picks it up), then a
/// rename. Creates missing parent directories. On any failure the temporary is removed
/// and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_and_failures_leave_no_temporary() {
        let dir = std::env::temp_dir().join(format!("vmb-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("a/b.json");
        write_atomic(&file, b"one").unwrap();
        write_atomic(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        // Renaming over a directory fails: the directory stays, no temporary remains.
        let blocked = dir.join("a/dir.json");
        std::fs::create_dir_all(blocked.join("inner")).unwrap();
        assert!(write_atomic(&blocked, b"x").is_err());
        assert!(blocked.is_dir());
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("a"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
