//! Validation and resolution (ecosystem-2026.md §3.3–§3.5): per file, the sections and their
//! keys; across files, the host personas; then the cascade into [`FileScope`]s and
//! [`Connection`]s.

use super::keys::{
    check_hostid, check_nqn_structure, check_string, class_of, known_ignore_case, parse_controller,
    parse_param, Class, PathSpec, Section, ADDRESS_KEYS,
};
use super::lex::{self, Line};
use super::{
    Connection, FileScope, Identity, Kind, NvmeConf, Params, Parsed, Source, WELL_KNOWN_DISC_NQN,
};
use crate::config::ini::Diagnostics;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One `[Host]` section.
#[derive(Debug, Default)]
struct Host {
    /// Line of its header.
    line: usize,
    /// Its TUNABLE and SECURITY keys.
    params: Params,
    /// Its IDENTITY keys (empty = `None`).
    identity: Identity,
    /// Line of the last `hostnqn =`.
    hostnqn_line: Option<usize>,
    /// Line of the last `hostid =`.
    hostid_line: Option<usize>,
    /// An invalid `hostnqn` was reported (so "must set hostnqn" is not reported too).
    hostnqn_bad: bool,
}

/// One `[Discovery Controller]` or `[Subsystem]`.
#[derive(Debug)]
struct Endpoint {
    section: Section,
    /// Line of its header.
    line: usize,
    /// The last valid `nqn`.
    nqn: Option<String>,
    /// Some `nqn =` line was seen (valid or not).
    nqn_given: bool,
    /// Its TUNABLE, DC_TUNABLE and SECURITY keys.
    params: Params,
    /// Its valid `controller =` lines.
    controllers: Vec<(usize, PathSpec)>,
}

impl Endpoint {
    fn kind(&self) -> Kind {
        if self.section == Section::Dc {
            Kind::Discovery
        } else {
            Kind::Io
        }
    }
}

/// What one file says.
#[derive(Debug, Default)]
struct FileAst {
    dc_defaults: Params,
    ioc_defaults: Params,
    /// The first `[Host]` (a second one is an error and is not kept).
    host: Option<Host>,
    endpoints: Vec<Endpoint>,
}

impl FileAst {
    fn defaults(&self, kind: Kind) -> &Params {
        match kind {
            Kind::Discovery => &self.dc_defaults,
            Kind::Io => &self.ioc_defaults,
        }
    }
}

/// The section the following keys go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Current {
    /// Before the first header.
    Nothing,
    /// An unknown section: keys are ignored.
    Unknown,
    /// A `*Defaults` section.
    Defaults(Kind),
    /// The file's `[Host]`.
    Host,
    /// A second `[Host]`: checked, then dropped.
    ExtraHost,
    /// The last endpoint of the file.
    Endpoint,
}

struct FileParser<'d> {
    ast: FileAst,
    extra_host: Host,
    current: Current,
    seen_dc_defaults: bool,
    seen_ioc_defaults: bool,
    drop_in: bool,
    diags: &'d mut Diagnostics,
}

/// Where a key goes.
enum Target<'a> {
    Params(&'a mut Params),
    Host(&'a mut Host),
    Endpoint(&'a mut Endpoint),
}

impl Target<'_> {
    fn params(&mut self) -> &mut Params {
        match self {
            Self::Params(p) => p,
            Self::Host(h) => &mut h.params,
            Self::Endpoint(e) => &mut e.params,
        }
    }
}

impl FileParser<'_> {
    fn section_header(&mut self, line: usize, name: &str) {
        self.finish_section();
        self.current = match Section::from_name(name) {
            None => {
                let hint = match Section::from_name_ignore_case(name) {
                    Some(s) => format!(" (section names are case-sensitive: [{}]?)", s.name()),
                    None => String::new(),
                };
                self.diags.warning(
                    Some(line),
                    format!("unknown section [{name}]; its contents are ignored{hint}"),
                );
                Current::Unknown
            }
            Some(s @ (Section::DcDefaults | Section::IocDefaults)) => {
                let seen = if s == Section::DcDefaults {
                    &mut self.seen_dc_defaults
                } else {
                    &mut self.seen_ioc_defaults
                };
                if *seen {
                    self.diags.warning(
                        Some(line),
                        format!(
                            "[{}] repeated in this file; merged with the earlier one (last \
                             value wins)",
                            s.name()
                        ),
                    );
                }
                *seen = true;
                Current::Defaults(if s == Section::DcDefaults {
                    Kind::Discovery
                } else {
                    Kind::Io
                })
            }
            Some(Section::Host) => {
                let fresh = Host {
                    line,
                    ..Host::default()
                };
                if let Some(first) = &self.ast.host {
                    self.diags.error(
                        Some(line),
                        format!(
                            "second [Host] in this file (the first is at line {}); a persona \
                             never merges: put another persona in its own drop-in file",
                            first.line
                        ),
                    );
                    self.extra_host = fresh;
                    Current::ExtraHost
                } else {
                    self.ast.host = Some(fresh);
                    Current::Host
                }
            }
            Some(section @ (Section::Dc | Section::Subsystem)) => {
                self.ast.endpoints.push(Endpoint {
                    section,
                    line,
                    nqn: None,
                    nqn_given: false,
                    params: Params::new(),
                    controllers: Vec::new(),
                });
                Current::Endpoint
            }
        };
    }

    /// Checks that need the whole section.
    fn finish_section(&mut self) {
        match self.current {
            Current::Endpoint => {
                if let Some(ep) = self.ast.endpoints.last() {
                    if ep.section == Section::Subsystem && ep.nqn.is_none() && !ep.nqn_given {
                        self.diags
                            .error(Some(ep.line), "[Subsystem] without an nqn");
                    }
                }
            }
            Current::Host if self.drop_in => {
                if let Some(h) = &self.ast.host {
                    if h.identity.hostnqn.is_none() && !h.hostnqn_bad {
                        self.diags.error(
                            Some(h.line),
                            "[Host] of a drop-in must set hostnqn (a drop-in holds one host \
                             persona)",
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn pair(&mut self, line: usize, key: &str, value: &str) {
        let (section, mut target) = match self.current {
            Current::Nothing => {
                self.diags
                    .error(Some(line), format!("'{key}' is outside of any section"));
                return;
            }
            Current::Unknown => return,
            Current::Defaults(Kind::Discovery) => (
                Section::DcDefaults,
                Target::Params(&mut self.ast.dc_defaults),
            ),
            Current::Defaults(Kind::Io) => (
                Section::IocDefaults,
                Target::Params(&mut self.ast.ioc_defaults),
            ),
            Current::Host => match self.ast.host.as_mut() {
                Some(h) => (Section::Host, Target::Host(h)),
                None => return,
            },
            Current::ExtraHost => (Section::Host, Target::Host(&mut self.extra_host)),
            Current::Endpoint => match self.ast.endpoints.last_mut() {
                Some(e) => (e.section, Target::Endpoint(e)),
                None => return,
            },
        };
        let diags = &mut *self.diags;
        let Some(class) = class_of(key) else {
            let hint = if ADDRESS_KEYS.contains(&key) {
                " (addressing keys belong on a controller = line)".to_owned()
            } else if let Some(k) = known_ignore_case(key) {
                format!(" (keys are case-sensitive: '{k}'?)")
            } else {
                String::new()
            };
            diags.warning(
                Some(line),
                format!("unknown key '{key}' in [{}], ignored{hint}", section.name()),
            );
            return;
        };
        if !class.allowed_in(section) {
            diags.error(
                Some(line),
                format!(
                    "'{key}' is not valid in this section ([{}])",
                    section.name()
                ),
            );
            return;
        }
        if class.is_param() {
            match parse_param(key, class, value) {
                Ok(v) => target.params().set(key, v),
                Err(e) => diags.error(Some(line), e),
            }
            return;
        }
        match (class, target) {
            (Class::Identity, Target::Host(host)) => identity_key(host, line, key, value, diags),
            (Class::Nqn, Target::Endpoint(ep)) => {
                ep.nqn_given = true;
                if value.is_empty() {
                    diags.error(Some(line), "empty nqn");
                } else if check_nqn_structure(value) {
                    ep.nqn = Some(value.to_owned());
                } else {
                    diags.error(
                        Some(line),
                        format!("nqn: '{value}' is not a valid NQN (nqn.yyyy-mm.<naming authority>…, at most 223 printable characters)"),
                    );
                }
            }
            (Class::Controller, Target::Endpoint(ep)) => {
                if value.is_empty() {
                    diags.error(Some(line), "controller: needs transport and traddr");
                    return;
                }
                match parse_controller(value, ep.section == Section::Dc) {
                    Ok(spec) => ep.controllers.push((line, spec)),
                    Err(errors) => {
                        for e in errors {
                            diags.error(Some(line), e);
                        }
                    }
                }
            }
            // `allowed_in` keeps every other combination out.
            _ => {}
        }
    }
}

fn identity_key(host: &mut Host, line: usize, key: &str, value: &str, diags: &mut Diagnostics) {
    let slot = match key {
        "hostnqn" => {
            host.hostnqn_line = Some(line);
            if !value.is_empty() && !check_nqn_structure(value) {
                host.hostnqn_bad = true;
                diags.error(
                    Some(line),
                    format!("hostnqn: '{value}' is not a valid NQN (nqn.yyyy-mm.<naming authority>…, at most 223 printable characters)"),
                );
                return;
            }
            &mut host.identity.hostnqn
        }
        "hostid" => {
            host.hostid_line = Some(line);
            if !value.is_empty() && !check_hostid(value) {
                let zero = value.len() == 36 && value.chars().all(|c| c == '0' || c == '-');
                diags.error(
                    Some(line),
                    if zero {
                        "hostid: must not be the all-zero UUID".to_owned()
                    } else {
                        format!("hostid: '{value}' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
                    },
                );
                return;
            }
            &mut host.identity.hostid
        }
        _ => {
            if let Err(e) = check_string(key, value) {
                diags.error(Some(line), e);
                return;
            }
            &mut host.identity.hostsymname
        }
    };
    *slot = (!value.is_empty()).then(|| value.to_owned());
}

/// Parses one file's text into what it says; problems go to `diags`.
fn parse_file(text: &str, drop_in: bool, diags: &mut Diagnostics) -> FileAst {
    let mut p = FileParser {
        ast: FileAst::default(),
        extra_host: Host::default(),
        current: Current::Nothing,
        seen_dc_defaults: false,
        seen_ioc_defaults: false,
        drop_in,
        diags,
    };
    for (line, l) in lex::lines(text) {
        match l {
            Line::Junk => p.diags.error(
                Some(line),
                "cannot parse this line: expected [section], key = value or a # comment",
            ),
            Line::Section(name) => p.section_header(line, name),
            Line::Pair { key, value } => p.pair(line, key, value),
        }
    }
    p.finish_section();
    p.ast
}

/// One file being resolved.
struct File {
    path: PathBuf,
    diags: Diagnostics,
    ast: FileAst,
}

/// Personas across files (§3.4): the same hostnqn in two files, or the same hostid under two
/// different hostnqns, is an error reported at the later file's line.
fn check_personas(files: &mut [File]) {
    let mut by_nqn: HashMap<String, PathBuf> = HashMap::new();
    let mut by_hostid: HashMap<String, (Option<String>, PathBuf)> = HashMap::new();
    for file in files {
        let Some(host) = &file.ast.host else {
            continue;
        };
        if let Some(nqn) = &host.identity.hostnqn {
            if let Some(prev) = by_nqn.get(nqn) {
                file.diags.error(
                    host.hostnqn_line,
                    format!(
                        "hostnqn '{nqn}' is already the persona of {}; one persona per file",
                        prev.display()
                    ),
                );
                continue;
            }
            by_nqn.insert(nqn.clone(), file.path.clone());
        }
        if let Some(id) = &host.identity.hostid {
            let key = id.to_ascii_lowercase();
            match by_hostid.get(&key) {
                Some((prev_nqn, prev_path)) if *prev_nqn != host.identity.hostnqn => {
                    file.diags.error(
                        host.hostid_line,
                        format!(
                            "hostid '{id}' is already used by {} under another hostnqn",
                            prev_path.display()
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    by_hostid.insert(key, (host.identity.hostnqn.clone(), file.path.clone()));
                }
            }
        }
    }
}

/// See [`super::parse`].
pub(super) fn parse(main: &Path, sources: &[Source]) -> Parsed {
    let main_pos = sources.iter().position(|s| s.path == main);
    let mut files = Vec::with_capacity(sources.len() + 1);
    {
        let mut diags = Diagnostics::new(main);
        let ast = match main_pos {
            Some(i) => parse_file(&sources[i].text, false, &mut diags),
            None => FileAst::default(),
        };
        files.push(File {
            path: main.to_owned(),
            diags,
            ast,
        });
    }
    for (i, src) in sources.iter().enumerate() {
        if Some(i) == main_pos {
            continue;
        }
        let mut diags = Diagnostics::new(&src.path);
        let ast = parse_file(&src.text, true, &mut diags);
        files.push(File {
            path: src.path.clone(),
            diags,
            ast,
        });
    }
    check_personas(&mut files);

    let mut conf = NvmeConf::default();
    for (index, file) in files.iter().enumerate() {
        let main_ast = &files[0].ast;
        let base = |kind: Kind| {
            let mut p = main_ast.defaults(kind).clone();
            if index > 0 {
                p.overlay(file.ast.defaults(kind));
            }
            if let Some(h) = &file.ast.host {
                p.overlay(&h.params);
            }
            p
        };
        let scope = FileScope {
            path: file.path.clone(),
            dc: base(Kind::Discovery),
            ioc: base(Kind::Io),
            identity: file
                .ast
                .host
                .as_ref()
                .map(|h| h.identity.clone())
                .unwrap_or_default(),
        };
        for ep in &file.ast.endpoints {
            let kind = ep.kind();
            let nqn = match (&ep.nqn, kind) {
                (Some(n), _) => n.clone(),
                (None, Kind::Discovery) if !ep.nqn_given => WELL_KNOWN_DISC_NQN.to_owned(),
                (None, _) => continue,
            };
            let section = scope.base(kind).overlaid(&ep.params);
            for (line, spec) in &ep.controllers {
                conf.connections.push(Connection {
                    kind,
                    file: file.path.clone(),
                    line: *line,
                    scope: index,
                    nqn: nqn.clone(),
                    address: spec.address.clone(),
                    params: section.overlaid(&spec.params),
                    identity: scope.identity.clone(),
                });
            }
        }
        conf.scopes.push(scope);
    }

    let diagnostics = files
        .into_iter()
        .flat_map(|f| f.diags.into_sorted_vec())
        .collect();
    Parsed {
        diagnostics,
        conf,
        found: !sources.is_empty(),
    }
}
