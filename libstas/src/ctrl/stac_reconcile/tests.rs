//! Unit tests of stacd's reconcile: sources (stacd.conf, stafd's log pages), validation of
//! network strings, the stafd memory (unknown is not empty), every row of the disconnect
//! policy table, exclusions, ip-family, and the audit's classification.

use super::*;
use crate::config::{ini, Daemon, Diagnostics};
use crate::ctrl::reconcile::{names_to_resolve, Screen};
use crate::kernel::CtrlState;
use crate::proto::address::CtrlAddress;

const HOST: &str = "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f";
const SUB: &str = "nqn.2024-01.io.example:sub";

fn conf(text: &str) -> ServiceConfig {
    let mut d = Diagnostics::new(std::path::Path::new("stacd.conf"));
    let i = ini::parse(text, &mut d);
    ServiceConfig::from_ini(Daemon::Stacd, &i, &mut d)
}

fn defaults() -> TidDefaults {
    TidDefaults {
        host_nqn: HOST.into(),
        ignore_iface: false,
    }
}

fn dc(traddr: &str) -> TransportId {
    TransportId {
        transport: "tcp".into(),
        traddr: traddr.into(),
        trsvcid: "8009".into(),
        subsysnqn: WELL_KNOWN_DISC_NQN.into(),
        host_nqn: HOST.into(),
        ..TransportId::default()
    }
}

fn ioc(traddr: &str, i: u32) -> TransportId {
    TransportId {
        transport: "tcp".into(),
        traddr: traddr.into(),
        trsvcid: "4420".into(),
        subsysnqn: format!("{SUB}{i}"),
        host_nqn: HOST.into(),
        ..TransportId::default()
    }
}

fn entry(traddr: &str, i: u32, subtype: &str) -> DlpeDict {
    [
        ("trtype", "tcp".to_owned()),
        ("adrfam", "ipv4".to_owned()),
        ("traddr", traddr.to_owned()),
        ("trsvcid", "4420".to_owned()),
        ("subnqn", format!("{SUB}{i}")),
        ("subtype", subtype.to_owned()),
        ("eflags", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn known(list: Vec<(TransportId, Option<Vec<DlpeDict>>)>) -> StafdView {
    view(list, false)
}

fn view(list: Vec<(TransportId, Option<Vec<DlpeDict>>)>, dc_removed: bool) -> StafdView {
    StafdView::Known {
        dcs: list
            .into_iter()
            .map(|(dc, entries)| DcLog { dc, entries })
            .collect(),
        dc_removed,
    }
}

struct World {
    cfg: ServiceConfig,
    configured: Vec<IocCandidate>,
    stafd: StafdMemory,
    resolved: BTreeMap<String, Option<IpAddr>>,
    current: BTreeMap<TransportId, Running>,
    kernel: Vec<Controller>,
}

impl World {
    fn new(text: &str) -> Self {
        let cfg = conf(text);
        let (configured, _) = configured(&cfg, &defaults());
        Self {
            cfg,
            configured,
            stafd: StafdMemory::default(),
            resolved: BTreeMap::new(),
            current: BTreeMap::new(),
            kernel: Vec::new(),
        }
    }
    fn run(&self) -> IocPlan {
        let policy = DisconnectPolicy::from_config(&self.cfg);
        let ctrls: Vec<&Controller> = self.kernel.iter().collect();
        let foreign: Vec<&Controller> = (self.kernel.iter())
            .filter(|c| c.owner.as_deref().is_some_and(|o| o != "stas"))
            .collect();
        let owned = BTreeSet::new();
        reconcile(&IocInputs {
            configured: &self.configured,
            stafd: &self.stafd,
            excludes: Screen::patterns(&self.cfg.excludes),
            ip_family: self.cfg.global.ip_family,
            resolved: &self.resolved,
            current: &self.current,
            kernel: KernelView {
                ctrls: &ctrls,
                owned: &owned,
                ifaddrs: &[],
                foreign: &foreign,
            },
            policy: &policy,
        })
    }
    fn running(&mut self, t: TransportId, vouched: bool) {
        self.current.insert(t, Running { vouched });
    }
    /// Adds what the plan added, as stacd would.
    fn settle(&mut self) -> IocPlan {
        let p = self.run();
        for t in &p.add {
            self.running(t.clone(), true);
        }
        for (t, _) in &p.remove {
            self.current.remove(t);
        }
        p
    }
}

#[test]
fn configured_entries_need_transport_traddr_and_nqn() {
    let c = conf(
        "[Controllers]\n\
         controller = transport=tcp;traddr=10.0.0.1;nqn=nqn.a;kato=20;dhchap-secret=DHHC-1:00:x:\n\
         controller = transport=tcp;traddr=10.0.0.2;trsvcid=4420;subsysnqn=nqn.b\n\
         controller = transport=fc;traddr=nn-0x1:pn-0x2;host-traddr=nn-0x3:pn-0x4;nqn=nqn.c\n\
         controller = transport=loop;nqn=nqn.d\n\
         controller = transport=tcp;traddr=10.0.0.3\n\
         controller = traddr=10.0.0.4;nqn=nqn.e\n\
         controller = transport=rdma;nqn=nqn.f\n",
    );
    let (ok, dropped) = configured(&c, &defaults());
    let tids: Vec<&TransportId> = ok.iter().map(|c| &c.tid).collect();
    assert_eq!(tids.len(), 4);
    assert_eq!(tids[0].trsvcid, "8009", "nvme-stas's TID default for tcp");
    assert_eq!(tids[0].subsysnqn, "nqn.a");
    assert_eq!(tids[0].host_nqn, HOST);
    assert_eq!(ok[0].overrides.kato, Some(20));
    assert!(
        ok[0].cfg.contains_key("dhchap-secret"),
        "kept for the connect"
    );
    assert!(ok[0].configured && ok[0].dlpe.is_none());
    assert_eq!(tids[1].trsvcid, "4420");
    assert_eq!(
        (tids[2].transport.as_str(), tids[2].trsvcid.as_str()),
        ("fc", "")
    );
    assert_eq!(tids[3].transport, "loop");
    assert_eq!(
        dropped.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        vec![
            IocDropReason::Incomplete("subsysnqn"),
            IocDropReason::Incomplete("transport"),
            IocDropReason::Incomplete("traddr"),
        ]
    );
}

#[test]
fn wire_dcs_read_or_not() {
    let mut d = dc("127.0.0.1").as_dict();
    d.insert("device".into(), "nvme0".into());
    let l = DcLog::from_wire(&d, vec![entry("127.0.0.1", 1, "nvme")]);
    assert_eq!(l.dc, dc("127.0.0.1"));
    assert_eq!(l.entries.as_ref().map(Vec::len), Some(1));
    assert_eq!(DcLog::from_wire(&d, vec![]).entries, None, "never read");
    d.insert(
        "get log page operation".into(),
        "{'fail count': 1, 'completed': False, 'alive': True}".into(),
    );
    assert_eq!(DcLog::from_wire(&d, vec![]).entries, None, "read failed");
    d.insert(
        "get log page operation".into(),
        "{'fail count': 0, 'completed': True, 'alive': True}".into(),
    );
    assert_eq!(
        DcLog::from_wire(&d, vec![]).entries,
        Some(vec![]),
        "read and empty"
    );
}

#[test]
fn stafd_memory_unknown_is_not_empty() {
    let mut m = StafdMemory::default();
    assert!(!m.reachable() && !m.complete());
    assert!(m.apply(known(vec![(
        dc("127.0.0.1"),
        Some(vec![entry("127.0.0.1", 1, "nvme")])
    )])));
    assert!(m.complete());
    assert!(!m.apply(known(vec![(
        dc("127.0.0.1"),
        Some(vec![entry("127.0.0.1", 1, "nvme")])
    )])));
    // Unreachable: entries remembered.
    assert!(m.apply(StafdView::Unknown));
    assert!(!m.reachable());
    assert_eq!(m.logs().count(), 1);
    // stafd restarted without its cache: the controller is listed but not read yet.
    assert!(m.apply(known(vec![(dc("127.0.0.1"), None), (dc("::1"), None)])));
    assert!(m.reachable());
    assert_eq!(m.logs().map(|(_, e)| e.len()).collect::<Vec<_>>(), vec![1]);
    assert_eq!(m.unresolved().collect::<Vec<_>>(), vec![&dc("::1")]);
    assert!(!m.complete());
    assert!(m.might_name(&ioc("::1", 1)), "same host fields");
    let mut other = ioc("::1", 1);
    other.host_nqn = "nqn.other".into();
    assert!(!m.might_name(&other));
    // A controller stafd does not list is kept until stafd signals a removal (a stafd that
    // just started may not have created it yet)…
    assert!(m.apply(known(vec![(dc("::1"), Some(vec![]))])));
    assert_eq!(m.logs().count(), 2);
    // …then forgotten.
    m.apply(view(vec![(dc("::1"), Some(vec![]))], true));
    assert_eq!(
        m.logs().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
        vec![dc("::1")]
    );
    assert!(m.complete());
}

#[test]
fn the_sources_of_a_change_are_the_dcs_whose_entries_changed() {
    let (a, b, c) = (dc("127.0.0.1"), dc("127.0.0.2"), dc("::1"));
    let e = |i| Some(vec![entry("127.0.0.1", i, "nvme")]);
    let mut m = StafdMemory::default();
    m.apply(known(vec![(a.clone(), e(1)), (b.clone(), e(1))]));
    let before = m.clone();
    assert!(!m.apply(known(vec![(a.clone(), e(1)), (b.clone(), e(1))])));
    assert!(m.changed_dcs(&before).is_empty());
    // b's log changed and c appeared: both are sources, a is not.
    m.apply(known(vec![
        (a.clone(), e(1)),
        (b.clone(), e(2)),
        (c.clone(), None),
    ]));
    assert_eq!(m.changed_dcs(&before), [b.clone(), c.clone()]);
    // a removed (stafd signalled it): a is the source.
    let before = m.clone();
    m.apply(view(vec![(b, e(2)), (c, None)], true));
    assert_eq!(m.changed_dcs(&before), [a]);
}

#[test]
fn stafd_entries_become_iocs_with_the_dc_host_fields() {
    let mut parent = dc("127.0.0.1");
    parent.host_iface = "lo".into();
    let mut bad_addr = entry("1.2.3.4,hostnqn=evil", 7, "nvme");
    bad_addr.insert("subnqn".into(), format!("{SUB}7"));
    let mut bad_nqn = entry("127.0.0.1", 8, "nvme");
    bad_nqn.insert("subnqn".into(), "nqn.x y".into());
    let mut bad_port = entry("127.0.0.1", 9, "nvme");
    bad_port.insert("trsvcid".into(), "44 20".into());
    let mut m = StafdMemory::default();
    m.apply(known(vec![
        (
            parent.clone(),
            Some(vec![
                entry("127.0.0.1", 1, "nvme"),
                entry("127.0.0.1", 2, "discovery"),
                entry("127.0.0.1", 3, "referral"),
                bad_addr,
                bad_nqn,
                bad_port,
            ]),
        ),
        (dc("::1"), Some(vec![entry("127.0.0.1", 1, "nvme")])),
    ]));
    let (c, dropped) = from_stafd(&m);
    assert_eq!(c.len(), 2, "{c:#?}");
    let mut want = ioc("127.0.0.1", 1);
    want.host_iface = "lo".into();
    assert_eq!(c.iter().filter(|x| x.tid == want).count(), 1);
    assert!(
        c.iter().any(|x| x.tid == ioc("127.0.0.1", 1)),
        "the other DC's host fields"
    );
    assert!(c.iter().all(|x| !x.configured && x.dlpe.is_some()));
    let fields: Vec<&str> = dropped
        .iter()
        .map(|(_, r)| match r {
            IocDropReason::Invalid(f, _) => *f,
            _ => "?",
        })
        .collect();
    assert_eq!(fields, vec!["traddr", "subnqn", "trsvcid"]);
    assert!(dropped[0].1.to_string().contains("forbidden character ','"));

    // Two DCs naming the same identity give one candidate naming both.
    let mut m = StafdMemory::default();
    m.apply(known(vec![
        (dc("127.0.0.1"), Some(vec![entry("127.0.0.1", 1, "nvme")])),
        (dc("127.0.0.2"), Some(vec![entry("127.0.0.1", 1, "nvme")])),
    ]));
    let (c, _) = from_stafd(&m);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].dcs, vec![dc("127.0.0.1"), dc("127.0.0.2")]);
}

#[test]
fn policy_table() {
    let all = "all-connections-matching-disconnect-trtypes";
    let rows: [(&str, &str, &str, Disposal); 7] = [
        ("only-stas-connections", "tcp", "tcp", Disposal::Disconnect),
        ("only-stas-connections", "tcp", "rdma", Disposal::Disconnect),
        ("no-disconnect", "tcp", "tcp", Disposal::Forget),
        ("no-disconnect", "tcp+rdma+fc", "fc", Disposal::Forget),
        (all, "tcp", "tcp", Disposal::Disconnect),
        (all, "rdma+fc", "tcp", Disposal::Forget),
        (all, "rdma+fc", "fc", Disposal::Disconnect),
    ];
    for (scope, trtypes, transport, want) in rows {
        let c = conf(&format!(
            "[I/O controller connection management]\ndisconnect-scope={scope}\ndisconnect-trtypes={trtypes}\n"
        ));
        let p = DisconnectPolicy::from_config(&c);
        let mut t = ioc("10.0.0.1", 1);
        t.transport = transport.into();
        assert_eq!(p.disposal(&t), want, "{scope} {trtypes} {transport}");
        assert_eq!(p.audits(), scope == all);
    }
}

#[test]
fn disappearing_entry_per_scope() {
    for (scope, want) in [
        ("only-stas-connections", Some(Disposal::Disconnect)),
        ("no-disconnect", Some(Disposal::Forget)),
        (
            "all-connections-matching-disconnect-trtypes",
            Some(Disposal::Disconnect),
        ),
    ] {
        let mut w = World::new(&format!(
            "[I/O controller connection management]\ndisconnect-scope={scope}\n"
        ));
        w.stafd.apply(known(vec![(
            dc("127.0.0.1"),
            Some(vec![
                entry("127.0.0.1", 1, "nvme"),
                entry("127.0.0.1", 2, "nvme"),
            ]),
        )]));
        let p = w.settle();
        assert_eq!(p.add, vec![ioc("127.0.0.1", 1), ioc("127.0.0.1", 2)]);
        assert!(p.remove.is_empty());
        w.stafd.apply(known(vec![(
            dc("127.0.0.1"),
            Some(vec![entry("127.0.0.1", 2, "nvme")]),
        )]));
        let p = w.run();
        assert!(p.add.is_empty());
        assert_eq!(
            p.remove.first().map(|(t, d)| (t.clone(), *d)),
            want.map(|d| (ioc("127.0.0.1", 1), d)),
            "{scope}"
        );
        assert!(p.waiting.is_empty());
    }
}

#[test]
fn stafd_unknown_keeps_everything_it_may_have_named() {
    let mut w = World::new(
        "[Controllers]\ncontroller = transport=tcp;traddr=10.0.0.9;trsvcid=4420;nqn=nqn.conf\n",
    );
    w.stafd.apply(known(vec![(
        dc("127.0.0.1"),
        Some(vec![entry("127.0.0.1", 1, "nvme")]),
    )]));
    w.settle();
    // Adopted at a warm restart, never named since.
    w.running(ioc("127.0.0.1", 5), false);
    assert_eq!(w.run().remove.len(), 1, "stafd known: the stray one goes");
    // stafd goes away.
    w.stafd.apply(StafdView::Unknown);
    let p = w.run();
    assert!(p.remove.is_empty(), "{p:#?}");
    assert!(p.add.is_empty());
    assert_eq!(p.waiting, vec![ioc("127.0.0.1", 5)]);
    assert!(
        p.wanted.contains_key(&ioc("127.0.0.1", 1)),
        "remembered entries stay wanted (reconnect after a kernel remove)"
    );
    // Even a controller removed from stacd.conf stays while stafd cannot say.
    let conf_tid = TransportId {
        transport: "tcp".into(),
        traddr: "10.0.0.9".into(),
        trsvcid: "4420".into(),
        subsysnqn: "nqn.conf".into(),
        host_nqn: HOST.into(),
        ..TransportId::default()
    };
    w.configured.clear();
    let p = w.run();
    assert!(p.remove.is_empty());
    assert!(p.waiting.contains(&conf_tid));
    // stafd back without its cache: the remembered entries are used, so what they do not
    // name goes.
    w.stafd.apply(known(vec![(dc("127.0.0.1"), None)]));
    let p = w.run();
    assert!(p.wanted.contains_key(&ioc("127.0.0.1", 1)));
    assert!(p.waiting.is_empty());
    assert_eq!(
        p.remove.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
        vec![conf_tid, ioc("127.0.0.1", 5)]
    );
}

#[test]
fn warm_restart_waits_for_unread_controllers_only_with_matching_host_fields() {
    let mut w = World::new("");
    let mut other = ioc("127.0.0.1", 2);
    other.host_nqn = "nqn.2014-08.org.example:other-host".into();
    w.running(ioc("127.0.0.1", 1), false);
    w.running(other.clone(), false);
    let p = w.run();
    assert_eq!(p.waiting.len(), 2, "no answer from stafd yet");
    w.stafd.apply(known(vec![(dc("127.0.0.1"), None)]));
    let p = w.run();
    assert_eq!(p.waiting, vec![ioc("127.0.0.1", 1)]);
    assert_eq!(p.remove, vec![(other, Disposal::Disconnect)]);
    // Vouched for: removed although a DC is unread.
    w.running(ioc("127.0.0.1", 1), true);
    assert_eq!(w.run().remove.len(), 2);
}

#[test]
fn exclusion_on_reload_removes_only_the_matching_ones_even_without_stafd() {
    let mut w = World::new("");
    w.stafd.apply(known(vec![(
        dc("127.0.0.1"),
        Some((1..=4).map(|i| entry("127.0.0.1", i, "nvme")).collect()),
    )]));
    assert_eq!(w.settle().add.len(), 4);
    w.stafd.apply(StafdView::Unknown);
    w.cfg = conf(&format!("[Controllers]\nexclude = subsysnqn={SUB}2\n"));
    let p = w.run();
    assert_eq!(p.remove, vec![(ioc("127.0.0.1", 2), Disposal::Disconnect)]);
    assert!(p.waiting.is_empty());
    assert_eq!(p.wanted.len(), 3);
    assert!(p
        .dropped
        .contains(&(ioc("127.0.0.1", 2), IocDropReason::Excluded)));
    // no-disconnect: forgotten only.
    w.cfg = conf(&format!(
        "[I/O controller connection management]\ndisconnect-scope=no-disconnect\n\
         [Controllers]\nexclude = subsysnqn={SUB}2\n"
    ));
    assert_eq!(
        w.run().remove,
        vec![(ioc("127.0.0.1", 2), Disposal::Forget)]
    );
}

#[test]
fn configured_and_logged_controller_merge() {
    let mut w = World::new(&format!(
        "[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn={SUB}1;kato=17\n"
    ));
    w.stafd.apply(known(vec![(
        dc("127.0.0.1"),
        Some(vec![entry("127.0.0.1", 1, "nvme")]),
    )]));
    let p = w.run();
    assert_eq!(p.wanted.len(), 1);
    let c = &p.wanted[&ioc("127.0.0.1", 1)];
    assert!(c.configured);
    assert_eq!(c.overrides.kato, Some(17));
    assert!(c.dlpe.is_some());
    assert_eq!(c.dcs, vec![dc("127.0.0.1")]);
    // The entry leaves the log: still configured, still wanted.
    w.running(ioc("127.0.0.1", 1), true);
    w.stafd.apply(known(vec![(dc("127.0.0.1"), Some(vec![]))]));
    let p = w.run();
    assert!(p.remove.is_empty());
    assert!(p.wanted[&ioc("127.0.0.1", 1)].dlpe.is_none());
}

#[test]
fn addresses_ip_family_and_names() {
    let mut w = World::new(
        "[Global]\nip-family=ipv6\n[Controllers]\n\
         controller = transport=tcp;traddr=10.0.0.1;trsvcid=4420;nqn=nqn.a\n\
         controller = transport=tcp;traddr=::1;trsvcid=4420;nqn=nqn.b\n\
         controller = transport=tcp;traddr=array.example;trsvcid=4420;nqn=nqn.c\n\
         controller = transport=tcp;traddr=gone.example;trsvcid=4420;nqn=nqn.d\n",
    );
    assert_eq!(
        names_to_resolve(&w.configured, &Screen::patterns(&w.cfg.excludes)),
        ["array.example".to_owned(), "gone.example".to_owned()].into()
    );
    w.resolved
        .insert("array.example".into(), Some("2001:db8::5".parse().unwrap()));
    w.resolved.insert("gone.example".into(), None);
    w.stafd.apply(known(vec![(
        dc("::1"),
        Some(vec![entry("127.0.0.1", 1, "nvme"), entry("::1", 2, "nvme")]),
    )]));
    let p = w.run();
    let added: Vec<(&str, &str)> = p
        .add
        .iter()
        .map(|t| (t.traddr.as_str(), t.subsysnqn.as_str()))
        .collect();
    assert_eq!(added.len(), 3, "{added:?}");
    assert!(added.contains(&("::1", "nqn.b")));
    assert!(added.contains(&("2001:db8::5", "nqn.c")));
    let reasons: Vec<String> = p.dropped.iter().map(|(_, r)| r.to_string()).collect();
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.contains("ip-family=ipv6"))
            .count(),
        2,
        "{reasons:?}"
    );
    assert!(reasons
        .iter()
        .any(|r| r == "cannot resolve host name gone.example"));
}

fn kctrl(instance: u32, transport: &str, cntrltype: Option<CntrlType>, ns: bool) -> Controller {
    let mut c = Controller::new(instance, transport);
    c.address = CtrlAddress {
        traddr: Some("127.0.0.1".into()),
        trsvcid: Some("4420".into()),
        ..CtrlAddress::default()
    };
    c.subsysnqn = format!("{SUB}{instance}");
    c.hostnqn = HOST.into();
    c.cntrltype = cntrltype;
    if ns {
        c.children = vec![format!("nvme{instance}n1")];
    }
    c
}

#[test]
fn audit_classification() {
    let all = DisconnectPolicy {
        scope: DisconnectScope::AllConnectionsMatchingDisconnectTrtypes,
        trtypes: vec![Transport::Tcp, Transport::Rdma],
    };
    let io = Some(CntrlType::Io);
    let cases = [
        (
            kctrl(0, "tcp", io, false),
            true,
            "cntrltype io, no namespace yet",
        ),
        (
            kctrl(1, "tcp", None, true),
            true,
            "pre-5.18 with namespaces",
        ),
        (
            kctrl(2, "tcp", None, false),
            false,
            "pre-5.18 without namespaces: a DC",
        ),
        (
            kctrl(3, "tcp", Some(CntrlType::Discovery), true),
            false,
            "discovery",
        ),
        (kctrl(4, "pcie", io, true), false, "PCIe never"),
        (
            kctrl(5, "loop", io, true),
            false,
            "loop is not a disconnect trtype",
        ),
        (kctrl(6, "fc", io, true), false, "fc not in this list"),
        (kctrl(7, "rdma", io, true), true, "rdma"),
    ];
    for (c, want, what) in &cases {
        assert_eq!(is_audited_ioc(c, &all), *want, "{what}");
    }
    let mut wk = kctrl(8, "tcp", None, true);
    wk.subsysnqn = WELL_KNOWN_DISC_NQN.into();
    assert!(!is_audited_ioc(&wk, &all), "well-known NQN");
    let mut dying = kctrl(9, "tcp", io, true);
    dying.state = CtrlState::Deleting;
    assert!(!is_audited_ioc(&dying, &all), "being deleted");

    let ctrls: Vec<Controller> = cases.iter().map(|(c, _, _)| c.clone()).collect();
    let owned: BTreeSet<String> = ["nvme1".to_owned()].into();
    let ours_tid = tid_of(&ctrls[7]);
    let found = audit(&ctrls, &all, &owned, &[&ours_tid], &[]);
    assert_eq!(
        found.iter().map(|(_, d)| d.as_str()).collect::<Vec<_>>(),
        vec!["nvme0"],
        "owned nvme1 and our nvme7 are not foreign"
    );
    assert_eq!(found[0].0.subsysnqn, format!("{SUB}0"));
    assert_eq!(found[0].0.trsvcid, "4420");
    let only = DisconnectPolicy {
        scope: DisconnectScope::OnlyStasConnections,
        trtypes: vec![Transport::Tcp],
    };
    assert!(
        audit(&ctrls, &only, &owned, &[], &[]).is_empty(),
        "no audit"
    );
}

#[test]
fn audited_foreign_connections_go_unless_stafd_cannot_say() {
    let mut w = World::new(
        "[I/O controller connection management]\n\
         disconnect-scope=all-connections-matching-disconnect-trtypes\n",
    );
    let io = Some(CntrlType::Io);
    w.kernel = vec![
        kctrl(3, "tcp", io, true),
        kctrl(4, "tcp", io, true),
        kctrl(5, "pcie", io, true),
    ];
    let foreign3 = (tid_of(&w.kernel[0]), "nvme3".to_owned());
    assert!(w.run().disconnect_foreign.is_empty(), "stafd not asked yet");
    w.stafd.apply(known(vec![(dc("127.0.0.1"), None)]));
    assert!(
        w.run().disconnect_foreign.is_empty(),
        "an unread DC with the same host fields might name it"
    );
    // The log names the controller behind nvme4: it is ours (adopted), not foreign.
    w.stafd.apply(known(vec![(
        dc("127.0.0.1"),
        Some(vec![entry("127.0.0.1", 4, "nvme")]),
    )]));
    let p = w.run();
    assert_eq!(p.disconnect_foreign, vec![foreign3]);
    assert_eq!(p.add, vec![ioc("127.0.0.1", 4)]);
    w.cfg = conf("");
    assert!(
        w.run().disconnect_foreign.is_empty(),
        "default scope: no audit"
    );
}
