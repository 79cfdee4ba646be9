//! Acceptance cases of nvme-stas's `test-config.py` (nvme-stas-behaviour.md §6), plus the
//! fixes of DECISIONS.md items 2–5, through the public configuration API.

use std::path::Path;
use std::time::Duration;

use libstas::config::service::{DisconnectScope, Persistence, Persistent};
use libstas::config::{self, Daemon, Diagnostic, ServiceConfig};
use libstas::model::filter::IpFamily;
use libstas::model::Transport;

fn load(daemon: Daemon, text: &str) -> (ServiceConfig, Vec<Diagnostic>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.conf");
    std::fs::write(&path, text).unwrap();
    let l = config::load_service(daemon, &path).unwrap();
    (l.config, l.diagnostics)
}

fn lines(d: &[Diagnostic]) -> Vec<usize> {
    d.iter().filter_map(|x| x.line).collect()
}

const STACD_CONF: &str = "\
[Global]
tron=true
kato=200
ip-family=ipv6
queue-size=2000
nr-io-queues=8

[I/O controller connection management]
disconnect-scope = joe
disconnect-trtypes = bob
connect-attempts-on-ncc = 1

[Controllers]
controller=transport=tcp;traddr=100.100.100.100;host-iface=enp0s8;hdr-digest=true;nr-io-queues=8;queue-size=400;kato=71
controller=transport=tcp;traddr=2607:f8b0:4002:c2c::71;nqn=nqn.x;ctrl-loss-tmo=666;disable-sqflow=true;dhchap-ctrl-secret=DHHC-1:00:abc:
exclude=transport=tcp;traddr=10.10.10.10
";

#[test]
fn stacd_svcconf_values() {
    let (c, d) = load(Daemon::Stacd, STACD_CONF);
    assert!(c.global.tron);
    assert_eq!(c.global.params.kato, Some(200));
    assert_eq!(
        c.global.ip_family,
        IpFamily {
            v4: false,
            v6: true
        }
    );
    assert_eq!(c.global.params.queue_size, None, "out of range: default");
    assert_eq!(c.global.params.nr_io_queues, Some(8));
    assert_eq!(
        c.stacd.disconnect_scope,
        DisconnectScope::OnlyStasConnections
    );
    assert_eq!(c.stacd.disconnect_trtypes, [Transport::Tcp]);
    assert_eq!(c.stacd.connect_attempts_on_ncc, 2, "1 becomes 2");
    // queue-size, disconnect-scope, disconnect-trtypes (bad item + nothing left), and the
    // dhchap-ctrl-secret of the second controller, which is not a DH-HMAC-CHAP key.
    assert_eq!(lines(&d), [5, 9, 10, 10, 15], "{d:#?}");
}

#[test]
fn controllers_parse_to_typed_overrides() {
    let (c, _) = load(Daemon::Stacd, STACD_CONF);
    assert_eq!(c.controllers.len(), 2);
    let a = &c.controllers[0];
    assert_eq!(a.line, 14);
    assert_eq!(a.dict.get("host-iface"), "enp0s8");
    assert_eq!(a.overrides.hdr_digest, Some(true));
    assert_eq!(a.overrides.nr_io_queues, Some(8));
    assert_eq!(a.overrides.queue_size, Some(400));
    assert_eq!(a.overrides.kato, Some(71));
    let b = &c.controllers[1];
    assert_eq!(b.dict.get("subsysnqn"), "nqn.x");
    assert_eq!(b.overrides.ctrl_loss_tmo, Some(666));
    assert_eq!(b.overrides.disable_sqflow, Some(true));
    assert_eq!(
        b.dict.get("dhchap-ctrl-secret"),
        "DHHC-1:00:abc:",
        "kept as an untouched string"
    );
    assert_eq!(c.excludes.len(), 1);
    assert_eq!(
        c.excludes[0].get("traddr").map(String::as_str),
        Some("10.10.10.10")
    );
    assert_eq!(c.excludes[0].len(), 2);
}

#[test]
fn reload_values() {
    let (c, d) = load(
        Daemon::Stacd,
        "[I/O controller connection management]\ndisconnect-trtypes = tcp+rdma+fc+tcp\nconnect-attempts-on-ncc = hello\n",
    );
    assert_eq!(
        c.stacd.disconnect_trtypes,
        [Transport::Tcp, Transport::Rdma, Transport::Fc]
    );
    assert_eq!(c.stacd.connect_attempts_on_ncc, 0);
    assert_eq!(lines(&d), [3]);
    for (word, fam) in [
        (
            "ipv4",
            IpFamily {
                v4: true,
                v6: false,
            },
        ),
        ("ipv4+ipv6", IpFamily::default()),
        ("ipv6+ipv4", IpFamily::default()),
    ] {
        let (c, d) = load(Daemon::Stafd, &format!("[Global]\nip-family={word}\n"));
        assert_eq!(c.global.ip_family, fam);
        assert!(d.is_empty());
    }
}

#[test]
fn stafd_defaults_and_service_discovery() {
    let (c, d) = load(Daemon::Stafd, "");
    assert!(d.is_empty());
    assert_eq!(c.global.params.kato, Some(30), "stafd kato default");
    assert!(c.stafd.zeroconf);
    assert!(c.stafd.persistent_connections);
    assert!(c.global.pleo);
    assert_eq!(
        c.stafd.zeroconf_persistence,
        Persistence::For(Duration::from_secs(259_200))
    );
    let (c, _) = load(Daemon::Stacd, "");
    assert_eq!(
        c.global.params.kato, None,
        "stacd passes no kato by default"
    );
    assert_eq!(c.global.params.hdr_digest, Some(false));
}

#[test]
fn zeroconf_persistence_forms() {
    let get = |v: &str| {
        load(
            Daemon::Stafd,
            &format!("[Discovery controller connection management]\nzeroconf-connections-persistence={v}\n"),
        )
    };
    assert_eq!(
        get("10").0.stafd.zeroconf_persistence,
        Persistence::For(Duration::from_secs(10))
    );
    assert_eq!(get("-1").0.stafd.zeroconf_persistence, Persistence::Forever);
    assert_eq!(
        get("0").0.stafd.zeroconf_persistence,
        Persistence::For(Duration::ZERO)
    );
    assert_eq!(
        get("1 day").0.stafd.zeroconf_persistence,
        Persistence::For(Duration::from_secs(86400))
    );
    // nvme-stas crashes on an unparseable value; we report it and keep 72 hours.
    let (c, d) = get("whenever");
    assert_eq!(
        c.stafd.zeroconf_persistence,
        Persistence::For(Duration::from_secs(259_200))
    );
    assert_eq!(lines(&d), [2]);
}

#[test]
fn queue_size_out_of_range_is_default() {
    let (c, d) = load(Daemon::Stacd, "[Global]\nqueue-size=5\n");
    assert_eq!(c.global.params.queue_size, None);
    assert_eq!(lines(&d), [2]);
}

#[test]
fn invalid_sections_and_options_are_errors() {
    let (_, d) = load(
        Daemon::Stafd,
        "[Global]\nnr-io-queues=4\nbogus=1\n[controllers]\ncontroller=transport=tcp\n[I/O controller connection management]\ndisconnect-scope=no-disconnect\n",
    );
    assert_eq!(lines(&d), [2, 3, 4, 6]);
    assert!(d.iter().all(Diagnostic::is_error));
    assert!(d[2].message.contains("[controllers]"));
}

#[test]
fn legacy_persistent_connections() {
    let pc = |text: &str| load(Daemon::Stafd, text).0.stafd.persistent_connections;
    let new = "[Discovery controller connection management]\npersistent-connections=";
    let old = "[Global]\npersistent-connections=";
    assert!(pc(""));
    assert!(!pc(&format!("{new}false\n")));
    assert!(!pc(&format!("{old}false\n")));
    assert!(
        pc(&format!("{old}true\n{new}false\n")),
        "legacy true wins over new false"
    );
    assert!(pc(&format!("{old}false\n{new}true\n")));
    let (_, d) = load(Daemon::Stafd, &format!("{old}true\n"));
    assert_eq!(d.len(), 1);
    assert!(!d[0].is_error(), "deprecation is a warning");
}

#[test]
fn blacklist_is_read_as_exclude() {
    let (c, d) = load(
        Daemon::Stacd,
        "[Controllers]\nexclude=traddr=1.1.1.1\nblacklist=traddr=2.2.2.2\nexclude=\n",
    );
    assert_eq!(c.excludes.len(), 2);
    assert_eq!(
        c.excludes[1].get("traddr").map(String::as_str),
        Some("2.2.2.2")
    );
    assert_eq!(lines(&d), [3]);
}

#[test]
fn invalid_override_falls_back_to_global_value_from_file() {
    let (c, d) = load(
        Daemon::Stafd,
        "[Global]\nkato=45\n[Controllers]\ncontroller=transport=tcp;traddr=1.1.1.1;kato=abc\n",
    );
    let ctrl = &c.controllers[0];
    assert_eq!(ctrl.overrides.kato, None);
    assert_eq!(ctrl.overrides.or(&c.global.params).kato, Some(45));
    assert_eq!(lines(&d), [4]);
}

#[test]
fn fc_and_loop_controllers_are_kept() {
    let (c, d) = load(
        Daemon::Stacd,
        "[Controllers]\ncontroller=transport=fc;traddr=nn-0x20000090fa942779:pn-0x10000090fa942779;host-traddr=nn-0x1:pn-0x2;nqn=nqn.fc\ncontroller=transport=loop;nqn=nqn.loop\n",
    );
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(c.controllers.len(), 2);
    let tid = c.controllers[0]
        .dict
        .tid(&libstas::model::TidDefaults::default());
    assert_eq!(tid.trsvcid, "");
}

/// The "done when" case of the foundation issue: a bare key, a missing section header and an
/// invalid value give one diagnostic each, with its line.
#[test]
fn bare_key_missing_header_invalid_value() {
    let (c, d) = load(
        Daemon::Stafd,
        "kato=10\n[Global]\ntron\nip-family=ipv5\nkato=12\n",
    );
    assert_eq!(lines(&d), [1, 3, 4], "{d:#?}");
    assert_eq!(c.global.params.kato, Some(12));
    assert_eq!(c.global.ip_family, IpFamily::default());
    assert!(!c.global.tron);
    let shown = d[2].to_string();
    assert!(shown.contains("test.conf:4: error:"), "{shown}");
    assert!(shown.contains("ipv5"), "{shown}");
}

#[test]
fn comma_in_controller_value_is_an_error() {
    let (_, d) = load(
        Daemon::Stacd,
        "[Controllers]\ncontroller=transport=tcp;traddr=1.1.1.1;host-iface=eth0,foo\n",
    );
    assert_eq!(lines(&d), [2]);
    assert!(d[0].is_error());
}

#[test]
fn missing_file_means_defaults() {
    let l = config::load_service(Daemon::Stafd, Path::new("/nonexistent/stafd.conf")).unwrap();
    assert!(!l.found);
    assert!(l.diagnostics.is_empty());
    assert_eq!(l.config, ServiceConfig::defaults(Daemon::Stafd));
}

#[test]
fn shipped_configs_are_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/stas");
    for (daemon, file) in [(Daemon::Stafd, "stafd.conf"), (Daemon::Stacd, "stacd.conf")] {
        let l = config::load_service(daemon, &root.join(file)).unwrap();
        assert!(l.found, "{file} is shipped");
        assert!(l.diagnostics.is_empty(), "{file}: {:#?}", l.diagnostics);
    }
}

#[test]
fn sys_conf_values_and_invalid_keys() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sys.conf");
    std::fs::write(
        &p,
        "[Host]\nnqn=file:///etc/nvme/hostnqn\nid = abc\nkey=DHHC-1:00:x:\nfoo=1\n[Other]\n",
    )
    .unwrap();
    let l = config::load_sys_conf(&p).unwrap();
    assert_eq!(
        l.config.nqn.as_ref().unwrap().text,
        "file:///etc/nvme/hostnqn"
    );
    assert_eq!(l.config.id.as_ref().unwrap().line, 3);
    assert!(l.config.symname.is_none());
    assert_eq!(lines(&l.diagnostics), [5, 6]);
    assert!(
        !format!("{:?}", l.config).contains("DHHC"),
        "key redacted in Debug"
    );
}

proptest::proptest! {
    #[test]
    fn service_config_never_panics(text in "([\\[\\]=;#+ \\t\\na-z0-9.:-]|Global|Controllers|controller|exclude|kato|tron){0,200}") {
        let mut d = config::Diagnostics::new(Path::new("x"));
        let ini = config::ini::parse(&text, &mut d);
        let _ = ServiceConfig::from_ini(Daemon::Stafd, &ini, &mut d);
        let _ = ServiceConfig::from_ini(Daemon::Stacd, &ini, &mut d);
    }
}

#[test]
fn persistent_and_epcsd_poll() {
    let (c, d) = load(Daemon::Stafd, "");
    assert!(d.is_empty());
    assert_eq!(
        c.stafd.persistent,
        Persistent::Force,
        "2.x layout: nvme-stas 2.x"
    );
    assert_eq!(c.stafd.epcsd_poll, Duration::from_secs(900));
    let (c, d) = load(
        Daemon::Stafd,
        "[Discovery controller connection management]\npersistent = auto\nepcsd-poll-interval-minutes = 0.5\n\
         [Controllers]\ncontroller = transport=tcp;traddr=192.0.2.1;persistent=no\n\
         controller = transport=tcp;traddr=192.0.2.2;persistent=sometimes\n",
    );
    assert_eq!(c.stafd.persistent, Persistent::Auto);
    assert_eq!(c.stafd.epcsd_poll, Duration::from_secs(30));
    assert_eq!(c.controllers[0].dict.0["persistent"], "no");
    assert_eq!(lines(&d), vec![6], "{d:?}");
    let (c, d) = load(
        Daemon::Stafd,
        "[Discovery controller connection management]\npersistent = maybe\nepcsd-poll-interval-minutes = 0\n",
    );
    assert_eq!(c.stafd.persistent, Persistent::Force);
    assert_eq!(c.stafd.epcsd_poll, Duration::from_secs(900));
    assert_eq!(lines(&d), vec![2, 3], "{d:?}");
}

#[test]
fn tls_keys_of_the_2x_layout_and_check_config() {
    const KEY: &str = "NVMeTLSkey-1:01:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:";
    let text = format!(
        "[Global]\ntls=true\nkeyring=0x3b9aca00\ntls-key={KEY}\n\
         [Controllers]\n\
         controller=transport=tcp;traddr=10.0.0.1;nqn=nqn.a;tls-key=0x1a2b;keyring=12\n\
         controller=transport=tcp;traddr=10.0.0.2;nqn=nqn.b;tls=false;tls-key={KEY}\n\
         controller=transport=tcp;traddr=10.0.0.3;nqn=nqn.c;tls=yes;keyring=.nvme\n"
    );
    let (cfg, d) = load(Daemon::Stacd, &text);
    let g = &cfg.global.params;
    assert_eq!(
        (g.tls, g.keyring, g.tls_key),
        (Some(true), Some(1_000_000_000), None)
    );
    let o = |i: usize| cfg.controllers[i].overrides.or(g);
    assert_eq!(
        (o(0).tls, o(0).keyring, o(0).tls_key),
        (Some(true), Some(12), Some(6699))
    );
    assert_eq!((o(1).tls, o(1).tls_key), (Some(false), None));
    // Invalid values fall back to [Global].
    assert_eq!((o(2).tls, o(2).keyring), (Some(true), Some(1_000_000_000)));
    assert_eq!(lines(&d), [4, 7, 8, 8], "{d:?}");
    assert!(d.iter().all(Diagnostic::is_error), "{d:?}");
    let all: String = d.iter().map(|x| format!("{x}\n")).collect();
    assert!(!all.contains("VRLbtn"), "a key is never shown: {all}");
    assert!(all.contains("tls-key refused"), "{all}");
    assert!(all.contains("\"tls-key\" in [Global] is ignored"), "{all}");

    // --check-config: the same lines, exit 1.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stacd.conf");
    std::fs::write(&path, &text).unwrap();
    let report = config::check_service_file(Daemon::Stacd, &path);
    assert!(!report.ok);
    assert!(
        report
            .lines
            .last()
            .unwrap()
            .ends_with(": 4 errors, 0 warnings"),
        "{:?}",
        report.lines
    );
    assert!(!report.lines.concat().contains("VRLbtn"));
    // stafd.conf takes them too.
    let (cfg, d) = load(Daemon::Stafd, "[Global]\ntls=true\nkeyring=5\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        (cfg.global.params.tls, cfg.global.params.keyring),
        (Some(true), Some(5))
    );
}
