//! The host identity of the 2.x host, resolved for the migration (the only part of `plan` that
//! reads files besides the three 2.x files): sys.conf `nqn`, `id`, `key`, `symname`, with
//! `file://` values and the `/etc/nvme` defaults, exactly as the 2.x daemons resolve them
//! ([`crate::identity::resolve`]). `file://` targets are read under `--root` when one is given.

use std::path::{Path, PathBuf};

use super::NotCarried;
use crate::config::nvmeconf::check_nqn_structure;
use crate::config::sysconf::SysConf;
use crate::config::Severity;
use crate::identity::{
    resolve_id, resolve_key, resolve_nqn, resolve_symname, HostConfig, HostValue, IdentityError,
    IdentityPaths, Secret,
};

/// A value to write, with the comment that names its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sourced {
    /// The value.
    pub value: String,
    /// Where it came from (`from /etc/stas/sys.conf:3 (file:///etc/stas/hostnqn)`).
    pub comment: String,
}

/// What the migration needs to know about the 2.x host identity.
pub(super) struct IdentityFacts {
    /// `[Host] hostnqn` of the main file (only when sys.conf names a non-standard host NQN or
    /// host ID: 3.x takes a `[Host]` identity whole).
    pub hostnqn: Option<Sourced>,
    /// `[Host] hostid` of the main file (same condition).
    pub hostid: Option<Sourced>,
    /// `[Host] hostsymname`.
    pub symname: Option<Sourced>,
    /// The host DH-HMAC-CHAP key (→ `kxchap-secret` of `[I/O Controller Defaults]`).
    pub key: Option<(Secret, String)>,
    /// The host NQN the 2.x daemons used (to recognise a `host-nqn=` that names it).
    pub system_nqn: Option<String>,
    /// The host ID the 2.x daemons used (paired with every `host-nqn=` persona).
    pub system_id: Option<Sourced>,
    /// Header lines for the main file about the identity.
    pub header: Vec<String>,
    /// Values that cannot be carried (unresolvable or invalid in the 3.x format).
    pub problems: Vec<NotCarried>,
}

/// `path` (from a `file://` value) under `root` when given.
fn reroot(root: Option<&Path>, path: &str) -> PathBuf {
    match root {
        Some(r) if path.starts_with('/') => r.join(path.trim_start_matches('/')),
        _ => PathBuf::from(path),
    }
}

/// `cfg` with its `file://` targets moved under `root`.
fn rerooted(cfg: &HostConfig, root: Option<&Path>) -> HostConfig {
    let map = |v: &Option<HostValue>| {
        v.as_ref().map(|v| match v.value.strip_prefix("file://") {
            Some(p) if root.is_some() => HostValue {
                value: format!("file://{}", reroot(root, p).display()),
                origin: v.origin.clone(),
            },
            _ => v.clone(),
        })
    };
    HostConfig {
        nqn: map(&cfg.nqn),
        id: map(&cfg.id),
        key: map(&cfg.key),
        symname: map(&cfg.symname),
    }
}

/// Whether a sys.conf value is unset or a `file://` reference to the standard file `std`.
fn is_standard(v: Option<&HostValue>, std: &Path, root: Option<&Path>) -> bool {
    match v {
        None => true,
        Some(v) => v
            .value
            .strip_prefix("file://")
            .is_some_and(|p| reroot(root, p) == std),
    }
}

/// `from <file>:<line>` plus ` (file://…)` for a file reference, or `from <default file>`.
fn comment_for(v: Option<&HostValue>, default: &Path, what: &str) -> String {
    match v {
        Some(v) if v.value.starts_with("file://") => {
            format!("from {} ({})", v.origin, v.value)
        }
        Some(v) => format!("from {}", v.origin),
        None => format!("from {} (2.x's default for {what})", default.display()),
    }
}

fn problem(e: &IdentityError, what: &str, why_suffix: &str) -> NotCarried {
    let d = e.to_diagnostic(Severity::Error);
    NotCarried {
        file: d.file,
        line: d.line,
        what: what.to_owned(),
        why: format!("{}; {why_suffix}", d.message),
    }
}

/// Resolves the identity of `sys` (the loaded sys.conf) with the defaults in `paths`, reading
/// `file://` targets under `root` when given.
pub(super) fn resolve(sys: &SysConf, paths: &IdentityPaths, root: Option<&Path>) -> IdentityFacts {
    let raw = HostConfig::from_sysconf(sys);
    let cfg = rerooted(&raw, root);
    let mut f = IdentityFacts {
        hostnqn: None,
        hostid: None,
        symname: None,
        key: None,
        system_nqn: None,
        system_id: None,
        header: Vec::new(),
        problems: Vec::new(),
    };
    let nqn = resolve_nqn(&cfg, paths);
    let id = resolve_id(&cfg, paths);
    let nqn_comment = comment_for(raw.nqn.as_ref(), &paths.hostnqn(), "nqn");
    let id_comment = comment_for(raw.id.as_ref(), &paths.hostid(), "id");
    f.system_nqn = nqn.as_ref().ok().map(|n| n.as_str().to_owned());
    f.system_id = id.as_ref().ok().map(|u| Sourced {
        value: u.to_string(),
        comment: id_comment.clone(),
    });

    let std_nqn = is_standard(raw.nqn.as_ref(), &paths.hostnqn(), root);
    let std_id = is_standard(raw.id.as_ref(), &paths.hostid(), root);
    if std_nqn && std_id {
        f.header.push(format!(
            "Host NQN and host ID: {} and {}, read by the 3.x daemons as by 2.x.",
            paths.hostnqn().display(),
            paths.hostid().display()
        ));
        for (key, v) in [("nqn", &raw.nqn), ("id", &raw.id)] {
            if let Some(v) = v {
                f.header.push(format!(
                    "  {}: {key}={}: the standard file; nothing to write",
                    v.origin, v.value
                ));
            }
        }
    } else {
        // 3.x takes the identity of a [Host] whole: a configured hostnqn is never paired
        // with /etc/nvme/hostid, so both are written.
        let whole =
            "written with the host ID (3.x never pairs a [Host] hostnqn with /etc/nvme/hostid)";
        match nqn {
            Ok(n) if check_nqn_structure(n.as_str()) => {
                f.hostnqn = Some(Sourced {
                    value: n.as_str().to_owned(),
                    comment: format!("{nqn_comment}; {whole}"),
                });
            }
            Ok(n) => f.problems.push(NotCarried {
                file: sys.file.clone(),
                line: raw.nqn.as_ref().and_then(|v| v.origin.line),
                what: "[Host] nqn".into(),
                why: format!(
                    "host NQN {n} does not pass the NQN check of the 3.x format \
                     (nqn.yyyy-mm.<authority>…) and would make nvme-stas.conf invalid; not written"
                ),
            }),
            Err(e) => f
                .problems
                .push(problem(&e, "[Host] nqn", "no hostnqn written")),
        }
        match id {
            Ok(u) if !u.is_nil() => {
                f.hostid = Some(Sourced {
                    value: u.to_string(),
                    comment: format!("{id_comment}; written with the host NQN"),
                });
            }
            Ok(_) => f.problems.push(NotCarried {
                file: sys.file.clone(),
                line: raw.id.as_ref().and_then(|v| v.origin.line),
                what: "[Host] id".into(),
                why: "the all-zero host ID is rejected by the 3.x format; not written".into(),
            }),
            Err(e) => f
                .problems
                .push(problem(&e, "[Host] id", "no hostid written")),
        }
    }

    match resolve_key(&cfg, paths) {
        Ok(Some(key)) => {
            let comment = format!(
                "{}: the 2.x host key (2.x sent it to I/O controllers only; 3.x has no \
                 file:// form, so the key itself is here)",
                comment_for(raw.key.as_ref(), &paths.hostkey(), "key")
            );
            f.key = Some((key, comment));
        }
        Ok(None) => {}
        Err(e) => f.problems.push(problem(
            &e,
            "[Host] key",
            "no kxchap-secret written (2.x connected without a host key)",
        )),
    }

    match resolve_symname(&cfg) {
        Ok(Some(name)) => {
            f.symname = Some(Sourced {
                value: name,
                comment: comment_for(raw.symname.as_ref(), Path::new(""), "symname"),
            });
        }
        Ok(None) => {}
        Err(e) => f.problems.push(problem(
            &e,
            "[Host] symname",
            "no hostsymname written (2.x ran without one)",
        )),
    }
    f
}
