//! Validation of strings that can end up in a `/dev/nvme-fabrics` option string
//! (DECISIONS.md item 14: network input is untrusted).
//!
//! The kernel's option parser splits on `,` and `\n` and matches `name=value` tokens, so a
//! value containing a separator could smuggle in another option. We refuse, before anything
//! is written: empty values, values with `,` `=` whitespace or control characters, and values
//! longer than the field allows. DH-HMAC-CHAP secrets are the one exception for `=`: they are
//! base64 and may end in `=` padding, which the kernel accepts inside a `%s` value.

use thiserror::Error;

/// Longest NQN the Linux host accepts (`strlen < NVMF_NQN_SIZE` = 223).
pub const MAX_NQN_LEN: usize = 222;
/// Longest NQN the NVMe specification allows (223 bytes; DLP fields are 256 bytes).
pub const MAX_SPEC_NQN_LEN: usize = 223;
/// Longest transport address (DLPE TRADDR field is 256 bytes, NUL terminated).
pub const MAX_TRADDR_LEN: usize = 255;
/// Longest transport service id (DLPE TRSVCID field is 32 bytes).
pub const MAX_TRSVCID_LEN: usize = 32;
/// Longest interface name (`IFNAMSIZ` - 1).
pub const MAX_IFACE_LEN: usize = 15;
/// Longest DH-HMAC-CHAP secret we pass on (a 64-byte key is 92 base64 characters + framing).
pub const MAX_SECRET_LEN: usize = 256;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// The value is empty.
    #[error("empty value")]
    Empty,
    /// The value is longer than allowed.
    #[error("value is {len} bytes long, at most {max} allowed")]
    TooLong {
        /// Actual length in bytes.
        len: usize,
        /// Maximum length in bytes.
        max: usize,
    },
    /// The value contains a character that would break the option string.
    #[error("value contains forbidden character {ch:?} at byte {pos}")]
    Forbidden {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        pos: usize,
    },
    /// The value has the wrong shape for its field.
    #[error("{0}")]
    Malformed(&'static str),
}

fn check_chars(s: &str, allow_eq: bool) -> Result<(), ValueError> {
    for (pos, ch) in s.char_indices() {
        let bad = ch == ',' || (ch == '=' && !allow_eq) || ch.is_whitespace() || ch.is_control();
        if bad {
            return Err(ValueError::Forbidden { ch, pos });
        }
    }
    Ok(())
}

/// Checks a plain option value: non-empty, at most `max` bytes, no `,` `=` whitespace or
/// control characters.
///
/// # Errors
/// The first rule the value breaks.
pub fn check_value(s: &str, max: usize) -> Result<(), ValueError> {
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    if s.len() > max {
        return Err(ValueError::TooLong { len: s.len(), max });
    }
    check_chars(s, false)
}

/// Checks an NQN: a plain value of at most [`MAX_NQN_LEN`] bytes.
///
/// # Errors
/// The first rule the value breaks.
pub fn check_nqn(s: &str) -> Result<(), ValueError> {
    check_value(s, MAX_NQN_LEN)
}

/// Checks a host ID: the canonical 36-character UUID text the kernel's `uuid_parse` accepts.
///
/// # Errors
/// [`ValueError::Malformed`] when it is not `8-4-4-4-12` hex digits.
pub fn check_hostid(s: &str) -> Result<(), ValueError> {
    check_value(s, 36)?;
    let ok = s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if ok {
        Ok(())
    } else {
        Err(ValueError::Malformed("host id is not a canonical UUID"))
    }
}

/// Checks a DH-HMAC-CHAP secret: starts with `DHHC-1:`, at least 11 bytes, no `,`,
/// whitespace or control characters (`=` allowed for base64 padding).
///
/// # Errors
/// The first rule the value breaks.
pub fn check_secret(s: &str) -> Result<(), ValueError> {
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    if s.len() > MAX_SECRET_LEN {
        return Err(ValueError::TooLong {
            len: s.len(),
            max: MAX_SECRET_LEN,
        });
    }
    check_chars(s, true)?;
    if !s.starts_with("DHHC-1:") || s.len() < 11 {
        return Err(ValueError::Malformed("secret must be a DHHC-1 key"));
    }
    Ok(())
}

/// Checks a TCP/RDMA port string: 1–5 decimal digits, no leading zero (the kernel parses
/// `0`-prefixed numbers as octal elsewhere, and the EALREADY check compares strings).
///
/// # Errors
/// [`ValueError::Malformed`] when it is not a port number.
pub fn check_port(s: &str) -> Result<(), ValueError> {
    check_value(s, MAX_TRSVCID_LEN)?;
    let digits = s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) || s.parse::<u16>().is_err() {
        return Err(ValueError::Malformed("not a port number"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values() {
        assert_eq!(check_value("", 10), Err(ValueError::Empty));
        assert_eq!(
            check_value("abcdef", 3),
            Err(ValueError::TooLong { len: 6, max: 3 })
        );
        assert_eq!(
            check_value("a,b", 10),
            Err(ValueError::Forbidden { ch: ',', pos: 1 })
        );
        assert_eq!(
            check_value("a=b", 10),
            Err(ValueError::Forbidden { ch: '=', pos: 1 })
        );
        assert!(matches!(
            check_value("a b", 10),
            Err(ValueError::Forbidden { .. })
        ));
        assert!(matches!(
            check_value("a\tb", 10),
            Err(ValueError::Forbidden { .. })
        ));
        assert!(matches!(
            check_value("a\nb", 10),
            Err(ValueError::Forbidden { .. })
        ));
        assert!(matches!(
            check_value("a\u{7f}b", 10),
            Err(ValueError::Forbidden { .. })
        ));
        assert!(matches!(
            check_value("a\u{a0}b", 10),
            Err(ValueError::Forbidden { .. })
        ));
        assert_eq!(check_value("fe80::1%eth0", 255), Ok(()));
        assert_eq!(
            check_value("nn-0x1000000044001123:pn-0x2000000055001123", 255),
            Ok(())
        );
    }

    #[test]
    fn nqn_length_is_the_kernel_limit() {
        let ok = format!("nqn.{}", "a".repeat(MAX_NQN_LEN - 4));
        assert_eq!(check_nqn(&ok), Ok(()));
        let too_long = format!("{ok}a");
        assert_eq!(
            check_nqn(&too_long),
            Err(ValueError::TooLong { len: 223, max: 222 })
        );
    }

    #[test]
    fn hostid_and_port_and_secret() {
        assert_eq!(check_hostid("e4498cf1-1a81-4cfd-9f10-9e947466ed0f"), Ok(()));
        assert!(check_hostid("e4498cf1-1a81-4cfd-9f10-9e947466ed0").is_err());
        assert!(check_hostid("e4498cf1x1a81-4cfd-9f10-9e947466ed0f").is_err());
        assert_eq!(check_port("4420"), Ok(()));
        assert!(check_port("04420").is_err());
        assert!(check_port("65536").is_err());
        assert!(check_port("").is_err());
        assert!(check_port("44a").is_err());
        assert_eq!(check_secret("DHHC-1:00:abcd+/AB=:"), Ok(()));
        assert!(check_secret("DHHC-1:00:ab,cd:").is_err());
        assert!(check_secret("secret").is_err());
    }
}
