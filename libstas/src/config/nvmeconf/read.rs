//! Reading the files (ecosystem-2026.md §3.1, §3.2): the main file, then `<main>.d/*.conf` in
//! byte order of their names; each a regular file of at most [`MAX_FILE_SIZE`] bytes, without
//! NUL, in UTF-8.

use super::Source;
use crate::config::ini::{Diagnostic, Diagnostics};
use crate::fsutil::describe;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The largest file read (1 MiB); a larger one is an error.
pub const MAX_FILE_SIZE: u64 = 1 << 20;

/// The drop-in directory of `main`: `main` with `.d` appended (`nvme-stas.conf.d`).
#[must_use]
pub fn dropin_dir(main: &Path) -> PathBuf {
    let mut d = OsString::from(main.as_os_str());
    d.push(".d");
    PathBuf::from(d)
}

fn error(path: &Path, message: impl Into<String>) -> Diagnostic {
    let mut d = Diagnostics::new(path);
    d.error(None, message);
    d.into_vec().remove(0)
}

/// Reads one file. `Ok(None)`: it does not exist and `missing_ok`.
fn read_one(path: &Path, missing_ok: bool) -> Result<Option<Source>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound && missing_ok => return Ok(None),
        Err(e) => return Err(format!("cannot read: {}", describe(&e))),
    };
    if !meta.is_file() {
        return Err("cannot read: not a regular file".to_owned());
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(format!(
            "cannot read: larger than {MAX_FILE_SIZE} bytes ({} bytes)",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {}", describe(&e)))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {}", describe(&e)))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(format!("cannot read: larger than {MAX_FILE_SIZE} bytes"));
    }
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        return Err(format!("cannot read: NUL byte at offset {at}"));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "cannot read: not valid UTF-8 (at byte offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(Some(Source {
        path: path.to_owned(),
        text,
    }))
}

/// See [`super::read_sources`].
pub(super) fn read_sources(main: &Path) -> (Vec<Source>, Vec<Diagnostic>) {
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    if main.as_os_str().as_bytes().ends_with(b".json") {
        diags.push(error(
            main,
            "JSON configuration is not read; convert it to the INI format with \
             `nvme config-convert`",
        ));
        return (sources, diags);
    }
    match read_one(main, true) {
        Ok(Some(s)) => sources.push(s),
        Ok(None) => {}
        Err(e) => diags.push(error(main, e)),
    }
    let dir = dropin_dir(main);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (sources, diags),
        Err(e) => {
            diags.push(error(
                &dir,
                format!("cannot read directory: {}", describe(&e)),
            ));
            return (sources, diags);
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let name = entry.file_name();
                let b = name.as_bytes();
                if b.ends_with(b".conf") && b != b".conf" {
                    names.push(name);
                }
            }
            Err(e) => {
                diags.push(error(
                    &dir,
                    format!("cannot read directory: {}", describe(&e)),
                ));
            }
        }
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let path = dir.join(name);
        match read_one(&path, false) {
            Ok(Some(s)) => sources.push(s),
            Ok(None) => {}
            Err(e) => diags.push(error(&path, e)),
        }
    }
    (sources, diags)
}
