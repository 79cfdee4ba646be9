//! IP address helpers shared by the filters and the kernel matching rules.

use std::net::IpAddr;

/// Parses an IP address as nvme-stas does: IPv4 or IPv6 (hex digits in any case).
/// An IPv4-mapped IPv6 address is converted to IPv4 when `unmap` is true.
#[must_use]
pub fn parse_ip(s: &str, unmap: bool) -> Option<IpAddr> {
    let ip: IpAddr = s.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) if unmap => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        other => other,
    })
}

/// IP equality used to match kernel controllers: both parse, IPv4-mapped IPv6 equals its
/// IPv4 address, and case does not matter. Anything that does not parse is never equal.
#[must_use]
pub fn ip_equal(a: &str, b: &str) -> bool {
    match (parse_ip(a, true), parse_ip(b, true)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_v4_equals_v4() {
        assert!(ip_equal("1.2.3.4", "::ffff:102:304"));
        assert!(ip_equal(
            "FE80::aaaa:BBBB:cccc:dddd",
            "fe80::aaaa:bbbb:cccc:dddd"
        ));
        assert!(!ip_equal("1.2.3.4", "1.2.3.5"));
        assert!(!ip_equal("", ""));
        assert!(!ip_equal("host", "host"));
    }

    #[test]
    fn parse_keeps_mapped_unless_asked() {
        assert!(parse_ip("::ffff:1.2.3.4", false).unwrap().is_ipv6());
        assert!(parse_ip("::ffff:1.2.3.4", true).unwrap().is_ipv4());
        assert!(parse_ip("555.555.555.555", true).is_none());
    }
}
