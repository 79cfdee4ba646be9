//! The sysfs `address` attribute of a fabrics controller (kernel-interface.md §2.2):
//! `traddr=…,trsvcid=…[,host_traddr=…][,host_iface=…][,src_addr=…]`.
//!
//! Only options the user passed appear; values are echoed as given. `src_addr` (TCP, 6.1+,
//! live controllers only) is the local IP of the admin socket; a `%scope` suffix is cut.

/// The parsed `address` attribute. Absent keys are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtrlAddress {
    /// Target address.
    pub traddr: Option<String>,
    /// Target service id.
    pub trsvcid: Option<String>,
    /// Host address the connection was bound to.
    pub host_traddr: Option<String>,
    /// Host interface the connection was bound to.
    pub host_iface: Option<String>,
    /// Actual local address of the admin queue socket.
    pub src_addr: Option<String>,
}

impl CtrlAddress {
    /// Parses the attribute text. Unknown keys and text without `=` (PCIe BDF) are ignored;
    /// empty values and `none` count as absent.
    #[must_use]
    pub fn parse(s: &str) -> Self {
        let mut a = Self::default();
        for tok in s
            .split([',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let Some((k, v)) = tok.split_once('=') else {
                continue;
            };
            if v.is_empty() || v.eq_ignore_ascii_case("none") {
                continue;
            }
            let slot = match k {
                "traddr" => &mut a.traddr,
                "trsvcid" => &mut a.trsvcid,
                "host_traddr" => &mut a.host_traddr,
                "host_iface" => &mut a.host_iface,
                "src_addr" => &mut a.src_addr,
                _ => continue,
            };
            let v = if k == "src_addr" {
                v.split('%').next().unwrap_or(v)
            } else {
                v
            };
            if !v.is_empty() {
                *slot = Some(v.to_owned());
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_6_1_tcp() {
        let a = CtrlAddress::parse("traddr=127.0.0.1,trsvcid=8009,src_addr=127.0.0.1\n");
        assert_eq!(a.traddr.as_deref(), Some("127.0.0.1"));
        assert_eq!(a.trsvcid.as_deref(), Some("8009"));
        assert_eq!(a.src_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(a.host_traddr, None);
        let b = CtrlAddress::parse(
            "traddr=fe80::1,trsvcid=4420,host_traddr=fe80::2,host_iface=eth0,src_addr=fe80::2%eth0\n",
        );
        assert_eq!(b.traddr.as_deref(), Some("fe80::1"));
        assert_eq!(b.host_traddr.as_deref(), Some("fe80::2"));
        assert_eq!(b.host_iface.as_deref(), Some("eth0"));
        assert_eq!(b.src_addr.as_deref(), Some("fe80::2"));
    }

    #[test]
    fn fc_pcie_loop_and_junk() {
        let fc = CtrlAddress::parse(
            "traddr=nn-0x1000000044001123:pn-0x2000000055001123,host_traddr=nn-0x1:pn-0x2\n",
        );
        assert_eq!(
            fc.traddr.as_deref(),
            Some("nn-0x1000000044001123:pn-0x2000000055001123")
        );
        assert_eq!(fc.host_traddr.as_deref(), Some("nn-0x1:pn-0x2"));
        assert_eq!(fc.trsvcid, None);
        assert_eq!(CtrlAddress::parse("0000:01:00.0\n"), CtrlAddress::default());
        assert_eq!(CtrlAddress::parse("\n"), CtrlAddress::default());
        assert_eq!(
            CtrlAddress::parse("traddr=,x=y,host_iface=none"),
            CtrlAddress::default()
        );
    }
}
