//! Generation of a host NQN and a host ID, as `stasadm hostnqn` / `stasadm hostid` do.
//!
//! The NQN reproduces nvme-stas's `stasadm.py` (`get_uuid_from_system`) byte for byte, so an
//! existing host gets the same NQN again (DECISIONS item 13):
//!
//! 1. `/etc/machine-id`: its first 32 characters, read as the hex of a UUID, give 16 bytes;
//!    HMAC-SHA256 with key `$nvmexpress.org$` over those bytes; the first 16 bytes of the
//!    digest, with the RFC 4122 version set to 4 and the variant to `10xx`. (Python's
//!    `read(32)` returns the first 32 characters of a longer file, so the usual trailing newline
//!    does not matter; a shorter file is skipped.)
//! 2. `/sys/class/dmi/id/product_uuid` (first 36 characters), with the first three groups
//!    byte-swapped (characters `6 7 4 5 2 3 0 1 - 11 12 9 10 - 16 17 14 15` then `[18:]`).
//! 3. `/proc/device-tree/ibm,partition-uuid` (first 36 characters), as is.
//! 4. A random version 4 UUID.
//!
//! Where Python would crash (a 32-character machine ID that is not hex) or produce an NQN that is
//! not of the UUID form (a DMI or partition UUID that is not a UUID), the source is skipped with
//! a warning. A missing file is skipped silently; any other read error (for example permission
//! denied on `product_uuid` when not root; Python exits with "Permission denied. Root privileges
//! required.") is an error.
//!
//! The host ID is the UUID in the host NQN when the NQN is of the UUID form, so that hostid and
//! hostnqn agree; otherwise a random UUID.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use super::resolve::{IdentityError, Problem, Source};
use super::value::{is_canonical_uuid, HostNqn};

/// The HMAC key nvme-stas uses to derive the host UUID from the machine ID.
pub const NVME_APP_KEY: &[u8] = b"$nvmexpress.org$";

/// The files the host UUID can come from, injectable for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemPaths {
    /// `/etc/machine-id`.
    pub machine_id: PathBuf,
    /// `/sys/class/dmi/id/product_uuid`.
    pub product_uuid: PathBuf,
    /// `/proc/device-tree/ibm,partition-uuid`.
    pub partition_uuid: PathBuf,
}

impl Default for SystemPaths {
    fn default() -> Self {
        Self::under(Path::new("/"))
    }
}

impl SystemPaths {
    /// The paths under `root` instead of `/`.
    #[must_use]
    pub fn under(root: &Path) -> Self {
        Self {
            machine_id: root.join("etc/machine-id"),
            product_uuid: root.join("sys/class/dmi/id/product_uuid"),
            partition_uuid: root.join("proc/device-tree/ibm,partition-uuid"),
        }
    }
}

/// Where a generated UUID came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UuidSource {
    /// Derived from `/etc/machine-id` (deterministic).
    MachineId,
    /// `/sys/class/dmi/id/product_uuid`, byte-swapped (deterministic).
    ProductUuid,
    /// `/proc/device-tree/ibm,partition-uuid` (deterministic).
    PartitionUuid,
    /// Random.
    Random,
}

/// A generated host NQN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedNqn {
    /// The NQN, `nqn.2014-08.org.nvmexpress:uuid:<UUID>`.
    pub nqn: HostNqn,
    /// Where its UUID came from.
    pub source: UuidSource,
    /// Sources that were present but unusable, and why.
    pub warnings: Vec<String>,
}

/// The application-specific UUID nvme-stas derives from a machine ID (`get_machine_app_specific`):
/// HMAC-SHA256(key = `app_key`, message = the 16 bytes of the machine ID), first 16 bytes, as a
/// version 4 UUID. `machine_id` must be 32 hex digits (either case); otherwise `None`.
#[must_use]
pub fn machine_app_specific(machine_id: &str, app_key: &[u8]) -> Option<Uuid> {
    if machine_id.len() != 32 || !machine_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let id = Uuid::try_parse(machine_id).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(app_key).ok()?;
    mac.update(id.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // uuid.UUID(bytes=…, version=4): variant 10xx, version 4.
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    Some(Uuid::from_bytes(bytes))
}

/// nvme-stas's byte swap of a DMI `product_uuid`: the first three groups are reversed byte-wise
/// (the rest is kept, case included). `None` if `s` is not a canonical UUID.
#[must_use]
pub fn swap_dmi_uuid(s: &str) -> Option<String> {
    if !is_canonical_uuid(s) {
        return None;
    }
    let c: Vec<char> = s.chars().collect();
    let order = [6, 7, 4, 5, 2, 3, 0, 1, 8, 11, 12, 9, 10, 13, 16, 17, 14, 15];
    let mut out: String = order.iter().map(|&i| c[i]).collect();
    out.push_str(&s[18..]);
    Some(out)
}

/// Reads the first `n` bytes of `path`, like Python's `read(n)` on an ASCII text file: `None`
/// if the file is missing or shorter.
fn read_prefix(
    path: &Path,
    n: usize,
    what: &'static str,
) -> Result<Option<Vec<u8>>, IdentityError> {
    let read = || -> io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(n);
        File::open(path)?
            .take(u64::try_from(n).unwrap_or(u64::MAX))
            .read_to_end(&mut buf)?;
        Ok(buf)
    };
    match read() {
        Ok(buf) => Ok((buf.len() == n).then_some(buf)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(IdentityError {
            origin: Source::Default(path.to_owned()),
            problem: Problem::Read { what, error },
        }),
    }
}

fn as_text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// Generates the host UUID text from the system (steps 1 to 4 of the module documentation).
///
/// # Errors
/// A source file that exists but cannot be read (other than "not found").
pub fn host_uuid_from_system(
    paths: &SystemPaths,
) -> Result<(String, UuidSource, Vec<String>), IdentityError> {
    let mut warnings = Vec::new();
    if let Some(bytes) = read_prefix(&paths.machine_id, 32, "machine ID")? {
        match as_text(&bytes).and_then(|t| machine_app_specific(t, NVME_APP_KEY)) {
            Some(uuid) => return Ok((uuid.to_string(), UuidSource::MachineId, warnings)),
            None => warnings.push(format!(
                "{}: not a machine ID (32 hex digits); not used",
                paths.machine_id.display()
            )),
        }
    }
    let dmi = read_prefix(&paths.product_uuid, 36, "DMI product UUID")?;
    if let Some(bytes) = dmi {
        match as_text(&bytes).and_then(swap_dmi_uuid) {
            Some(uuid) => return Ok((uuid, UuidSource::ProductUuid, warnings)),
            None => warnings.push(format!(
                "{}: not a UUID; not used",
                paths.product_uuid.display()
            )),
        }
    }
    let partition = read_prefix(&paths.partition_uuid, 36, "partition UUID")?;
    if let Some(bytes) = partition {
        match as_text(&bytes).filter(|t| is_canonical_uuid(t)) {
            Some(uuid) => return Ok((uuid.to_owned(), UuidSource::PartitionUuid, warnings)),
            None => warnings.push(format!(
                "{}: not a UUID; not used",
                paths.partition_uuid.display()
            )),
        }
    }
    Ok((Uuid::new_v4().to_string(), UuidSource::Random, warnings))
}

/// Generates the host NQN `nqn.2014-08.org.nvmexpress:uuid:<UUID>` as nvme-stas's
/// `stasadm hostnqn` does.
///
/// # Errors
/// A source file that exists but cannot be read.
pub fn generate_host_nqn(paths: &SystemPaths) -> Result<GeneratedNqn, IdentityError> {
    let (uuid, source, warnings) = host_uuid_from_system(paths)?;
    let text = format!("{}{uuid}", super::value::UUID_NQN_PREFIX);
    let nqn = HostNqn::parse(&text).map_err(|p| IdentityError {
        origin: Source::Default(paths.machine_id.clone()),
        problem: Problem::Invalid(p),
    })?;
    Ok(GeneratedNqn {
        nqn,
        source,
        warnings,
    })
}

/// The host ID for a host NQN: the UUID text in the NQN when it is of the UUID form (as
/// libnvme finds it: the text after `uuid:`), otherwise a random UUID. The flag says whether it
/// was taken from the NQN.
#[must_use]
pub fn host_id_for(nqn: &HostNqn) -> (String, bool) {
    match nqn.uuid_text() {
        Some(text) => (text.to_owned(), true),
        None => (Uuid::new_v4().to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// Pinned with Python 3.11, reproducing stasadm.py's `get_machine_app_specific`:
    /// ```text
    /// python3 -c 'import hmac,hashlib,uuid
    /// h = hmac.new(b"$nvmexpress.org$", uuid.UUID("5f3c1b2a9d8e4f7a8b6c0d1e2f3a4b5c").bytes, hashlib.sha256)
    /// print(uuid.UUID(bytes=h.digest()[0:16], version=4))'
    /// ```
    /// prints e2dd6d3b-2a42-46c4-b116-261ddf5b0683 (raw digest prefix
    /// e2dd6d3b2a42e6c43116261ddf5b0683: both the version and the variant bits change).
    pub(crate) const MACHINE_ID: &str = "5f3c1b2a9d8e4f7a8b6c0d1e2f3a4b5c";
    pub(crate) const PINNED_NQN: &str =
        "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683";

    fn roots() -> (tempfile::TempDir, SystemPaths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = SystemPaths::under(dir.path());
        (dir, paths)
    }

    fn put(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn machine_id_gives_the_pinned_nqn() {
        let (_d, paths) = roots();
        put(&paths.machine_id, &format!("{MACHINE_ID}\n"));
        put(
            &paths.product_uuid,
            "4c4c4544-0035-5910-8052-b4c04f4e5332\n",
        );
        let g = generate_host_nqn(&paths).unwrap();
        assert_eq!(g.nqn.as_str(), PINNED_NQN);
        assert_eq!(g.source, UuidSource::MachineId);
        assert!(g.warnings.is_empty());
        // Deterministic, and without a trailing newline the same.
        put(&paths.machine_id, MACHINE_ID);
        assert_eq!(generate_host_nqn(&paths).unwrap().nqn.as_str(), PINNED_NQN);
    }

    #[test]
    fn machine_id_case_does_not_matter_and_other_keys_differ() {
        // Python: uuid.UUID() accepts upper case; "0123456789ABCDEF0123456789abcdef" gives
        // f2782346-4809-484a-9a8b-952a04b57ba4 (computed as above).
        let u = machine_app_specific("0123456789ABCDEF0123456789abcdef", NVME_APP_KEY).unwrap();
        assert_eq!(u.to_string(), "f2782346-4809-484a-9a8b-952a04b57ba4");
        let other = machine_app_specific(MACHINE_ID, b"another app").unwrap();
        assert_ne!(other.to_string(), "e2dd6d3b-2a42-46c4-b116-261ddf5b0683");
        assert_eq!(other.get_version_num(), 4);
        assert_eq!(machine_app_specific("uninitialized", NVME_APP_KEY), None);
        assert_eq!(machine_app_specific(&"g".repeat(32), NVME_APP_KEY), None);
    }

    #[test]
    fn dmi_uuid_is_byte_swapped() {
        // Python: the swap expression of stasadm.py applied to this product_uuid.
        assert_eq!(
            swap_dmi_uuid("4c4c4544-0035-5910-8052-b4c04f4e5332").as_deref(),
            Some("44454c4c-3500-1059-8052-b4c04f4e5332")
        );
        assert_eq!(swap_dmi_uuid("not a uuid at all, but 36 chars long"), None);
        let (_d, paths) = roots();
        put(&paths.machine_id, "uninitialized\n");
        put(
            &paths.product_uuid,
            "4c4c4544-0035-5910-8052-b4c04f4e5332\n",
        );
        let g = generate_host_nqn(&paths).unwrap();
        assert_eq!(
            g.nqn.as_str(),
            "nqn.2014-08.org.nvmexpress:uuid:44454c4c-3500-1059-8052-b4c04f4e5332"
        );
        assert_eq!(g.source, UuidSource::ProductUuid);
        assert!(
            g.warnings.is_empty(),
            "a short machine-id is skipped silently"
        );
    }

    #[test]
    fn partition_uuid_then_random() {
        let (_d, paths) = roots();
        put(&paths.machine_id, &"z".repeat(33));
        put(
            &paths.partition_uuid,
            "0b8c1a2e-7d3f-4e5a-9b6c-1d2e3f4a5b6c\0",
        );
        let g = generate_host_nqn(&paths).unwrap();
        assert_eq!(
            g.nqn.as_str(),
            "nqn.2014-08.org.nvmexpress:uuid:0b8c1a2e-7d3f-4e5a-9b6c-1d2e3f4a5b6c"
        );
        assert_eq!(g.source, UuidSource::PartitionUuid);
        assert_eq!(g.warnings.len(), 1, "{:?}", g.warnings);
        assert!(g.warnings[0].contains("not a machine ID"));

        let (_d, paths) = roots();
        let a = generate_host_nqn(&paths).unwrap();
        let b = generate_host_nqn(&paths).unwrap();
        assert_eq!(a.source, UuidSource::Random);
        assert_ne!(a.nqn, b.nqn);
        let uuid = Uuid::parse_str(a.nqn.uuid_text().unwrap()).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
    }

    #[test]
    fn unreadable_source_is_an_error() {
        let (_d, paths) = roots();
        // A directory cannot be read as a file (EISDIR), even by root.
        fs::create_dir_all(&paths.machine_id).unwrap();
        let e = generate_host_nqn(&paths).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "{}: cannot read machine ID:",
                paths.machine_id.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn host_id_follows_the_nqn() {
        let nqn = HostNqn::parse(PINNED_NQN).unwrap();
        assert_eq!(
            host_id_for(&nqn),
            ("e2dd6d3b-2a42-46c4-b116-261ddf5b0683".to_owned(), true)
        );
        let nqn = HostNqn::parse("nqn.1988-11.com.dell:PowerEdge.R760.1234567").unwrap();
        let (a, from_nqn) = host_id_for(&nqn);
        assert!(!from_nqn);
        assert!(is_canonical_uuid(&a));
        assert_ne!(a, host_id_for(&nqn).0, "random each time");
    }
}
