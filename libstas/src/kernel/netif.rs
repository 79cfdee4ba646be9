//! Network interface lookups used by the controller matching rules (nvme-stas
//! `iputil.py`): which interface owns an address, and the primary (first listed) address of
//! a family on an interface. The address list comes from `getifaddrs(3)` (through the
//! [`Kernel`](super::Kernel) seam); the lookups are pure.

use std::net::IpAddr;

use super::error::KernelError;
use crate::model::ip::parse_ip;

/// One address assigned to one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    /// Interface name.
    pub iface: String,
    /// Address (IPv4-mapped IPv6 addresses are kept as given).
    pub addr: IpAddr,
}

impl IfAddr {
    /// Convenience constructor; panics never: an unparseable address gives `None`.
    #[must_use]
    pub fn new(iface: &str, addr: &str) -> Option<Self> {
        Some(Self {
            iface: iface.to_owned(),
            addr: parse_ip(addr, false)?,
        })
    }
}

/// Parses an address for comparison: scope suffix cut, IPv4-mapped IPv6 folded to IPv4.
#[must_use]
pub fn ip_key(s: &str) -> Option<IpAddr> {
    parse_ip(s.split('%').next().unwrap_or(s), true)
}

fn fold(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The first interface that has `addr` (compared with IPv4-mapped folding); `None` if no
/// interface has it.
#[must_use]
pub fn iface_of(ifaddrs: &[IfAddr], addr: IpAddr) -> Option<&str> {
    let want = fold(addr);
    ifaddrs
        .iter()
        .find(|a| fold(a.addr) == want)
        .map(|a| a.iface.as_str())
}

/// The primary (first listed) address of the same family as `like` on `iface`.
#[must_use]
pub fn primary_addr(ifaddrs: &[IfAddr], iface: &str, like: IpAddr) -> Option<IpAddr> {
    let v4 = fold(like).is_ipv4();
    ifaddrs
        .iter()
        .filter(|a| a.iface == iface)
        .map(|a| fold(a.addr))
        .find(|a| a.is_ipv4() == v4)
}

/// All IPv4/IPv6 addresses of all interfaces, in `getifaddrs` order.
///
/// # Errors
/// [`KernelError`] when `getifaddrs` fails.
pub fn system_ifaddrs() -> Result<Vec<IfAddr>, KernelError> {
    let list = nix::ifaddrs::getifaddrs()
        .map_err(|e| KernelError::new("getifaddrs", "", std::io::Error::from(e)))?;
    Ok(list
        .filter_map(|ifa| {
            let sa = ifa.address?;
            let addr = if let Some(v4) = sa.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else {
                IpAddr::V6(sa.as_sockaddr_in6()?.ip())
            };
            Some(IfAddr {
                iface: ifa.interface_name,
                addr,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Vec<IfAddr> {
        [
            ("lo", "127.0.0.1"),
            ("eth0", "192.168.1.2"),
            ("eth0", "192.168.1.3"),
            ("eth0", "fe80::1"),
            ("eth1", "10.0.0.2"),
            ("eth1", "2001:db8::2"),
        ]
        .iter()
        .filter_map(|(i, a)| IfAddr::new(i, a))
        .collect()
    }

    #[test]
    fn owner_and_primary() {
        let l = list();
        assert_eq!(iface_of(&l, ip_key("192.168.1.3").unwrap()), Some("eth0"));
        assert_eq!(
            iface_of(&l, ip_key("::ffff:10.0.0.2").unwrap()),
            Some("eth1")
        );
        assert_eq!(iface_of(&l, ip_key("FE80::1%eth0").unwrap()), Some("eth0"));
        assert_eq!(iface_of(&l, ip_key("1.1.1.1").unwrap()), None);
        assert_eq!(
            primary_addr(&l, "eth0", ip_key("1.2.3.4").unwrap()),
            ip_key("192.168.1.2")
        );
        assert_eq!(
            primary_addr(&l, "eth0", ip_key("::1").unwrap()),
            ip_key("fe80::1")
        );
        assert_eq!(primary_addr(&l, "lo", ip_key("::1").unwrap()), None);
        assert_eq!(primary_addr(&l, "nope", ip_key("1.2.3.4").unwrap()), None);
    }

    #[test]
    fn system_list_has_loopback() {
        let l = system_ifaddrs().unwrap();
        assert!(l.iter().any(|a| a.addr.is_loopback()), "{l:?}");
    }
}
