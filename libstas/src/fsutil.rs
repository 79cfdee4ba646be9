//! Atomic file writes: a temporary file in the same directory, fsync, rename, fsync of the
//! directory. Missing parent directories are created. Used for sys.conf edits, host identity
//! files and the daemons' warm-restart state.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An I/O failure with the path it concerns and what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot {op}: {}", path.display(), describe(io))]
pub struct FsError {
    /// What we were doing ("create directory", "write", "rename", …).
    pub op: &'static str,
    /// The path concerned.
    pub path: PathBuf,
    /// The underlying error (already described in the message, so not a `source`).
    pub io: io::Error,
}

/// A short operator-oriented description of an I/O error (no "os error N" noise).
#[must_use]
pub fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(30) => "read-only file system".to_owned(),
        _ => match e.kind() {
            io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            io::ErrorKind::NotFound => "no such file or directory".to_owned(),
            _ => e.to_string(),
        },
    }
}

fn err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |io| FsError {
        op,
        path: path.to_owned(),
        io,
    }
}

/// Atomically replaces `path` with `contents`, creating missing parent directories.
/// An existing file's permissions are kept; a new file gets `mode`.
///
/// # Errors
/// Any I/O failure, with the path and the step that failed.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), FsError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(err("create directory", &dir))?;
    let mode = fs::metadata(path).map_or(mode, |m| m.permissions().mode() & 0o7777);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(err("write", path)(e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(err("replace", path)(e));
    }
    // Make the rename durable; a failure here does not undo the write.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_directories_and_replaces() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a/b/c.conf");
        write_atomic(&p, b"one\n", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "one\n");
        write_atomic(&p, b"two\n", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two\n");
        let leftovers: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn error_names_the_path() {
        let e = write_atomic(Path::new("/proc/version/x"), b"", 0o644).unwrap_err();
        assert!(e.to_string().starts_with("/proc/version"), "{e}");
    }
}
