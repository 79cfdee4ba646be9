//! Tests of the INI connection configuration: the worked examples of ecosystem-2026.md §3.9,
//! every §3.2/§3.4 error case, the value checks and the file reading.

use super::*;
use crate::config::ini::Severity;
use std::fs;

const MAIN: &str = "/etc/nvme/nvme-stas.conf";

fn dropin(name: &str) -> String {
    format!("{MAIN}.d/{name}")
}

fn src(path: &str, text: &str) -> Source {
    Source {
        path: PathBuf::from(path),
        text: text.to_owned(),
    }
}

fn main_only(text: &str) -> Parsed {
    parse(Path::new(MAIN), &[src(MAIN, text)])
}

fn params(entries: &[(&str, Option<Value>)]) -> Params {
    let mut p = Params::new();
    for (k, v) in entries {
        p.set(k, v.clone());
    }
    p
}

fn int(i: i32) -> Option<Value> {
    Some(Value::Int(i))
}

fn boolean(b: bool) -> Option<Value> {
    Some(Value::Bool(b))
}

fn string(s: &str) -> Option<Value> {
    Some(Value::Str(s.to_owned()))
}

/// (severity, file, line, message) of every diagnostic.
fn diags(p: &Parsed) -> Vec<(Severity, String, Option<usize>, String)> {
    p.diagnostics
        .iter()
        .map(|d| {
            (
                d.severity,
                d.file.display().to_string(),
                d.line,
                d.message.clone(),
            )
        })
        .collect()
}

/// Asserts exactly one diagnostic, of `severity`, in `file` at `line`, whose message contains
/// `needle`.
fn assert_one(p: &Parsed, severity: Severity, file: &str, line: Option<usize>, needle: &str) {
    let d = diags(p);
    assert_eq!(d.len(), 1, "expected one diagnostic, got {d:#?}");
    assert_eq!(d[0].0, severity, "{d:#?}");
    assert_eq!(d[0].1, file, "{d:#?}");
    assert_eq!(d[0].2, line, "{d:#?}");
    assert!(d[0].3.contains(needle), "{:?} lacks {needle:?}", d[0].3);
    assert_eq!(p.has_errors(), severity == Severity::Error);
}

fn assert_error(p: &Parsed, line: usize, needle: &str) {
    assert_one(p, Severity::Error, MAIN, Some(line), needle);
}

fn assert_warning(p: &Parsed, line: usize, needle: &str) {
    assert_one(p, Severity::Warning, MAIN, Some(line), needle);
}

fn assert_clean(p: &Parsed) {
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
}

/// ecosystem-2026.md §3.9 example A (also used by the layout's tests).
pub(crate) const EXAMPLE_A: &str = "\
[Discovery Controller Defaults]
keep-alive-tmo = 30
ctrl-loss-tmo  = 600

[I/O Controller Defaults]
ctrl-loss-tmo  = 600
nr-io-queues   = 4

[Discovery Controller]
controller = transport=tcp;traddr=192.168.1.10;trsvcid=8009

[Subsystem]
nqn           = nqn.2024-01.com.example:vol1
ctrl-loss-tmo =
controller    = transport=tcp;traddr=192.168.1.20;trsvcid=4420;host-iface=eth0
controller    = transport=tcp;traddr=192.168.1.21;trsvcid=4420;host-iface=eth1;reconnect-delay=5
";

const PROD: &str = "\
[Host]
hostnqn = nqn.2014-08.org.nvmexpress:uuid:5d3e1c2a-0000-4000-8000-000000000001
hostid  = 5d3e1c2a-0000-4000-8000-000000000001
kxchap-secret = DHHC-1:00:c2VjcmV0:

[I/O Controller Defaults]
reconnect-delay = 20

[Subsystem]
nqn        = nqn.2024-01.com.example:prod.vol1
tls        = yes
controller = transport=tcp;traddr=10.0.0.9;trsvcid=4420
";

fn address(traddr: &str, trsvcid: Option<&str>, host_iface: Option<&str>) -> Address {
    Address {
        transport: "tcp".into(),
        traddr: traddr.into(),
        trsvcid: trsvcid.map(Into::into),
        host_traddr: None,
        host_iface: host_iface.map(Into::into),
    }
}

fn example_a_connections() -> Vec<Connection> {
    vec![
        Connection {
            kind: Kind::Discovery,
            file: MAIN.into(),
            line: 10,
            scope: 0,
            nqn: "nqn.2014-08.org.nvmexpress.discovery".into(),
            address: address("192.168.1.10", Some("8009"), None),
            params: params(&[("keep-alive-tmo", int(30)), ("ctrl-loss-tmo", int(600))]),
            identity: Identity::default(),
        },
        Connection {
            kind: Kind::Io,
            file: MAIN.into(),
            line: 15,
            scope: 0,
            nqn: "nqn.2024-01.com.example:vol1".into(),
            address: address("192.168.1.20", Some("4420"), Some("eth0")),
            params: params(&[("ctrl-loss-tmo", None), ("nr-io-queues", int(4))]),
            identity: Identity::default(),
        },
        Connection {
            kind: Kind::Io,
            file: MAIN.into(),
            line: 16,
            scope: 0,
            nqn: "nqn.2024-01.com.example:vol1".into(),
            address: address("192.168.1.21", Some("4420"), Some("eth1")),
            params: params(&[
                ("ctrl-loss-tmo", None),
                ("nr-io-queues", int(4)),
                ("reconnect-delay", int(5)),
            ]),
            identity: Identity::default(),
        },
    ]
}

// ---------------------------------------------------------------------------------------
// Worked examples (§3.9)
// ---------------------------------------------------------------------------------------

#[test]
fn example_a_multipath_and_reset() {
    let p = main_only(EXAMPLE_A);
    assert_clean(&p);
    assert!(p.found);
    assert_eq!(p.conf.connections, example_a_connections());
    let path1 = &p.conf.connections[1];
    // The reset is present and empty: it beats the defaults and is omitted at connect time.
    assert_eq!(path1.params.get("ctrl-loss-tmo"), Some(&None));
    assert_eq!(path1.params.int("ctrl-loss-tmo"), None);
    assert_eq!(path1.params.int("nr-io-queues"), Some(4));
    assert_eq!(path1.params.get("reconnect-delay"), None);
    assert_eq!(
        p.conf.connections[2].params.iter().collect::<Vec<_>>(),
        vec![
            ("ctrl-loss-tmo", None),
            ("nr-io-queues", Some(&Value::Int(4))),
            ("reconnect-delay", Some(&Value::Int(5))),
        ]
    );
    assert_eq!(p.conf.dcs().count(), 1);
    assert_eq!(p.conf.iocs().count(), 2);
    assert_eq!(
        p.conf.scopes,
        vec![FileScope {
            path: MAIN.into(),
            dc: params(&[("keep-alive-tmo", int(30)), ("ctrl-loss-tmo", int(600))]),
            ioc: params(&[("ctrl-loss-tmo", int(600)), ("nr-io-queues", int(4))]),
            identity: Identity::default(),
        }]
    );
}

#[test]
fn example_b_dropin_persona_and_scoped_defaults() {
    let prod = dropin("prod.conf");
    let p = parse(Path::new(MAIN), &[src(MAIN, EXAMPLE_A), src(&prod, PROD)]);
    assert_clean(&p);
    // The main file's connections are exactly those of example A: nothing leaks back.
    assert_eq!(p.conf.connections[..3], example_a_connections()[..]);
    assert_eq!(p.conf.connections[1].params.get("reconnect-delay"), None);

    let persona = Identity {
        hostnqn: Some(
            "nqn.2014-08.org.nvmexpress:uuid:5d3e1c2a-0000-4000-8000-000000000001".into(),
        ),
        hostid: Some("5d3e1c2a-0000-4000-8000-000000000001".into()),
        hostsymname: None,
    };
    assert_eq!(p.conf.connections.len(), 4);
    assert_eq!(
        p.conf.connections[3],
        Connection {
            kind: Kind::Io,
            file: prod.clone().into(),
            line: 12,
            scope: 1,
            nqn: "nqn.2024-01.com.example:prod.vol1".into(),
            address: address("10.0.0.9", Some("4420"), None),
            params: params(&[
                ("ctrl-loss-tmo", int(600)),
                ("nr-io-queues", int(4)),
                ("reconnect-delay", int(20)),
                ("kxchap-secret", string("DHHC-1:00:c2VjcmV0:")),
                ("tls", boolean(true)),
            ]),
            identity: persona.clone(),
        }
    );
    // What a controller discovered through a DC of prod.conf inherits: not `tls`.
    assert_eq!(
        p.conf.scopes[1],
        FileScope {
            path: prod.into(),
            dc: params(&[
                ("keep-alive-tmo", int(30)),
                ("ctrl-loss-tmo", int(600)),
                ("kxchap-secret", string("DHHC-1:00:c2VjcmV0:")),
            ]),
            ioc: params(&[
                ("ctrl-loss-tmo", int(600)),
                ("nr-io-queues", int(4)),
                ("reconnect-delay", int(20)),
                ("kxchap-secret", string("DHHC-1:00:c2VjcmV0:")),
            ]),
            identity: persona,
        }
    );
    assert_eq!(p.conf.main_scope().ioc.get("reconnect-delay"), None);
    assert_eq!(
        p.conf.scope_of(&p.conf.connections[3]).path,
        p.conf.scopes[1].path
    );
}

#[test]
fn params_debug_redacts_secrets_and_shows_resets() {
    let p = params(&[
        ("kxchap-secret", string("DHHC-1:00:topsecret:")),
        ("tls-key", string("NVMeTLSkey-1:01:alsosecret:")),
        ("kxchap-ctrl-secret", string("DHHC-1:00:third:")),
        ("ctrl-loss-tmo", None),
        ("nr-io-queues", int(4)),
    ]);
    let shown = format!("{p:?}");
    assert_eq!(
        shown,
        "{\"kxchap-secret\": <redacted>, \"tls-key\": <redacted>, \
         \"kxchap-ctrl-secret\": <redacted>, \"ctrl-loss-tmo\": <reset>, \
         \"nr-io-queues\": Int(4)}"
    );
    let conn = parse(
        Path::new(MAIN),
        &[src(MAIN, EXAMPLE_A), src(&dropin("prod.conf"), PROD)],
    );
    assert!(!format!("{:?}", conn.conf).contains("c2VjcmV0"));
}

// ---------------------------------------------------------------------------------------
// Example D (§3.9), one case each
// ---------------------------------------------------------------------------------------

#[test]
fn example_d_persistent_in_ioc_defaults() {
    let p = main_only("[I/O Controller Defaults]\npersistent = auto\n");
    assert_error(&p, 2, "not valid in this section");
}

#[test]
fn example_d_tls_on_dc_controller_line() {
    let p =
        main_only("[Discovery Controller]\ncontroller = transport=tcp;traddr=10.0.0.5;tls=yes\n");
    assert_error(&p, 2, "(hostnqn, subsysnqn)");
    assert!(p.conf.connections.is_empty());
}

#[test]
fn example_d_subsystem_without_nqn() {
    let p = main_only("# x\n[Subsystem]\ncontroller = transport=tcp;traddr=10.0.0.9\n");
    assert_error(&p, 2, "[Subsystem] without an nqn");
    assert!(p.conf.connections.is_empty());
}

#[test]
fn example_d_structural_hostnqn_accepted() {
    let p = main_only("[Host]\nhostnqn = nqn.2014-08.org.nvmexpress:uuid:x\n");
    assert_clean(&p);
    assert_eq!(
        p.conf.main_scope().identity.hostnqn.as_deref(),
        Some("nqn.2014-08.org.nvmexpress:uuid:x")
    );
}

#[test]
fn example_d_unknown_key_warns() {
    let p = main_only("[Host]\ncolor = blue\n");
    assert_warning(&p, 2, "unknown key 'color'");
    assert!(p.conf.main_scope().dc.is_empty());
}

// ---------------------------------------------------------------------------------------
// Sections and keys (§3.2–§3.4)
// ---------------------------------------------------------------------------------------

#[test]
fn hostnqn_in_subsystem_is_an_error() {
    let p = main_only(
        "[Subsystem]\nnqn = nqn.2024-01.com.example:a\nhostnqn = nqn.2024-01.com.example:h\n",
    );
    assert_error(&p, 3, "not valid in this section");
}

#[test]
fn known_keys_in_wrong_sections() {
    for (text, line) in [
        ("[Host]\nnqn = nqn.2024-01.com.example:a\n", 2),
        ("[Host]\ncontroller = transport=tcp;traddr=1.2.3.4\n", 2),
        ("[Host]\npersistent = no\n", 2),
        (
            "[Discovery Controller Defaults]\nhostid = 5d3e1c2a-0000-4000-8000-000000000001\n",
            2,
        ),
        (
            "[I/O Controller Defaults]\nnqn = nqn.2024-01.com.example:a\n",
            2,
        ),
        (
            "[Subsystem]\nnqn = nqn.2024-01.com.example:a\n\npersistent = force\n",
            4,
        ),
        ("[Discovery Controller]\nhostsymname = h\n", 2),
    ] {
        let p = main_only(text);
        assert_error(&p, line, "not valid in this section");
    }
}

#[test]
fn keys_allowed_where_the_table_says() {
    let p = main_only(
        "[Discovery Controller Defaults]
persistent = Auto
tls = no
tls-key-identity = id0
[I/O Controller Defaults]
kxchap-ctrl-secret = DHHC-1:00:x:
concat = on
[Host]
keyring = .nvme
hdr-digest = yes
hostsymname = lab-host-01
[Discovery Controller]
persistent = no
data-digest = 1
[Subsystem]
nqn = nqn.2024-01.com.example:a
tls-key = NVMeTLSkey-1:01:k:
disable-sqflow = off
",
    );
    assert_clean(&p);
    let s = p.conf.main_scope();
    assert_eq!(
        s.dc,
        params(&[
            ("persistent", Some(Value::Persistent(Persistent::Auto))),
            ("tls", boolean(false)),
            ("tls-key-identity", string("id0")),
            ("keyring", string(".nvme")),
            ("hdr-digest", boolean(true)),
        ])
    );
    assert_eq!(s.dc.persistent(), Some(Persistent::Auto));
    assert_eq!(
        s.ioc,
        params(&[
            ("kxchap-ctrl-secret", string("DHHC-1:00:x:")),
            ("concat", boolean(true)),
            ("keyring", string(".nvme")),
            ("hdr-digest", boolean(true)),
        ])
    );
    assert_eq!(s.identity.hostsymname.as_deref(), Some("lab-host-01"));
    // No controller lines: no connection, no diagnostic.
    assert!(p.conf.connections.is_empty());
}

#[test]
fn unknown_section_warns_and_ignores_its_contents() {
    let p =
        main_only("[Global]\nkeep-alive-tmo = banana\ncontroller = transport=tcp;traddr=1.1.1.1\n");
    assert_warning(&p, 1, "unknown section [Global]");
    assert!(p.conf.connections.is_empty());
    assert!(p.conf.main_scope().dc.is_empty());
}

#[test]
fn section_names_are_case_sensitive() {
    let p = main_only("[host]\nhostnqn = nqn.2024-01.com.example:h\n");
    assert_warning(&p, 1, "case-sensitive: [Host]");
    assert_eq!(p.conf.main_scope().identity, Identity::default());
}

#[test]
fn keys_are_case_sensitive() {
    let p = main_only("[Discovery Controller Defaults]\nKeep-Alive-Tmo = 5\n");
    assert_warning(&p, 2, "'keep-alive-tmo'?");
    assert!(p.conf.main_scope().dc.is_empty());
}

#[test]
fn addressing_key_in_a_section_warns() {
    let p = main_only("[Subsystem]\nnqn = nqn.2024-01.com.example:a\ntraddr = 1.2.3.4\n");
    assert_warning(&p, 3, "belong on a controller = line");
}

#[test]
fn duplicate_key_in_one_section_last_wins() {
    let p = main_only(
        "[Subsystem]
nqn = nqn.2024-01.com.example:first
keep-alive-tmo = 1
reconnect-delay = 2
keep-alive-tmo = 3
nqn = nqn.2024-01.com.example:second
controller = transport=tcp;traddr=1.2.3.4
",
    );
    assert_clean(&p);
    let c = &p.conf.connections[0];
    assert_eq!(c.nqn, "nqn.2024-01.com.example:second");
    // Position of first appearance, value of the last.
    assert_eq!(
        c.params,
        params(&[("keep-alive-tmo", int(3)), ("reconnect-delay", int(2))])
    );
}

#[test]
fn repeated_defaults_section_merges_with_a_warning() {
    let p = main_only(
        "[I/O Controller Defaults]
nr-io-queues = 4
ctrl-loss-tmo = 600
[Discovery Controller Defaults]
keep-alive-tmo = 30
[I/O Controller Defaults]
ctrl-loss-tmo = 60
queue-size = 32
",
    );
    assert_warning(&p, 6, "repeated in this file");
    assert_eq!(
        p.conf.main_scope().ioc,
        params(&[
            ("nr-io-queues", int(4)),
            ("ctrl-loss-tmo", int(60)),
            ("queue-size", int(32)),
        ])
    );
    assert_eq!(
        p.conf.main_scope().dc,
        params(&[("keep-alive-tmo", int(30))])
    );
}

#[test]
fn second_host_in_one_file_is_an_error() {
    let p = main_only(
        "[Host]
hostsymname = first
[Subsystem]
nqn = nqn.2024-01.com.example:a
[Host]
hostsymname = second
keep-alive-tmo = 9
",
    );
    assert_error(&p, 5, "second [Host]");
    // The persona never merges: the first one stands.
    assert_eq!(
        p.conf.main_scope().identity.hostsymname.as_deref(),
        Some("first")
    );
    assert!(p.conf.main_scope().dc.is_empty());
}

#[test]
fn second_host_contents_are_still_checked() {
    let p = main_only("[Host]\n[Host]\nkeep-alive-tmo = x\n");
    let d = diags(&p);
    assert_eq!(d.len(), 2, "{d:#?}");
    assert_eq!((d[0].2, d[1].2), (Some(2), Some(3)));
    assert!(d[1].3.contains("not an integer"));
}

#[test]
fn inline_comment_is_an_integer_error() {
    let p = main_only("[Discovery Controller Defaults]\nkeep-alive-tmo = 30  # note\n");
    assert_error(&p, 2, "'30  # note' is not an integer");
    assert!(p.diagnostics[0].message.contains("inline comments"));
    assert!(p.conf.main_scope().dc.is_empty());
}

#[test]
fn semicolon_is_not_a_comment() {
    let p = main_only("[Host]\n; a comment?\n");
    assert_error(&p, 2, "cannot parse this line");
}

#[test]
fn comments_and_blank_lines() {
    let p = main_only("# top\n   # indented\n\n \t \n[Host]\n#hostnqn = x\n");
    assert_clean(&p);
}

#[test]
fn junk_lines_are_errors() {
    for junk in [
        "just words",
        "= value",
        "[unterminated",
        "[x] trailing",
        "[ ]",
        "[]",
        "[a]b]",
    ] {
        let p = main_only(&format!("[Host]\n{junk}\n"));
        assert_error(&p, 2, "cannot parse this line");
    }
}

#[test]
fn header_whitespace_is_trimmed() {
    let p = main_only("  [  Discovery Controller Defaults ]  \n  tos=  5 \n");
    assert_clean(&p);
    assert_eq!(p.conf.main_scope().dc, params(&[("tos", int(5))]));
}

#[test]
fn key_before_first_section_is_an_error() {
    let p = main_only("# c\nkeep-alive-tmo = 30\n[Host]\n");
    assert_error(&p, 2, "outside of any section");
}

#[test]
fn junk_before_first_section_is_an_error() {
    let p = main_only("junk\n");
    assert_error(&p, 1, "cannot parse this line");
}

#[test]
fn empty_nqn_is_an_error() {
    let p = main_only("[Subsystem]\nnqn =\ncontroller = transport=tcp;traddr=1.2.3.4\n");
    assert_error(&p, 2, "empty nqn");
    assert!(p.conf.connections.is_empty());
    let p = main_only("[Discovery Controller]\nnqn =\ncontroller = transport=tcp;traddr=1.2.3.4\n");
    assert_error(&p, 2, "empty nqn");
    assert!(p.conf.connections.is_empty());
}

#[test]
fn invalid_nqn_is_an_error() {
    let p = main_only("[Subsystem]\nnqn = vol1\ncontroller = transport=tcp;traddr=1.2.3.4\n");
    assert_error(&p, 2, "'vol1' is not a valid NQN");
    assert!(p.conf.connections.is_empty());
}

#[test]
fn discovery_controller_with_its_own_nqn() {
    let p = main_only(
        "[Discovery Controller]
nqn = nqn.1988-11.com.dell:SFSS:2:cdc
controller = transport=tcp;traddr=10.10.1.5;trsvcid=8009;host-iface=eth1;host-traddr=10.10.1.1
",
    );
    assert_clean(&p);
    let c = &p.conf.connections[0];
    assert_eq!(c.nqn, "nqn.1988-11.com.dell:SFSS:2:cdc");
    assert_eq!(c.address.host_traddr.as_deref(), Some("10.10.1.1"));
    assert_eq!(c.address.host_iface.as_deref(), Some("eth1"));
}

#[test]
fn empty_values_are_resets_for_every_class() {
    let p = main_only(
        "[Discovery Controller Defaults]
persistent =
tls =
kxchap-secret =
keep-alive-tmo =
hdr-digest =
[Host]
hostnqn =
hostid =
hostsymname =
",
    );
    assert_clean(&p);
    assert_eq!(
        p.conf.main_scope().dc,
        params(&[
            ("persistent", None),
            ("tls", None),
            ("kxchap-secret", None),
            ("keep-alive-tmo", None),
            ("hdr-digest", None),
        ])
    );
    assert_eq!(p.conf.main_scope().dc.persistent(), None);
    assert_eq!(p.conf.main_scope().identity, Identity::default());
}

#[test]
fn bad_values_are_errors() {
    for (line, needle) in [
        ("persistent = sometimes", "not one of no, auto, force"),
        ("hdr-digest = maybe", "not a boolean"),
        ("tls = 2", "not a boolean"),
        ("queue-size = 12abc", "not an integer"),
        ("tos = 2147483648", "not an integer"),
        ("keep-alive-tmo = 08", "not an integer"),
    ] {
        let p = main_only(&format!("[Discovery Controller Defaults]\n{line}\n"));
        assert_error(&p, 2, needle);
    }
}

#[test]
fn carriage_return_inside_a_string_is_an_error() {
    let p = main_only("[Host]\nkxchap-secret = DHHC-1:00:ab\rcd:\n");
    assert_error(&p, 2, "carriage return");
    assert!(!p.diagnostics[0].message.contains("DHHC"));
}

#[test]
fn hostid_checks() {
    let p = main_only("[Host]\nhostid = 00000000-0000-0000-0000-000000000000\n");
    assert_error(&p, 2, "all-zero");
    let p = main_only("[Host]\nhostid = not-a-uuid\n");
    assert_error(&p, 2, "is not a UUID");
    let p = main_only("[Host]\nhostid = 5D3E1C2A-0000-4000-8000-000000000001\n");
    assert_clean(&p);
    assert_eq!(
        p.conf.main_scope().identity.hostid.as_deref(),
        Some("5D3E1C2A-0000-4000-8000-000000000001")
    );
}

#[test]
fn invalid_hostnqn_is_an_error() {
    let p = main_only("[Host]\nhostnqn = nqn.2014-13.org.example\n");
    assert_error(&p, 2, "not a valid NQN");
}

// ---------------------------------------------------------------------------------------
// controller = lines
// ---------------------------------------------------------------------------------------

fn subsystem_line(spec: &str) -> Parsed {
    main_only(&format!(
        "[Subsystem]\nnqn = nqn.2024-01.com.example:a\ncontroller = {spec}\n"
    ))
}

#[test]
fn security_key_on_a_controller_line_is_an_error() {
    for spec in [
        "transport=tcp;traddr=1.2.3.4;kxchap-secret=DHHC-1:00:hush:",
        "transport=tcp;traddr=1.2.3.4;tls-key=NVMeTLSkey-1:01:hush:",
        "transport=tcp;traddr=1.2.3.4;concat=yes",
    ] {
        let p = subsystem_line(spec);
        assert_error(&p, 3, "security keys are bound");
        assert!(!p.diagnostics[0].message.contains("hush"));
        assert!(p.conf.connections.is_empty());
    }
}

#[test]
fn other_known_keys_on_a_controller_line_are_errors() {
    for (spec, needle) in [
        (
            "transport=tcp;traddr=1.2.3.4;nqn=nqn.2024-01.com.example:b",
            "'nqn' cannot be set",
        ),
        (
            "transport=tcp;traddr=1.2.3.4;hostnqn=nqn.2024-01.com.example:h",
            "'hostnqn' cannot be set",
        ),
        (
            "transport=tcp;traddr=1.2.3.4;hostid=5d3e1c2a-0000-4000-8000-000000000001",
            "'hostid' cannot be set",
        ),
        (
            "transport=tcp;traddr=1.2.3.4;controller=x",
            "'controller' cannot be set",
        ),
        ("transport=tcp;traddr=1.2.3.4;kato=10", "unknown key 'kato'"),
        ("transport=tcp;traddr=1.2.3.4;Trsvcid=4420", "'trsvcid'?"),
        (
            "transport=tcp;traddr=1.2.3.4;4420",
            "token 3 is not key=value",
        ),
        (
            "transport=tcp;traddr=1.2.3.4;persistent=force",
            "only valid on a controller line under [Discovery Controller]",
        ),
        (
            "transport=tcp;traddr=1.2.3.4;keep-alive-tmo=ten",
            "not an integer",
        ),
    ] {
        let p = subsystem_line(spec);
        assert_error(&p, 3, needle);
        assert!(p.conf.connections.is_empty());
    }
}

#[test]
fn duplicate_addressing_key_is_an_error() {
    let p = subsystem_line("transport=tcp;traddr=1.2.3.4;traddr=1.2.3.5");
    assert_error(&p, 3, "'traddr' given more than once");
    let p = subsystem_line("transport=tcp;traddr=1.2.3.4;host-iface=eth0;host-iface=eth0");
    assert_error(&p, 3, "'host-iface' given more than once");
}

#[test]
fn missing_transport_or_traddr_is_an_error() {
    for spec in ["transport=tcp;trsvcid=4420", "traddr=1.2.3.4", ";;"] {
        let p = subsystem_line(spec);
        assert_error(&p, 3, "needs transport and traddr");
    }
    let p = main_only("[Subsystem]\nnqn = nqn.2024-01.com.example:a\ncontroller =\n");
    assert_error(&p, 3, "needs transport and traddr");
}

#[test]
fn empty_addressing_value_is_an_error() {
    let p = subsystem_line("transport=tcp;traddr=1.2.3.4;trsvcid=");
    assert_error(&p, 3, "'trsvcid' must not be empty");
    let p = subsystem_line("transport=tcp;traddr=");
    assert_error(&p, 3, "'traddr' must not be empty");
}

#[test]
fn controller_line_tokens_are_trimmed_and_host_names_accepted() {
    let p = subsystem_line(" transport = tcp ;; traddr=array1.example.com ; ; ctrl-loss-tmo = -1;");
    assert_clean(&p);
    let c = &p.conf.connections[0];
    assert_eq!(c.address, address("array1.example.com", None, None));
    assert_eq!(c.params, params(&[("ctrl-loss-tmo", int(-1))]));
}

#[test]
fn per_path_overrides_beat_the_section_and_can_reset() {
    let p = main_only(
        "[I/O Controller Defaults]
queue-size = 64
[Subsystem]
nqn = nqn.2024-01.com.example:a
keep-alive-tmo = 5
controller = transport=tcp;traddr=1.2.3.4;keep-alive-tmo=7;queue-size=;hdr-digest=Yes
",
    );
    assert_clean(&p);
    assert_eq!(
        p.conf.connections[0].params,
        params(&[
            ("queue-size", None),
            ("keep-alive-tmo", int(7)),
            ("hdr-digest", boolean(true)),
        ])
    );
}

#[test]
fn persistent_on_a_dc_controller_line() {
    let p = main_only(
        "[Discovery Controller Defaults]
persistent = no
[Discovery Controller]
controller = transport=tcp;traddr=1.2.3.4;persistent=FORCE
controller = transport=tcp;traddr=1.2.3.5
",
    );
    assert_clean(&p);
    let dcs: Vec<_> = p.conf.dcs().collect();
    assert_eq!(dcs[0].params.persistent(), Some(Persistent::Force));
    assert_eq!(dcs[1].params.persistent(), Some(Persistent::No));
    assert_eq!((dcs[0].line, dcs[1].line), (4, 5));
}

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

#[test]
fn integers_follow_strtol_base_0() {
    assert_eq!(parse_int("0x10"), Some(16));
    assert_eq!(parse_int("0X1f"), Some(31));
    assert_eq!(parse_int("010"), Some(8));
    assert_eq!(parse_int("-010"), Some(-8));
    assert_eq!(parse_int("-0x10"), Some(-16));
    assert_eq!(parse_int("+5"), Some(5));
    assert_eq!(parse_int("0"), Some(0));
    assert_eq!(parse_int("-0"), Some(0));
    assert_eq!(parse_int("00"), Some(0));
    assert_eq!(parse_int("600"), Some(600));
    assert_eq!(parse_int("2147483647"), Some(i32::MAX));
    assert_eq!(parse_int("-2147483648"), Some(i32::MIN));
    assert_eq!(parse_int("0x7fffffff"), Some(i32::MAX));
    assert_eq!(parse_int("00000000000000000000000000001"), Some(1));
    for bad in [
        "",
        "-",
        "+",
        "0x",
        "08",
        "09",
        "0x1g",
        "1.5",
        "2147483648",
        "-2147483649",
        "99999999999999999999999",
        "30 # x",
        "--1",
        "+-1",
        "1e3",
        "١",
    ] {
        assert_eq!(parse_int(bad), None, "{bad:?}");
    }
    let p = main_only("[Discovery Controller Defaults]\nkeep-alive-tmo = 0x10\nqueue-size = 010\n");
    assert_clean(&p);
    assert_eq!(
        p.conf.main_scope().dc,
        params(&[("keep-alive-tmo", int(16)), ("queue-size", int(8))])
    );
}

#[test]
fn booleans_follow_parse_boolean() {
    for w in [
        "1", "yes", "y", "true", "t", "on", "YES", "True", "T", "On", "Y",
    ] {
        assert_eq!(parse_bool(w), Some(true), "{w}");
    }
    for w in [
        "0", "no", "n", "false", "f", "off", "NO", "False", "F", "OFF", "N",
    ] {
        assert_eq!(parse_bool(w), Some(false), "{w}");
    }
    for w in ["", "2", "enable", "enabled", "yes!", " yes", "ye"] {
        assert_eq!(parse_bool(w), None, "{w}");
    }
}

#[test]
fn nqn_structure() {
    for good in [
        "nqn.2014-08.org.nvmexpress.discovery",
        "nqn.2014-08.org.nvmexpress:uuid:x",
        "nqn.2024-01.c",
        "nqn.0000-12.x",
    ] {
        assert!(check_nqn_structure(good), "{good}");
    }
    let max = format!("nqn.2024-01.{}", "a".repeat(223 - 12));
    assert_eq!(max.len(), 223);
    assert!(check_nqn_structure(&max));
    for bad in [
        "",
        "nqn.2014-08.",
        "nqn.2014-13.org.example",
        "nqn.2014-00.org.example",
        "nqn.2014-8.org.example",
        "nqn.14-08.org.example",
        "nqn.2014_08.org.example",
        "nqn.2014-08:org.example",
        "NQN.2014-08.org.example",
        "nqn.2014-08.org example",
        "nqn.2014-08.org.exampleé",
        "nqn.2014-08.org.\x7f",
    ] {
        assert!(!check_nqn_structure(bad), "{bad:?}");
    }
    assert!(!check_nqn_structure(&format!("{max}a")));
}

#[test]
fn value_display() {
    assert_eq!(Value::Int(-1).to_string(), "-1");
    assert_eq!(Value::Bool(true).to_string(), "true");
    assert_eq!(Value::Persistent(Persistent::Auto).to_string(), "auto");
    assert_eq!(Value::Str("x".into()).to_string(), "x");
}

#[test]
fn overlay_replaces_in_place_and_appends() {
    let mut base = params(&[("a", int(1)), ("b", int(2)), ("c", int(3))]);
    base.overlay(&params(&[("d", int(4)), ("b", None), ("a", boolean(true))]));
    assert_eq!(
        base.iter().collect::<Vec<_>>(),
        vec![
            ("a", Some(&Value::Bool(true))),
            ("b", None),
            ("c", Some(&Value::Int(3))),
            ("d", Some(&Value::Int(4))),
        ]
    );
    assert_eq!(base.len(), 4);
    assert_eq!(base.int("a"), None);
    assert_eq!(base.bool("a"), Some(true));
    assert_eq!(base.str("a"), None);
    assert_eq!(base.get("zzz"), None);
    assert!(!base.is_empty());
    assert!(Params::new().is_empty());
}

// ---------------------------------------------------------------------------------------
// Lexing details
// ---------------------------------------------------------------------------------------

#[test]
fn crlf_file_reads_like_lf() {
    let crlf = EXAMPLE_A.replace('\n', "\r\n");
    let p = main_only(&crlf);
    assert_clean(&p);
    assert_eq!(p.conf.connections, example_a_connections());
}

#[test]
fn value_split_at_first_equals() {
    let p = main_only("[Host]\nhostsymname = a=b = c\n");
    assert_clean(&p);
    assert_eq!(
        p.conf.main_scope().identity.hostsymname.as_deref(),
        Some("a=b = c")
    );
}

// ---------------------------------------------------------------------------------------
// Cascade (§3.5)
// ---------------------------------------------------------------------------------------

#[test]
fn precedence_line_over_endpoint_over_host_over_defaults() {
    let p = main_only(
        "[I/O Controller Defaults]
ctrl-loss-tmo = 600
reconnect-delay = 10
keep-alive-tmo = 1
fast-io-fail-tmo = 1
[Host]
ctrl-loss-tmo = 30
reconnect-delay = 11
keep-alive-tmo = 2
[Subsystem]
nqn = nqn.2024-01.com.example:a
reconnect-delay = 12
keep-alive-tmo = 3
controller = transport=tcp;traddr=1.2.3.4;keep-alive-tmo=4
",
    );
    assert_clean(&p);
    assert_eq!(
        p.conf.connections[0].params,
        params(&[
            ("ctrl-loss-tmo", int(30)),
            ("reconnect-delay", int(12)),
            ("keep-alive-tmo", int(4)),
            ("fast-io-fail-tmo", int(1)),
        ])
    );
}

#[test]
fn main_host_params_are_not_inherited_by_dropins() {
    let a = dropin("a.conf");
    let p = parse(
        Path::new(MAIN),
        &[
            src(
                MAIN,
                "[Host]\nkeep-alive-tmo = 5\nhostsymname = main\n\
                 [Discovery Controller]\ncontroller = transport=tcp;traddr=1.1.1.1\n",
            ),
            src(
                &a,
                "[Host]\nhostnqn = nqn.2024-01.com.example:a\n\
                 [Discovery Controller]\ncontroller = transport=tcp;traddr=2.2.2.2\n",
            ),
        ],
    );
    assert_clean(&p);
    let c = &p.conf.connections;
    assert_eq!(c[0].params, params(&[("keep-alive-tmo", int(5))]));
    assert_eq!(c[0].identity.hostsymname.as_deref(), Some("main"));
    assert!(c[1].params.is_empty());
    assert_eq!(
        c[1].identity,
        Identity {
            hostnqn: Some("nqn.2024-01.com.example:a".into()),
            hostid: None,
            hostsymname: None,
        }
    );
    assert_eq!(c[1].scope, 1);
    assert_eq!(c[1].file, PathBuf::from(&a));
}

#[test]
fn dropin_defaults_do_not_leak_between_dropins() {
    let p = parse(
        Path::new(MAIN),
        &[
            src(
                &dropin("a.conf"),
                "[I/O Controller Defaults]\nqueue-size = 8\n",
            ),
            src(
                &dropin("b.conf"),
                "[Subsystem]\nnqn = nqn.2024-01.com.example:b\n\
                 controller = transport=tcp;traddr=1.1.1.1\n",
            ),
        ],
    );
    assert_clean(&p);
    assert!(p.found);
    assert_eq!(p.conf.scopes.len(), 3);
    assert_eq!(
        p.conf.scopes[0],
        FileScope {
            path: MAIN.into(),
            ..FileScope::default()
        }
    );
    assert_eq!(p.conf.scopes[1].ioc, params(&[("queue-size", int(8))]));
    assert!(p.conf.scopes[2].ioc.is_empty());
    assert!(p.conf.connections[0].params.is_empty());
    assert_eq!(p.conf.connections[0].scope, 2);
}

#[test]
fn connections_in_file_order() {
    let p = parse(
        Path::new(MAIN),
        &[
            // The main file is recognised by its path wherever it is.
            src(&dropin("z.conf"), "[Discovery Controller]\ncontroller = transport=tcp;traddr=3.3.3.3\n"),
            src(MAIN, "[Discovery Controller]\ncontroller = transport=tcp;traddr=1.1.1.1\ncontroller = transport=rdma;traddr=1.1.1.2\n"),
        ],
    );
    assert_clean(&p);
    let traddrs: Vec<_> = p
        .conf
        .connections
        .iter()
        .map(|c| c.address.traddr.as_str())
        .collect();
    assert_eq!(traddrs, ["1.1.1.1", "1.1.1.2", "3.3.3.3"]);
    assert_eq!(p.conf.connections[1].address.transport, "rdma");
    assert_eq!(p.conf.scopes[1].path, PathBuf::from(dropin("z.conf")));
}

#[test]
fn nothing_is_an_empty_configuration() {
    let p = parse(Path::new(MAIN), &[]);
    assert_clean(&p);
    assert!(!p.found);
    assert_eq!(
        p.conf.scopes,
        vec![FileScope {
            path: MAIN.into(),
            ..FileScope::default()
        }]
    );
    assert!(p.conf.connections.is_empty());
    assert_eq!(NvmeConf::default().main_scope(), &FileScope::default());
}

// ---------------------------------------------------------------------------------------
// Personas across files (§3.4)
// ---------------------------------------------------------------------------------------

#[test]
fn dropin_host_without_hostnqn_is_an_error() {
    let a = dropin("a.conf");
    let p = parse(
        Path::new(MAIN),
        &[
            src(MAIN, "[Host]\nhostsymname = main-is-fine\n"),
            src(&a, "# persona\n[Host]\nhostsymname = x\n"),
        ],
    );
    assert_one(&p, Severity::Error, &a, Some(2), "must set hostnqn");
    // An empty hostnqn is not a hostnqn.
    let p = parse(Path::new(MAIN), &[src(&a, "[Host]\nhostnqn =\n")]);
    assert_one(&p, Severity::Error, &a, Some(1), "must set hostnqn");
    // No [Host] at all is fine.
    let p = parse(
        Path::new(MAIN),
        &[src(&a, "[I/O Controller Defaults]\ntos = 1\n")],
    );
    assert_clean(&p);
    // An invalid hostnqn is reported once, not twice.
    let p = parse(Path::new(MAIN), &[src(&a, "[Host]\nhostnqn = bad\n")]);
    assert_one(&p, Severity::Error, &a, Some(2), "not a valid NQN");
}

#[test]
fn same_hostnqn_in_two_files_is_an_error() {
    let (a, b) = (dropin("a.conf"), dropin("b.conf"));
    let host = "[Host]\nhostnqn = nqn.2024-01.com.example:h\n";
    let p = parse(
        Path::new(MAIN),
        &[
            src(MAIN, host),
            src(&a, "[Host]\nhostnqn = nqn.2024-01.com.example:other\n"),
            src(&b, &format!("# b\n{host}")),
        ],
    );
    assert_one(
        &p,
        Severity::Error,
        &b,
        Some(3),
        "already the persona of /etc/nvme/nvme-stas.conf",
    );
}

#[test]
fn same_hostid_under_two_hostnqns_is_an_error() {
    let (a, b) = (dropin("a.conf"), dropin("b.conf"));
    let p = parse(
        Path::new(MAIN),
        &[
            src(&a, "[Host]\nhostnqn = nqn.2024-01.com.example:a\nhostid = 5d3e1c2a-0000-4000-8000-000000000001\n"),
            src(&b, "[Host]\nhostid = 5D3E1C2A-0000-4000-8000-000000000001\nhostnqn = nqn.2024-01.com.example:b\n"),
        ],
    );
    assert_one(
        &p,
        Severity::Error,
        &b,
        Some(2),
        "already used by /etc/nvme/nvme-stas.conf.d/a.conf",
    );
}

#[test]
fn diagnostics_in_file_then_line_order() {
    let a = dropin("a.conf");
    let p = parse(
        Path::new(MAIN),
        &[
            src(
                &a,
                "[Host]\nhostnqn = nqn.2024-01.com.example:a\ncolor = red\n[Foo]\n",
            ),
            src(MAIN, "[Host]\nx = 1\n[Subsystem]\n"),
        ],
    );
    let got: Vec<_> = diags(&p)
        .into_iter()
        .map(|(s, f, l, _)| (s, f, l))
        .collect();
    assert_eq!(
        got,
        vec![
            (Severity::Warning, MAIN.to_owned(), Some(2)),
            (Severity::Error, MAIN.to_owned(), Some(3)),
            (Severity::Warning, a.clone(), Some(3)),
            (Severity::Warning, a, Some(4)),
        ]
    );
    assert_eq!(
        p.diagnostics[1].to_string(),
        "/etc/nvme/nvme-stas.conf:3: error: [Subsystem] without an nqn"
    );
}

// ---------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------

#[test]
fn odd_inputs_do_not_panic() {
    for text in [
        "",
        "\n",
        "[",
        "]",
        "[]]",
        "[é]",
        "[Host]\né=é",
        "[Host]\n=",
        "[Subsystem]\ncontroller = ;=;==;é=;",
        "[Discovery Controller]\ncontroller = =\n",
        "\u{feff}[Host]\n",
        "[Host]\r\n\r\n",
        "\0",
        "[Subsystem]\nnqn = nqn.2024-01.é\n",
    ] {
        let _ = main_only(text);
        let _ = parse(Path::new(MAIN), &[src(&dropin("x.conf"), text)]);
    }
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(text in "(\\[|\\]|=|;|#|\\r|\\n| |[a-zA-Z/.:-]|é|Host|Subsystem|controller|nqn|transport|traddr){0,200}") {
        let p = main_only(&text);
        // Every connection comes from a line of the file.
        for c in &p.conf.connections {
            proptest::prop_assert!(c.line >= 1 && c.line <= text.split('\n').count());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading files (§3.1, §3.2)
// ---------------------------------------------------------------------------------------

fn names(sources: &[Source]) -> Vec<String> {
    sources
        .iter()
        .map(|s| {
            s.path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn read_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("nvme-stas.conf");
    let (sources, d) = read_sources(&main);
    assert!(sources.is_empty());
    assert!(d.is_empty());
    let p = load(&main);
    assert!(!p.found);
    assert!(!p.has_errors());
    assert_eq!(p.conf.scopes.len(), 1);
    assert!(p.conf.connections.is_empty());
}

#[test]
fn read_main_and_dropins_in_byte_order() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("nvme-stas.conf");
    fs::write(&main, "[Host]\n").unwrap();
    let d = dropin_dir(&main);
    assert_eq!(d, dir.path().join("nvme-stas.conf.d"));
    fs::create_dir(&d).unwrap();
    for name in [
        "b.conf",
        "a.conf",
        "B.conf",
        "10.conf",
        ".conf",
        "x.conf.bak",
        "README",
        ".hidden.conf",
    ] {
        fs::write(d.join(name), "# x\n").unwrap();
    }
    let (sources, diags) = read_sources(&main);
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(
        names(&sources),
        [
            "nvme-stas.conf",
            ".hidden.conf",
            "10.conf",
            "B.conf",
            "a.conf",
            "b.conf"
        ]
    );
    assert_eq!(sources[0].text, "[Host]\n");
    let p = load(&main);
    assert!(p.found);
    assert_eq!(p.conf.scopes.len(), 6);
}

#[test]
fn read_dropins_without_main() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("nvme-stas.conf");
    fs::create_dir(dropin_dir(&main)).unwrap();
    fs::write(
        dropin_dir(&main).join("p.conf"),
        "[Host]\nhostnqn = nqn.2024-01.com.example:p\n[Discovery Controller]\ncontroller = transport=tcp;traddr=1.1.1.1\n",
    )
    .unwrap();
    let p = load(&main);
    assert!(p.found);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    assert_eq!(
        p.conf.scopes[0],
        FileScope {
            path: main.clone(),
            ..FileScope::default()
        }
    );
    assert_eq!(p.conf.connections[0].scope, 1);
    assert_eq!(p.conf.connections[0].file, dropin_dir(&main).join("p.conf"));
}

#[test]
fn json_main_is_a_hard_error() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("config.json");
    for exists in [false, true] {
        if exists {
            fs::write(&main, "{}").unwrap();
        }
        let p = load(&main);
        assert!(p.has_errors());
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].file, main);
        assert_eq!(p.diagnostics[0].line, None);
        assert!(p.diagnostics[0].message.contains("nvme config-convert"));
    }
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("nvme-stas.conf");
    fs::write(&main, b"[Host]\n\0\n").unwrap();
    let d = dropin_dir(&main);
    fs::create_dir(&d).unwrap();
    fs::write(d.join("a.conf"), b"[Host]\nhostsymname = \xff\n").unwrap();
    fs::write(
        d.join("b.conf"),
        vec![b'#'; usize::try_from(MAX_FILE_SIZE).unwrap() + 1],
    )
    .unwrap();
    fs::create_dir(d.join("c.conf")).unwrap();
    fs::write(
        d.join("d.conf"),
        "[Host]\nhostnqn = nqn.2024-01.com.example:d\n",
    )
    .unwrap();
    let max = "#".repeat(usize::try_from(MAX_FILE_SIZE).unwrap());
    fs::write(d.join("e.conf"), &max).unwrap();

    let (sources, diags) = read_sources(&main);
    assert_eq!(names(&sources), ["d.conf", "e.conf"]);
    let got: Vec<_> = diags
        .iter()
        .map(|x| {
            (
                x.file.file_name().unwrap().to_string_lossy().into_owned(),
                x.line,
                x.is_error(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("nvme-stas.conf".to_owned(), None, true),
            ("a.conf".to_owned(), None, true),
            ("b.conf".to_owned(), None, true),
            ("c.conf".to_owned(), None, true),
        ]
    );
    assert!(diags[0].message.contains("NUL byte"));
    assert!(diags[1].message.contains("UTF-8"));
    assert!(diags[2].message.contains("larger than 1048576 bytes"));
    assert!(diags[3].message.contains("not a regular file"));

    let p = load(&main);
    assert!(p.found);
    assert!(p.has_errors());
    assert_eq!(p.diagnostics.len(), 4);
    assert_eq!(p.conf.scopes.len(), 3);
}

#[test]
fn load_orders_read_and_parse_diagnostics_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("nvme-stas.conf");
    fs::write(&main, "[Nope]\n").unwrap();
    let d = dropin_dir(&main);
    fs::create_dir(&d).unwrap();
    fs::write(d.join("a.conf"), "[Host]\nhostsymname = a\n").unwrap();
    fs::write(d.join("b.conf"), b"\0").unwrap();
    fs::write(
        d.join("c.conf"),
        "[Host]\nhostnqn = nqn.2024-01.com.example:c\n[Foo]\n",
    )
    .unwrap();
    let p = load(&main);
    let got: Vec<_> = p
        .diagnostics
        .iter()
        .map(|x| {
            (
                x.file.file_name().unwrap().to_string_lossy().into_owned(),
                x.line,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("nvme-stas.conf".to_owned(), Some(1)),
            ("a.conf".to_owned(), Some(1)),
            ("b.conf".to_owned(), None),
            ("c.conf".to_owned(), Some(3)),
        ]
    );
}

#[test]
fn dropin_defaults_overlay_main_defaults() {
    let a = dropin("a.conf");
    let p = parse(
        Path::new(MAIN),
        &[
            src(
                MAIN,
                "[I/O Controller Defaults]\nctrl-loss-tmo = 600\nnr-io-queues = 4\n",
            ),
            src(
                &a,
                "[I/O Controller Defaults]\nctrl-loss-tmo = 30\nnr-io-queues =\n\
                 [Host]\nhostnqn = nqn.2024-01.com.example:a\nnr-io-queues = 2\n",
            ),
        ],
    );
    assert_clean(&p);
    assert_eq!(
        p.conf.scopes[1].ioc,
        params(&[("ctrl-loss-tmo", int(30)), ("nr-io-queues", int(2))])
    );
    assert_eq!(
        p.conf.scopes[0].ioc,
        params(&[("ctrl-loss-tmo", int(600)), ("nr-io-queues", int(4))])
    );
}
