//! Validated host identity values: [`HostNqn`], the host ID (a [`Uuid`]), the DH-HMAC-CHAP
//! host key ([`Secret`]) and the symbolic name. Pure functions, no I/O.
//!
//! The rules are the Linux kernel's (kernel-interface.md §5.3), so that a value accepted here is
//! not rejected later by `/dev/nvme-fabrics`.

use std::fmt;

use uuid::Uuid;

/// Longest host NQN the Linux host accepts, in bytes (it rejects `strlen >= 223`; nvme-stas
/// accepted 223).
pub const NQN_MAX_LEN: usize = 222;

/// Longest symbolic name, in bytes (the TP8010 host symbolic name field).
pub const SYMNAME_MAX_LEN: usize = 256;

/// Prefix of NQNs of the UUID form: `nqn.2014-08.org.nvmexpress:uuid:<UUID>`.
pub const UUID_NQN_PREFIX: &str = "nqn.2014-08.org.nvmexpress:uuid:";

/// What is wrong with a host identity value, independent of where it came from. The messages
/// quote the value, except for the host key, which is never shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    /// The host NQN is the empty string.
    #[error("host NQN is empty")]
    EmptyNqn,
    /// The host NQN does not start with `nqn.`.
    #[error("host NQN {0:?} must start with \"nqn.\"")]
    NqnPrefix(String),
    /// The host NQN is longer than [`NQN_MAX_LEN`].
    #[error("host NQN {nqn:?} is {len} bytes long; the kernel accepts at most {NQN_MAX_LEN}")]
    NqnTooLong {
        /// The NQN.
        nqn: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The host NQN contains a character the kernel option string cannot carry.
    #[error("host NQN {nqn:?} contains {what}")]
    NqnCharacter {
        /// The NQN.
        nqn: String,
        /// The offending character, described.
        what: String,
    },
    /// The host ID is not a canonical UUID.
    #[error("host ID {0:?} is not a UUID of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")]
    HostId(String),
    /// The host key is not a DH-HMAC-CHAP secret. The key itself is not part of the message.
    #[error("host key is not a valid DH-HMAC-CHAP secret ({0}); the key is not shown")]
    HostKey(&'static str),
    /// The symbolic name is longer than [`SYMNAME_MAX_LEN`].
    #[error("symbolic name {name:?} is {len} bytes long; at most {SYMNAME_MAX_LEN} are allowed")]
    SymnameTooLong {
        /// The name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The symbolic name contains a control character.
    #[error("symbolic name {0:?} contains a control character")]
    SymnameCharacter(String),
    /// A file holds something that is not UTF-8 text.
    #[error("{what} is not UTF-8 text")]
    NotUtf8 {
        /// What the file should hold ("host NQN", …).
        what: &'static str,
    },
}

fn describe_char(c: char) -> String {
    match c {
        ',' => "a comma, which separates kernel connect options".to_owned(),
        c if c.is_whitespace() => format!("whitespace ({c:?})"),
        c => format!("a control character (U+{:04X})", u32::from(c)),
    }
}

/// A validated host NQN: starts with `nqn.`, at most [`NQN_MAX_LEN`] bytes, and free of commas,
/// whitespace and control characters. (`=` is allowed: the kernel takes the rest of the option
/// token as the value.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostNqn(String);

impl HostNqn {
    /// Validates `s` as a host NQN.
    ///
    /// # Errors
    /// [`InvalidValue`] saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() {
            return Err(InvalidValue::EmptyNqn);
        }
        if !s.starts_with("nqn.") {
            return Err(InvalidValue::NqnPrefix(s.to_owned()));
        }
        if s.len() > NQN_MAX_LEN {
            return Err(InvalidValue::NqnTooLong {
                nqn: s.to_owned(),
                len: s.len(),
            });
        }
        if let Some(c) = s
            .chars()
            .find(|&c| c == ',' || c.is_whitespace() || c.is_control())
        {
            return Err(InvalidValue::NqnCharacter {
                nqn: s.to_owned(),
                what: describe_char(c),
            });
        }
        Ok(Self(s.to_owned()))
    }

    /// The NQN of the UUID form for `uuid` (lower-case hex).
    #[must_use]
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(format!("{UUID_NQN_PREFIX}{uuid}"))
    }

    /// The NQN text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The UUID text in the NQN, as libnvme finds it (the text after the first `uuid:`), if
    /// that text is a canonical UUID. Its case is kept.
    #[must_use]
    pub fn uuid_text(&self) -> Option<&str> {
        let (_, after) = self.0.split_once("uuid:")?;
        is_canonical_uuid(after).then_some(after)
    }
}

impl fmt::Display for HostNqn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True for the 36-character `8-4-4-4-12` hex form the kernel's `uuid_parse` accepts (either case).
#[must_use]
pub fn is_canonical_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Validates a host ID: a canonical UUID (`uuid_parse` rules; the braced, `urn:` and 32-digit
/// forms are refused).
///
/// # Errors
/// [`InvalidValue::HostId`].
pub fn parse_host_id(s: &str) -> Result<Uuid, InvalidValue> {
    if !is_canonical_uuid(s) {
        return Err(InvalidValue::HostId(s.to_owned()));
    }
    Uuid::parse_str(s).map_err(|_| InvalidValue::HostId(s.to_owned()))
}

/// A secret (DH-HMAC-CHAP key). `Debug` and `Display` never show it (DECISIONS item 6); the
/// memory is zeroed on drop. Use [`Secret::expose`] only to hand the key to the kernel.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret without validating it.
    #[must_use]
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret text, for the kernel connect string only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

fn base64_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Strict standard base64 with padding.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() % 4 != 0 {
        return None;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for chunk in b.chunks(4) {
        let mut acc = 0u32;
        let mut n = 0;
        for &c in chunk {
            if c == b'=' {
                acc <<= 6;
            } else {
                acc = (acc << 6) | base64_value(c)?;
                n += 1;
            }
        }
        let [_, b0, b1, b2] = acc.to_be_bytes();
        match n {
            4 => out.extend([b0, b1, b2]),
            3 if b2 == 0 => out.extend([b0, b1]),
            2 if b1 == 0 && b2 == 0 => out.push(b0),
            _ => return None,
        }
        // Padding only at the very end.
        if n < 4 && out.len() != (b.len() / 4) * 3 - pad {
            return None;
        }
    }
    Some(out)
}

/// CRC-32 (IEEE 802.3, reflected, as the kernel's `~crc32(~0, …)`).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Validates a DH-HMAC-CHAP secret as the kernel does (`nvme_auth_extract_key`):
/// `DHHC-1:<hash 00..03>:<base64 of a 32, 48 or 64-byte key and its CRC-32>:`.
///
/// # Errors
/// [`InvalidValue::HostKey`] with the reason; the key is never part of the error.
pub fn parse_host_key(s: &str) -> Result<Secret, InvalidValue> {
    let rest = s
        .strip_prefix("DHHC-1:")
        .ok_or(InvalidValue::HostKey("it must start with \"DHHC-1:\""))?;
    let (hash, body) = rest
        .split_once(':')
        .ok_or(InvalidValue::HostKey("expected DHHC-1:<hash>:<key>:"))?;
    if !matches!(hash, "00" | "01" | "02" | "03") {
        return Err(InvalidValue::HostKey(
            "the hash identifier must be 00, 01, 02 or 03",
        ));
    }
    let body = body
        .strip_suffix(':')
        .ok_or(InvalidValue::HostKey("it must end with \":\""))?;
    let key = base64_decode(body).ok_or(InvalidValue::HostKey("the key is not valid base64"))?;
    if !matches!(key.len(), 36 | 52 | 68) {
        return Err(InvalidValue::HostKey(
            "the key must be 32, 48 or 64 bytes plus a 4-byte CRC",
        ));
    }
    let (material, crc) = key.split_at(key.len() - 4);
    if crc32(material).to_le_bytes() != crc {
        return Err(InvalidValue::HostKey("the CRC of the key does not match"));
    }
    Ok(Secret(s.to_owned()))
}

/// Validates a symbolic name: at most [`SYMNAME_MAX_LEN`] bytes, no control characters. The
/// empty name means "no symbolic name" (`None`).
///
/// # Errors
/// [`InvalidValue::SymnameTooLong`] or [`InvalidValue::SymnameCharacter`].
pub fn parse_symname(s: &str) -> Result<Option<String>, InvalidValue> {
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > SYMNAME_MAX_LEN {
        return Err(InvalidValue::SymnameTooLong {
            name: s.to_owned(),
            len: s.len(),
        });
    }
    if s.chars().any(char::is_control) {
        return Err(InvalidValue::SymnameCharacter(s.to_owned()));
    }
    Ok(Some(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test keys made with Python (not secrets):
    //   key = bytes(range(1, n + 1)); crc = zlib.crc32(key)
    //   "DHHC-1:00:" + base64.b64encode(key + struct.pack("<I", crc)).decode() + ":"
    const KEY32: &str = "DHHC-1:00:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAl7OaH:";
    const KEY48: &str =
        "DHHC-1:00:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wyg3Bcw==:";
    const KEY64: &str = "DHHC-1:00:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QJn7gCg=:";
    // The same 32 bytes with a zero CRC.
    const BAD_CRC: &str = "DHHC-1:00:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAAAAAA:";
    // The example secret of the NVMe specification (accepted by the kernel with any hash).
    const SPEC_KEY: &str = "DHHC-1:01:ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2n:";

    #[test]
    fn nqn_rules() {
        let ok = "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
        assert_eq!(HostNqn::parse(ok).unwrap().as_str(), ok);
        assert!(HostNqn::parse("nqn.1988-11.com.dell:PowerEdge=R760").is_ok());
        assert_eq!(HostNqn::parse(""), Err(InvalidValue::EmptyNqn));
        assert_eq!(
            HostNqn::parse("foo").unwrap_err().to_string(),
            "host NQN \"foo\" must start with \"nqn.\""
        );
        for bad in ["nqn.a,b", "nqn.a b", "nqn.a\tb", "nqn.a\nb", "nqn.a\u{7}"] {
            assert!(
                matches!(HostNqn::parse(bad), Err(InvalidValue::NqnCharacter { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nqn_length_follows_the_kernel_not_nvme_stas() {
        let at = |n: usize| format!("nqn.{}", "a".repeat(n - 4));
        assert!(HostNqn::parse(&at(222)).is_ok());
        let e = HostNqn::parse(&at(223)).unwrap_err();
        assert!(
            matches!(e, InvalidValue::NqnTooLong { len: 223, .. }),
            "{e}"
        );
        assert!(e
            .to_string()
            .ends_with("is 223 bytes long; the kernel accepts at most 222"));
        assert!(HostNqn::parse(&at(224)).is_err());
    }

    #[test]
    fn uuid_in_nqn() {
        let n =
            HostNqn::parse("nqn.2014-08.org.nvmexpress:uuid:E2DD6D3B-2A42-46C4-B116-261DDF5B0683")
                .unwrap();
        assert_eq!(n.uuid_text(), Some("E2DD6D3B-2A42-46C4-B116-261DDF5B0683"));
        let n = HostNqn::parse("nqn.1988-11.com.dell:PowerEdge.R760.1234567").unwrap();
        assert_eq!(n.uuid_text(), None);
        let n = HostNqn::parse("nqn.2014-08.org.nvmexpress:uuid:not-a-uuid").unwrap();
        assert_eq!(n.uuid_text(), None);
        let u = Uuid::parse_str("e2dd6d3b-2a42-46c4-b116-261ddf5b0683").unwrap();
        assert_eq!(
            HostNqn::from_uuid(u).as_str(),
            "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683"
        );
    }

    #[test]
    fn host_id_must_be_canonical() {
        let u = parse_host_id("E2DD6D3B-2A42-46C4-B116-261DDF5B0683").unwrap();
        assert_eq!(u.to_string(), "e2dd6d3b-2a42-46c4-b116-261ddf5b0683");
        for bad in [
            "",
            "e2dd6d3b2a4246c4b116261ddf5b0683",
            "{e2dd6d3b-2a42-46c4-b116-261ddf5b0683}",
            "urn:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683",
            "e2dd6d3b-2a42-46c4-b116-261ddf5b068g",
            "e2dd6d3b-2a4246c4-b116-261ddf5b06830",
        ] {
            assert_eq!(
                parse_host_id(bad),
                Err(InvalidValue::HostId(bad.to_owned()))
            );
        }
    }

    #[test]
    fn host_keys() {
        for k in [KEY32, KEY48, KEY64, SPEC_KEY] {
            assert_eq!(parse_host_key(k).unwrap().expose(), k);
        }
        let bad = [
            ("", "start with"),
            (
                "DHHC-1:04:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAl7OaH:",
                "hash",
            ),
            (
                "DHHC-1:00:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAl7OaH",
                "end with",
            ),
            (
                "DHHC-1:00:AQID*AUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAl7OaH:",
                "base64",
            ),
            (
                "DHHC-1:00:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAl7Oa:",
                "base64",
            ),
            ("DHHC-1:00:AQIDBAUG:", "32, 48 or 64"),
            (BAD_CRC, "CRC"),
        ];
        for (k, why) in bad {
            let e = parse_host_key(k).unwrap_err().to_string();
            assert!(e.contains(why), "{k}: {e}");
            assert!(
                k.len() < 10 || !e.contains(&k[10..]),
                "the key leaks into {e}"
            );
        }
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode("TQ==").unwrap(), b"M");
        assert_eq!(base64_decode("TQ==TWFu"), None);
        assert_eq!(base64_decode("TR=="), None, "non-zero trailing bits");
        assert_eq!(base64_decode("T==="), None);
        assert_eq!(base64_decode("TWF"), None);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn secrets_never_print() {
        let s = parse_host_key(KEY32).unwrap();
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(<redacted>))");
    }

    #[test]
    fn symnames() {
        assert_eq!(parse_symname(""), Ok(None));
        assert_eq!(
            parse_symname("rack 12 host"),
            Ok(Some("rack 12 host".to_owned()))
        );
        assert!(parse_symname(&"é".repeat(128)).is_ok());
        assert!(matches!(
            parse_symname(&"x".repeat(257)),
            Err(InvalidValue::SymnameTooLong { len: 257, .. })
        ));
        assert!(matches!(
            parse_symname("a\u{1b}[31m"),
            Err(InvalidValue::SymnameCharacter(_))
        ));
    }
}
