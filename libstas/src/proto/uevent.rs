//! Kernel uevents (sans-IO): the netlink datagram `ACTION@DEVPATH\0KEY=VALUE\0…` or a
//! key/value list (udev properties, a sysfs `uevent` file) into a [`Uevent`], and the
//! NVMe controller events the daemons react to into a typed [`NvmeEvent`].
//!
//! Events of interest (kernel-interface.md §6.1), all with `SUBSYSTEM=nvme` on the
//! controller device: `add`, `remove`, and `change` carrying `NVME_AEN=<%#08x>` or
//! `NVME_EVENT=connected|rediscover`.

use std::collections::BTreeMap;

use thiserror::Error;

/// Errors parsing a uevent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UeventError {
    /// A message re-broadcast by udevd (`libudev` header), not a kernel uevent.
    #[error("udev monitor message, not a kernel uevent")]
    Libudev,
    /// Not UTF-8.
    #[error("uevent is not valid UTF-8")]
    NotUtf8,
    /// No `ACTION@DEVPATH` header and no ACTION/DEVPATH keys.
    #[error("uevent has no {0}")]
    Missing(&'static str),
}

/// Uevent action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `add`.
    Add,
    /// `remove`.
    Remove,
    /// `change`.
    Change,
    /// Anything else (`move`, `bind`, `online`, …).
    Other(String),
}

impl Action {
    fn parse(s: &str) -> Self {
        match s {
            "add" => Self::Add,
            "remove" => Self::Remove,
            "change" => Self::Change,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A parsed uevent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    /// Action.
    pub action: Action,
    /// Device path below /sys (e.g. `/devices/virtual/nvme-fabrics/ctl/nvme0`).
    pub devpath: String,
    /// Every `KEY=VALUE` pair (including ACTION, DEVPATH, SUBSYSTEM when present).
    pub env: BTreeMap<String, String>,
}

impl Uevent {
    /// Parses a kernel netlink uevent datagram.
    ///
    /// # Errors
    /// [`UeventError`] when the message is a udevd message, not UTF-8, or has no header.
    pub fn parse_datagram(buf: &[u8]) -> Result<Self, UeventError> {
        if buf.starts_with(b"libudev\0") {
            return Err(UeventError::Libudev);
        }
        let mut parts = buf.split(|&b| b == 0);
        let head = parts.next().unwrap_or_default();
        let head = std::str::from_utf8(head).map_err(|_| UeventError::NotUtf8)?;
        let (action, devpath) = head
            .split_once('@')
            .ok_or(UeventError::Missing("ACTION@DEVPATH header"))?;
        let mut env = BTreeMap::new();
        for p in parts.filter(|p| !p.is_empty()) {
            let p = std::str::from_utf8(p).map_err(|_| UeventError::NotUtf8)?;
            if let Some((k, v)) = p.split_once('=') {
                env.insert(k.to_owned(), v.to_owned());
            }
        }
        let action = env.get("ACTION").map_or(action, String::as_str);
        let devpath = env.get("DEVPATH").map_or(devpath, String::as_str);
        Ok(Self {
            action: Action::parse(action),
            devpath: devpath.to_owned(),
            env: env.clone(),
        })
    }

    /// Builds a uevent from `KEY=VALUE` pairs (udev properties). `ACTION` and `DEVPATH`
    /// must be among them.
    ///
    /// # Errors
    /// [`UeventError::Missing`] when ACTION or DEVPATH is absent.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, UeventError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let action = env.get("ACTION").ok_or(UeventError::Missing("ACTION"))?;
        let devpath = env.get("DEVPATH").ok_or(UeventError::Missing("DEVPATH"))?;
        Ok(Self {
            action: Action::parse(action),
            devpath: devpath.clone(),
            env: env.clone(),
        })
    }

    /// One property.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// The `SUBSYSTEM` property.
    #[must_use]
    pub fn subsystem(&self) -> Option<&str> {
        self.get("SUBSYSTEM")
    }

    /// The `SEQNUM` property.
    #[must_use]
    pub fn seqnum(&self) -> Option<u64> {
        self.get("SEQNUM")?.parse().ok()
    }

    /// The NVMe controller event this uevent carries, if any.
    #[must_use]
    pub fn nvme_event(&self) -> Option<NvmeEvent> {
        if self.subsystem() != Some("nvme") {
            return None;
        }
        let name = self
            .get("DEVNAME")
            .map(|d| d.rsplit('/').next().unwrap_or(d))
            .or_else(|| self.devpath.rsplit('/').next())?;
        let instance = ctrl_instance(name)?;
        let kind = match &self.action {
            Action::Add => NvmeEventKind::Added,
            Action::Remove => NvmeEventKind::Removed,
            Action::Change => {
                if let Some(aen) = self.get("NVME_AEN") {
                    NvmeEventKind::Aen(parse_aen(aen)?)
                } else {
                    match self.get("NVME_EVENT") {
                        Some("connected") => NvmeEventKind::Connected,
                        Some("rediscover") => NvmeEventKind::Rediscover,
                        _ => NvmeEventKind::Changed,
                    }
                }
            }
            Action::Other(_) => return None,
        };
        let prop = |k: &str| {
            self.get(k)
                .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("none"))
                .map(str::to_owned)
        };
        Some(NvmeEvent {
            device: name.to_owned(),
            instance,
            kind,
            trtype: prop("NVME_TRTYPE"),
            traddr: prop("NVME_TRADDR"),
            trsvcid: prop("NVME_TRSVCID"),
            host_traddr: prop("NVME_HOST_TRADDR"),
            host_iface: prop("NVME_HOST_IFACE"),
            seqnum: self.seqnum(),
        })
    }
}

/// The instance number of a controller name `nvme<N>` (not `nvme<N>n<M>` or others).
#[must_use]
pub fn ctrl_instance(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("nvme")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// Parses an `NVME_AEN` value (`%#08x`, e.g. `0x70f002`) as hex.
#[must_use]
pub fn parse_aen(s: &str) -> Option<u32> {
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if hex.is_empty() {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// What happened to a controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NvmeEventKind {
    /// Controller created (not yet live).
    Added,
    /// Controller gone.
    Removed,
    /// An asynchronous event notification, with the completion dword 0.
    Aen(u32),
    /// The controller (re)entered live (5.18+).
    Connected,
    /// A discovery controller reconnected: re-read the log and re-register (6.1+).
    Rediscover,
    /// Another change event.
    Changed,
}

/// A typed NVMe controller event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvmeEvent {
    /// Device name, `nvme<N>`.
    pub device: String,
    /// Instance number N.
    pub instance: u32,
    /// What happened.
    pub kind: NvmeEventKind,
    /// `NVME_TRTYPE` (absent when unset or `none`).
    pub trtype: Option<String>,
    /// `NVME_TRADDR`.
    pub traddr: Option<String>,
    /// `NVME_TRSVCID`.
    pub trsvcid: Option<String>,
    /// `NVME_HOST_TRADDR`.
    pub host_traddr: Option<String>,
    /// `NVME_HOST_IFACE`.
    pub host_iface: Option<String>,
    /// `SEQNUM`.
    pub seqnum: Option<u64>,
}

impl NvmeEvent {
    /// Whether this is the "discovery log page changed" AEN (`0x70f002`).
    #[must_use]
    pub fn is_disc_log_change(&self) -> bool {
        self.kind == NvmeEventKind::Aen(super::consts::AEN_DISC_LOG_CHANGED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dgram(parts: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in parts {
            v.extend_from_slice(p.as_bytes());
            v.push(0);
        }
        v
    }

    const DP: &str = "/devices/virtual/nvme-fabrics/ctl/nvme0";

    #[test]
    fn aen_change_event() {
        let b = dgram(&[
            &format!("change@{DP}"),
            "ACTION=change",
            &format!("DEVPATH={DP}"),
            "SUBSYSTEM=nvme",
            "NVME_AEN=0x70f002",
            "MAJOR=246",
            "MINOR=0",
            "DEVNAME=nvme0",
            "NVME_TRTYPE=tcp",
            "NVME_TRADDR=127.0.0.1",
            "NVME_TRSVCID=8009",
            "NVME_HOST_TRADDR=none",
            "NVME_HOST_IFACE=none",
            "SEQNUM=4242",
        ]);
        let u = Uevent::parse_datagram(&b).unwrap();
        assert_eq!(u.action, Action::Change);
        assert_eq!(u.devpath, DP);
        let e = u.nvme_event().unwrap();
        assert_eq!(e.device, "nvme0");
        assert_eq!(e.instance, 0);
        assert_eq!(e.kind, NvmeEventKind::Aen(0x70f002));
        assert!(e.is_disc_log_change());
        assert_eq!(e.traddr.as_deref(), Some("127.0.0.1"));
        assert_eq!(e.host_traddr, None);
        assert_eq!(e.host_iface, None);
        assert_eq!(e.seqnum, Some(4242));
    }

    #[test]
    fn connected_rediscover_add_remove() {
        for (action, extra, kind) in [
            ("change", "NVME_EVENT=connected", NvmeEventKind::Connected),
            ("change", "NVME_EVENT=rediscover", NvmeEventKind::Rediscover),
            ("change", "FOO=bar", NvmeEventKind::Changed),
            ("add", "FOO=bar", NvmeEventKind::Added),
            ("remove", "FOO=bar", NvmeEventKind::Removed),
        ] {
            let b = dgram(&[
                &format!("{action}@/devices/virtual/nvme-fabrics/ctl/nvme12"),
                &format!("ACTION={action}"),
                "SUBSYSTEM=nvme",
                extra,
            ]);
            let e = Uevent::parse_datagram(&b).unwrap().nvme_event().unwrap();
            assert_eq!((e.instance, e.kind), (12, kind), "{action} {extra}");
        }
    }

    #[test]
    fn non_controller_events_are_ignored() {
        let ns = dgram(&[
            "add@/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1",
            "SUBSYSTEM=block",
            "DEVNAME=nvme0n1",
        ]);
        assert_eq!(Uevent::parse_datagram(&ns).unwrap().nvme_event(), None);
        let sub = dgram(&[
            "add@/devices/virtual/nvme-subsystem/nvme-subsys0",
            "SUBSYSTEM=nvme-subsystem",
        ]);
        assert_eq!(Uevent::parse_datagram(&sub).unwrap().nvme_event(), None);
        let bad_aen = dgram(&[&format!("change@{DP}"), "SUBSYSTEM=nvme", "NVME_AEN=zz"]);
        assert_eq!(Uevent::parse_datagram(&bad_aen).unwrap().nvme_event(), None);
        assert_eq!(
            Uevent::parse_datagram(b"libudev\0xxxx"),
            Err(UeventError::Libudev)
        );
        assert_eq!(
            Uevent::parse_datagram(b"garbage"),
            Err(UeventError::Missing("ACTION@DEVPATH header"))
        );
        assert_eq!(
            Uevent::parse_datagram(&[0xff, b'@', 0]),
            Err(UeventError::NotUtf8)
        );
    }

    #[test]
    fn from_pairs_and_helpers() {
        let u = Uevent::from_pairs([
            ("ACTION", "change"),
            ("DEVPATH", DP),
            ("SUBSYSTEM", "nvme"),
            ("NVME_AEN", "0x000001"),
        ])
        .unwrap();
        assert_eq!(u.nvme_event().unwrap().kind, NvmeEventKind::Aen(1));
        assert!(Uevent::from_pairs([("ACTION", "add")]).is_err());
        assert_eq!(ctrl_instance("nvme3"), Some(3));
        assert_eq!(ctrl_instance("nvme3n1"), None);
        assert_eq!(ctrl_instance("nvme"), None);
        assert_eq!(ctrl_instance("nvme03"), None);
        assert_eq!(ctrl_instance("nvme-fabrics"), None);
        assert_eq!(parse_aen("0x70f002"), Some(0x70f002));
        assert_eq!(parse_aen("70f002"), Some(0x70f002));
        assert_eq!(parse_aen("0x"), None);
    }
}
