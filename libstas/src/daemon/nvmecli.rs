//! Living next to nvme-cli's udev autoconnect (nvme-stas-behaviour.md §5.14).
//!
//! nvme-cli installs `70-nvmf-autoconnect.rules`, which runs `nvme connect-all` on every
//! discovery-log-change AEN; that races stafd/stacd and creates connections without
//! `host-iface`. While stafd runs it therefore *shadows* the rule with a file of the same
//! name in `/run/udev/rules.d` (which wins over `/usr/lib/udev/rules.d`) keeping only the
//! legacy FC rule, and removes the file when it stops — only if stafd wrote it.
//!
//! nvme-cli 3's rule skips discovery controllers another orchestrator owns (the registry:
//! stafd claims its own), so the shadow is written only while the installed nvme-cli is
//! older than 3 (DECISIONS.md item 19); with nvme-cli 3 a shadow an earlier stafd left is
//! removed at start, and nvme-cli's own rule serves the controllers stafd does not manage.
//!
//! For discovery controllers stafd does not manage (made by hand with `nvme discover -p`),
//! while it shadows the rule, stafd does what the shadowed rule would have done: on a log-change AEN or a
//! `rediscover` event it starts `nvmf-connect@<device options>.service`. The unit
//! instance is built only from the kernel's device name and the host address/interface the
//! kernel reports, each checked against a strict character set.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::proto::consts::AEN_DISC_LOG_CHANGED;
use crate::proto::uevent::{NvmeEvent, NvmeEventKind};

/// The rule file name shared with nvme-cli.
pub const RULE_NAME: &str = "70-nvmf-autoconnect.rules";
/// Where stafd writes its shadow (tmpfs; gone at reboot).
pub const RUN_RULES_DIR: &str = "/run/udev/rules.d";

/// The first line of every shadow stafd writes: how a later stafd knows the file as its own.
const SHADOW_MARK: &str = "# Written by stafd while it runs; removed when it stops.";

/// The shadow rule: nvme-cli's FC rule only.
#[must_use]
pub fn shadow_rule_text(systemctl: &Path) -> String {
    format!(
        "{SHADOW_MARK} It shadows nvme-cli's\n\
         # {RULE_NAME} so that nvme-cli does not race stafd/stacd for NVMe/TCP, and keeps\n\
         # nvme-cli's FC autoconnect.\n\
         ACTION==\"change\", SUBSYSTEM==\"fc\", ENV{{FC_EVENT}}==\"nvmediscovery\", \\\n\
         \x20 ENV{{NVMEFC_HOST_TRADDR}}==\"*\", ENV{{NVMEFC_TRADDR}}==\"*\", \\\n\
         \x20 RUN+=\"{} --no-block restart nvmf-connect@--device\\x3dnone\\x09--transport\\x3dfc\\x09--traddr\\x3d$env{{NVMEFC_TRADDR}}\\x09--trsvcid\\x3dnone\\x09--host-traddr\\x3d$env{{NVMEFC_HOST_TRADDR}}.service\"\n",
        systemctl.display()
    )
}

/// The shadow rule stafd wrote; [`RuleShadow::remove`] deletes it.
#[derive(Debug)]
pub struct RuleShadow {
    path: PathBuf,
}

impl RuleShadow {
    /// Writes the shadow into `dir` unless a file of that name already exists there that
    /// stafd did not write (an administrator's own override). A shadow left by an earlier
    /// stafd that could not remove it (killed, crashed) is taken over, so this stafd
    /// removes it when it stops (only one stafd runs at a time: it owns its bus name before
    /// it gets here). Failures are logged.
    #[must_use]
    pub fn install(dir: &Path, systemctl: &Path) -> Option<Self> {
        let path = dir.join(RULE_NAME);
        match fs::read(&path) {
            Ok(text) if text.starts_with(SHADOW_MARK.as_bytes()) => {
                tracing::info!(path = %path.display(), "udev rule override left by an earlier stafd; taken over");
            }
            Ok(_) => {
                tracing::info!(path = %path.display(), "udev rule override already present; left alone");
                return None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the udev rule override; left alone");
                return None;
            }
        }
        match crate::fsutil::write_atomic(&path, shadow_rule_text(systemctl).as_bytes(), 0o644) {
            Ok(()) => Some(Self { path }),
            Err(e) => {
                tracing::warn!("cannot shadow nvme-cli's autoconnect rule: {e}");
                None
            }
        }
    }

    /// Deletes the shadow.
    pub fn remove(self) {
        if let Err(e) = fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the udev rule override");
        }
    }
}

/// The major version of the installed nvme-cli (`nvme version`: `nvme version 2.3 (git
/// 2.3)`), `None` when there is none or it says something else.
#[must_use]
pub fn nvme_cli_major() -> Option<u32> {
    let nvme = ["/usr/sbin/nvme", "/usr/bin/nvme", "/sbin/nvme"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())?;
    let out = std::process::Command::new(nvme)
        .arg("version")
        .output()
        .ok()?;
    parse_nvme_version(&String::from_utf8_lossy(&out.stdout))
}

/// Settles stafd's part in nvme-cli's AEN handling (blocking: it runs `nvme version`). In
/// the 2.x layout with an nvme-cli older than 3, nvme-cli's udev rule is shadowed, and
/// `nvmf_connect` is set to `systemctl` so that stafd starts `nvmf-connect@` for the
/// discovery controllers it does not manage: until then nvme-cli's own rule answers their
/// AENs. Otherwise a shadow an earlier stafd left is removed. Returns the shadow to remove
/// at exit.
pub fn settle_interop(stas2: bool, nvmf_connect: &OnceLock<PathBuf>) -> Option<RuleShadow> {
    let dir = Path::new(RUN_RULES_DIR);
    if !(stas2 && rule_needs_shadow(nvme_cli_major())) {
        remove_stale_shadow(dir);
        return None;
    }
    let systemctl = find_systemctl()?;
    let shadow = RuleShadow::install(dir, &systemctl);
    let _ = nvmf_connect.set(systemctl);
    shadow
}

/// The major version in `nvme version`'s output.
#[must_use]
pub fn parse_nvme_version(text: &str) -> Option<u32> {
    let rest = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("nvme version "))?;
    let major = rest.split(['.', ' ']).next()?;
    major.parse().ok()
}

/// Whether nvme-cli's autoconnect rule needs stafd's shadow: an nvme-cli older than 3
/// (one whose version cannot be told is taken as old: the shadow is today's behaviour).
#[must_use]
pub fn rule_needs_shadow(major: Option<u32>) -> bool {
    major.is_none_or(|m| m < 3)
}

/// Removes a shadow an earlier stafd left in `dir` (the rule no longer needs one).
pub fn remove_stale_shadow(dir: &Path) {
    let path = dir.join(RULE_NAME);
    if fs::read(&path).is_ok_and(|t| t.starts_with(SHADOW_MARK.as_bytes())) {
        match fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed the udev rule override an earlier stafd left (nvme-cli 3 needs none)")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale udev rule override")
            }
        }
    }
}

/// `systemctl`, if this host has it.
#[must_use]
pub fn find_systemctl() -> Option<PathBuf> {
    ["/usr/bin/systemctl", "/bin/systemctl"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Whether an event on a discovery controller stafd does not manage asks for
/// `nvmf-connect` (log-change AEN or `rediscover`; `connected` is deliberately ignored: it
/// arrives before the device is fully identified).
#[must_use]
pub fn wants_nvmf_connect(ev: &NvmeEvent) -> bool {
    matches!(ev.kind, NvmeEventKind::Rediscover)
        || matches!(ev.kind, NvmeEventKind::Aen(a) if a == AEN_DISC_LOG_CHANGED)
}

fn unit_safe(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'_' | b'-' | b'%'))
}

/// The `nvmf-connect@….service` instance for `ev` (nvme-stas's escaping: `\x3d` for `=`,
/// `\x09` between options), or `None` when a value is not safe in a unit name.
#[must_use]
pub fn nvmf_connect_unit(ev: &NvmeEvent) -> Option<String> {
    if !unit_safe(&ev.device) {
        return None;
    }
    let mut opts = vec![format!("--device\\x3d{}", ev.device)];
    for (key, val) in [
        ("host-traddr", &ev.host_traddr),
        ("host-iface", &ev.host_iface),
    ] {
        match val.as_deref() {
            None | Some("" | "none") => {}
            Some(v) if unit_safe(v) => opts.push(format!("--{key}\\x3d{v}")),
            Some(_) => return None,
        }
    }
    Some(format!("nvmf-connect@{}.service", opts.join("\\x09")))
}

/// Starts `nvmf-connect` for `ev` (blocking for as long as `systemctl --no-block` takes).
pub fn start_nvmf_connect(systemctl: &Path, ev: &NvmeEvent) {
    let Some(unit) = nvmf_connect_unit(ev) else {
        tracing::warn!(device = %ev.device, "event values not usable in a unit name; nvmf-connect not started");
        return;
    };
    tracing::info!(device = %ev.device, unit = %unit, "discovery controller not managed by stafd: starting nvmf-connect");
    match std::process::Command::new(systemctl)
        .args(["--quiet", "--no-block", "restart", &unit])
        .status()
    {
        Ok(s) if s.success() => {}
        Ok(s) => tracing::warn!(unit = %unit, status = %s, "systemctl restart failed"),
        Err(e) => tracing::warn!(unit = %unit, error = %e, "cannot run systemctl"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvme_cli_versions() {
        assert_eq!(
            parse_nvme_version("nvme version 2.3 (git 2.3)\nlibnvme version 1.3 (git 1.3)\n"),
            Some(2)
        );
        assert_eq!(
            parse_nvme_version("nvme version 3.0 (git 3.0-rc1)\n"),
            Some(3)
        );
        assert_eq!(parse_nvme_version("nvme version 10\n"), Some(10));
        assert_eq!(parse_nvme_version("usage: nvme <command>\n"), None);
        assert!(rule_needs_shadow(Some(2)) && rule_needs_shadow(None));
        assert!(!rule_needs_shadow(Some(3)));
    }

    #[test]
    fn a_stale_shadow_is_removed_and_an_admin_override_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RULE_NAME);
        std::fs::write(&path, shadow_rule_text(Path::new("/bin/systemctl"))).unwrap();
        remove_stale_shadow(dir.path());
        assert!(!path.exists());
        std::fs::write(&path, "# the admin's own\n").unwrap();
        remove_stale_shadow(dir.path());
        assert!(path.exists());
    }

    fn ev(kind: NvmeEventKind, host_traddr: Option<&str>, host_iface: Option<&str>) -> NvmeEvent {
        NvmeEvent {
            device: "nvme3".into(),
            instance: 3,
            kind,
            trtype: Some("tcp".into()),
            traddr: Some("192.0.2.1".into()),
            trsvcid: Some("8009".into()),
            host_traddr: host_traddr.map(Into::into),
            host_iface: host_iface.map(Into::into),
            seqnum: None,
        }
    }

    #[test]
    fn unit_names_follow_nvme_stas() {
        assert_eq!(
            nvmf_connect_unit(&ev(NvmeEventKind::Rediscover, None, Some("none"))).unwrap(),
            "nvmf-connect@--device\\x3dnvme3.service"
        );
        assert_eq!(
            nvmf_connect_unit(&ev(NvmeEventKind::Rediscover, Some("192.0.2.9"), Some("eth1")))
                .unwrap(),
            "nvmf-connect@--device\\x3dnvme3\\x09--host-traddr\\x3d192.0.2.9\\x09--host-iface\\x3deth1.service"
        );
        assert!(
            nvmf_connect_unit(&ev(NvmeEventKind::Rediscover, None, Some("eth1;rm -rf"))).is_none()
        );
    }

    #[test]
    fn only_log_change_and_rediscover() {
        assert!(wants_nvmf_connect(&ev(
            NvmeEventKind::Aen(0x70f002),
            None,
            None
        )));
        assert!(wants_nvmf_connect(&ev(
            NvmeEventKind::Rediscover,
            None,
            None
        )));
        assert!(!wants_nvmf_connect(&ev(
            NvmeEventKind::Aen(0x10000),
            None,
            None
        )));
        assert!(!wants_nvmf_connect(&ev(
            NvmeEventKind::Connected,
            None,
            None
        )));
    }

    #[test]
    fn shadow_is_written_once_and_removed_only_if_ours() {
        let dir = tempfile::tempdir().unwrap();
        let s = RuleShadow::install(dir.path(), Path::new("/usr/bin/systemctl")).unwrap();
        let text = fs::read_to_string(dir.path().join(RULE_NAME)).unwrap();
        assert!(text.contains("SUBSYSTEM==\"fc\""), "{text}");
        assert!(!text.contains("SUBSYSTEM==\"nvme\""), "{text}");
        assert!(
            text.contains("/usr/bin/systemctl --no-block restart nvmf-connect@--device\\x3dnone"),
            "{text}"
        );
        // A stafd killed before it could remove its shadow: the next one takes it over
        // (and removes it when it stops).
        std::mem::forget(s);
        let s = RuleShadow::install(dir.path(), Path::new("/bin/systemctl"))
            .expect("a shadow of an earlier stafd is recognised as stafd's own");
        s.remove();
        assert!(!dir.path().join(RULE_NAME).exists());
        fs::write(dir.path().join(RULE_NAME), "admin's own").unwrap();
        assert!(RuleShadow::install(dir.path(), Path::new("/bin/systemctl")).is_none());
        assert_eq!(
            fs::read_to_string(dir.path().join(RULE_NAME)).unwrap(),
            "admin's own"
        );
    }
}
