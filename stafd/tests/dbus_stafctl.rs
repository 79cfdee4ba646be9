//! stafctl against a served stafd object (the sample snapshot) on a private system-like
//! `dbus-daemon`: every command, human and `--json` output, and the exit statuses that tell
//! "stafd is not running" from other failures.

#[path = "../../libstas/tests/dbus_fixture/mod.rs"]
mod dbus_fixture;

use std::process::{Command, Output};

use dbus_fixture::{require, run, Bus, FakeCore};
use libstas::dbus::ctl::render::dicts_value;
use libstas::dbus::{bus_connection, sample, serve_staf_on, shapes, DbusServer};
use serde_json::Value;

fn stafctl(bus: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stafctl"));
    c.env("DBUS_SYSTEM_BUS_ADDRESS", bus).args(args);
    c
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn out(o: &Output) -> Out {
    let o = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        !o.stdout.contains(sample::SECRET) && !o.stderr.contains(sample::SECRET),
        "a secret was printed"
    );
    o
}

async fn ok(bus: &Bus, args: &[&str]) -> String {
    let o = out(&run(stafctl(&bus.address, args)).await);
    assert_eq!(o.code, 0, "stafctl {args:?}: {}{}", o.stdout, o.stderr);
    o.stdout
}

async fn ok_json(bus: &Bus, args: &[&str]) -> Value {
    let text = ok(bus, args).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stafctl {args:?}: {e}: {text}"))
}

async fn serve(bus: &Bus, core: &FakeCore) -> DbusServer {
    let conn = bus_connection(&bus.address).await.unwrap();
    serve_staf_on(conn, core.staf_handle()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_against_a_served_stafd() {
    if require("every_command_against_a_served_stafd", &["dbus-daemon"]).is_none() {
        return;
    }
    let bus = Bus::permissive();
    let snapshot = sample::staf_snapshot();
    let core = FakeCore::start(snapshot.clone());
    let _server = serve(&bus, &core).await;

    // ls
    let table = ok(&bus, &["ls"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("DEVICE  TRANSPORT  TRADDR"), "{table}");
    assert!(lines[1].starts_with("nvme0 ") && lines[1].contains("192.168.56.10"));
    assert!(lines[2].starts_with("nvme? ") && lines[2].contains("fe80::1"));
    // The registry's owner, last (scripts reading the first columns are unaffected).
    assert!(
        lines[0].ends_with("  OWNER") && lines[1].ends_with("  stas"),
        "{table}"
    );
    assert!(lines[2].ends_with("  -"), "unowned: {table}");
    assert_eq!(
        ok_json(&bus, &["ls", "--json"]).await,
        dicts_value(&shapes::list_controllers(&snapshot, false))
    );
    assert_eq!(
        ok_json(&bus, &["--json", "ls", "-d"]).await,
        dicts_value(&shapes::list_controllers(&snapshot, true))
    );
    let detailed = ok(&bus, &["ls", "--detailed"]).await;
    assert!(
        detailed.starts_with("nvme0  tcp 192.168.56.10:8009 "),
        "{detailed}"
    );
    assert!(detailed.contains("    connected "), "{detailed}");
    assert!(detailed.contains("    origin "), "{detailed}");

    // dlp: explicit host NQN, host NQN from sys.conf, unknown controller.
    let want = dicts_value(&sample::log_pages());
    let dlp = ["dlp", "-a", "192.168.56.10", "-f", "eth0"];
    let mut args = dlp.to_vec();
    args.extend(["-q", sample::HOSTNQN, "--json"]);
    assert_eq!(ok_json(&bus, &args).await, want);
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), format!("[Host]\nnqn = {}\n", sample::HOSTNQN)).unwrap();
    let conf_path = conf.path().to_str().unwrap();
    let mut args = dlp.to_vec();
    args.extend(["--sys-conf", conf_path, "--json"]);
    assert_eq!(ok_json(&bus, &args).await, want);
    let mut args = dlp.to_vec();
    args.extend(["--sys-conf", conf_path]);
    let table = ok(&bus, &args).await;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["SUBTYPE", "TRTYPE", "ADRFAM", "TRADDR", "TRSVCID", "PORTID", "TREQ", "SUBNQN"]
    );
    assert_eq!(
        rows[1],
        [
            "nvme",
            "tcp",
            "ipv4",
            "192.168.56.20",
            "4420",
            "1",
            "not",
            "specified",
            "nqn.1988-11.com.example:subsys1"
        ]
    );
    assert_eq!(rows[2][0], "referral");
    let none = ok(&bus, &["dlp", "-a", "10.9.9.9", "-q", sample::HOSTNQN]).await;
    assert!(none.starts_with("no log page entries"), "{none}");

    // adlp
    let all = ok(&bus, &["adlp"]).await;
    assert!(all.contains("nvme0  tcp 192.168.56.10:8009"), "{all}");
    assert!(all.contains("nvme?  tcp [fe80::1]:8009"), "{all}");
    assert!(all.contains("    log pages: none"), "{all}");
    let want: Value =
        serde_json::from_str(&shapes::all_log_pages(&snapshot, true).unwrap()).unwrap();
    assert_eq!(ok_json(&bus, &["adlp", "-d", "--json"]).await, want);

    // status
    let st = ok_json(&bus, &["status", "--json"]).await;
    assert_eq!(st["hostkey"], "(set)");
    assert_eq!(st["tron"], false);
    let ctrls = st["controllers"].as_array().unwrap();
    assert_eq!(ctrls.len(), 2);
    assert_eq!(ctrls[0]["log_pages"].as_array().unwrap().len(), 2);
    assert_eq!(ctrls[0]["connected"], "True");
    assert_eq!(ctrls[1]["unresponsive timeout"], "259200 sec");
    let st = ok(&bus, &["status"]).await;
    assert!(st.starts_with("stafd\n"), "{st}");
    assert!(st.contains("    hostkey "), "{st}");
    assert!(st.contains("    log pages:\n"), "{st}");

    // tron / troff
    assert_eq!(ok(&bus, &["tron"]).await, "tron: on\n");
    assert!(core.snapshot.borrow().process.tron);
    assert_eq!(ok_json(&bus, &["troff", "--json"]).await["tron"], false);
    assert!(!core.snapshot.borrow().process.tron);

    // version
    assert!(ok(&bus, &["version"]).await.starts_with("stafctl (stas) "));
    assert!(ok(&bus, &["-v"]).await.starts_with("stafctl (stas) "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_have_distinct_messages_and_exit_statuses() {
    if require(
        "failures_have_distinct_messages_and_exit_statuses",
        &["dbus-daemon"],
    )
    .is_none()
    {
        return;
    }
    let bus = Bus::permissive();

    // Nobody owns org.nvmexpress.staf.
    let o = out(&run(stafctl(&bus.address, &["ls"])).await);
    assert_eq!(o.code, 69, "{}", o.stderr);
    assert_eq!(
        o.stderr,
        "stafctl: stafd is not running (org.nvmexpress.staf has no owner on the system bus)\n"
    );

    // No bus at all.
    let gone = format!("unix:path={}/nothing.sock", bus.dir.path().display());
    let o = out(&run(stafctl(&gone, &["status"])).await);
    assert_eq!(o.code, 69);
    assert!(
        o.stderr
            .starts_with("stafctl: cannot connect to the D-Bus system bus: "),
        "{}",
        o.stderr
    );

    // No command: usage, status 1. Bad arguments: clap's status 2.
    let o = out(&run(stafctl(&bus.address, &[])).await);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("Usage: stafctl"), "{}", o.stderr);
    let o = out(&run(stafctl(&bus.address, &["dlp"])).await);
    assert_eq!(o.code, 2, "{}", o.stderr);

    // The daemon fails the request: its core is gone, so tron cannot be applied.
    let core = FakeCore::start(sample::staf_snapshot());
    let mut handle = core.staf_handle();
    let (dead_tx, dead_rx) = tokio::sync::mpsc::channel(1);
    drop(dead_rx);
    handle.commands = dead_tx;
    let conn = bus_connection(&bus.address).await.unwrap();
    let _server = serve_staf_on(conn, handle).await.unwrap();
    let o = out(&run(stafctl(&bus.address, &["tron"])).await);
    assert_eq!(o.code, 70, "{}", o.stderr);
    assert!(
        o.stderr
            .starts_with("stafctl: stafd: org.nvmexpress.stas.Error.Unavailable: "),
        "{}",
        o.stderr
    );
}
