//! The stas-cdc binary on the host's loopback, driven by a scripted host: the I/O loop,
//! the records, SIGHUP (new log, AEN) and SIGUSR1 (drop). The Linux host stack against it
//! is tested in the real-kernel rig (tests/vm/scenarios/cdc-*.sh).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stas_cdc::fuzz::host;

struct Cdc {
    child: Child,
    port: u16,
}

impl Drop for Cdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn events(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default()
}

fn start(dir: &Path, log: &Path) -> Cdc {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_stas-cdc"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--dctype", "ddc"])
        .arg("--log")
        .arg(log)
        .arg("--state-dir")
        .arg(dir)
        .stderr(Stdio::null())
        .spawn()
        .expect("stas-cdc starts");
    wait_until("stas-cdc listens", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    Cdc { child, port }
}

fn signal(cdc: &Cdc, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &cdc.child.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill {sig}");
}

/// Reads one PDU (common header, then the rest of plen).
fn pdu(s: &mut TcpStream) -> Vec<u8> {
    let mut p = vec![0u8; 8];
    s.read_exact(&mut p).expect("a PDU header");
    let plen = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
    p.resize(usize::try_from(plen).unwrap(), 0);
    s.read_exact(&mut p[8..]).expect("the PDU");
    p
}

/// The status of a CapsuleResp.
fn status(p: &[u8]) -> u16 {
    assert_eq!(p[0], 0x05, "a CapsuleResp: {p:?}");
    u16::from_le_bytes([p[22], p[23]]) >> 1
}

const LOG: &str = r#"
[[entry]]
subtype = "current"
traddr = "127.0.0.1"
subnqn = "nqn.2014-08.org.nvmexpress.discovery"
eflags = ["epcsd"]
[[entry]]
traddr = "127.0.0.1"
trsvcid = "4420"
subnqn = "nqn.2024-01.io.example:one"
"#;

#[test]
fn a_scripted_host_connects_reads_registers_and_gets_an_aen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let log = tmp.path().join("log.toml");
    std::fs::write(&log, LOG).unwrap();
    let cdc = start(&dir, &log);
    let mut s = TcpStream::connect(("127.0.0.1", cdc.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();

    // ICReq, Connect, CC.EN: ICResp and two successful completions.
    s.write_all(&host::hello()).unwrap();
    assert_eq!(pdu(&mut s)[0], 0x01);
    assert_eq!(status(&pdu(&mut s)), 0, "Connect");
    assert_eq!(status(&pdu(&mut s)), 0, "Property Set CC");

    // Enable the notice, hold an AER, read the whole log (RAE clear: AENs unmasked).
    s.write_all(&host::capsule(&host::sqe(0x09, 3, &[0x0B, 1 << 31]), &[]))
        .unwrap();
    assert_eq!(status(&pdu(&mut s)), 0, "Set Features");
    s.write_all(&host::capsule(&host::sqe(0x0C, 4, &[]), &[]))
        .unwrap();
    let mut get = host::sqe(0x02, 5, &[0x01FF_0070]);
    host::sgl(&mut get, 2048, false);
    s.write_all(&host::capsule(&get, &[])).unwrap();
    let data = pdu(&mut s);
    assert_eq!(data[0], 0x07, "C2HData");
    let page = &data[24..];
    assert_eq!(page.len(), 2048);
    assert_eq!(
        u64::from_le_bytes(page[0..8].try_into().unwrap()),
        1,
        "genctr"
    );
    assert_eq!(
        u64::from_le_bytes(page[8..16].try_into().unwrap()),
        2,
        "numrec"
    );
    assert_eq!(status(&pdu(&mut s)), 0, "Get Log Page");

    // A DIM registration: recorded raw and decoded, and listed as a registration.
    let mut payload = vec![0u8; 1024];
    payload[0..4].copy_from_slice(&1024u32.to_le_bytes());
    payload[24..31].copy_from_slice(b"nqn.x:h");
    let mut dim = host::sqe(0x21, 6, &[0]);
    host::sgl(&mut dim, payload.len(), true);
    s.write_all(&host::capsule(&dim, &payload)).unwrap();
    assert_eq!(status(&pdu(&mut s)), 0, "DIM");
    wait_until("the DIM recorded", || {
        events(&dir).contains(r#""task":"register""#)
    });
    assert_eq!(std::fs::read(dir.join("dim/0001.bin")).unwrap(), payload);
    let regs = std::fs::read_to_string(dir.join("registrations.json")).unwrap();
    assert!(regs.contains(r#""address":"127.0.0.1""#), "{regs}");
    assert!(regs.contains(r#""hostnqn":"nqn.x:h""#), "{regs}");

    // A new log and SIGHUP: the held AER completes with the discovery-log-change notice.
    std::fs::write(&log, format!("{LOG}[[entry]]\ntraddr = \"127.0.0.2\"\n")).unwrap();
    signal(&cdc, "-HUP");
    let aen = pdu(&mut s);
    assert_eq!(status(&aen), 0);
    assert_eq!(
        u16::from_le_bytes([aen[20], aen[21]]),
        4,
        "the AER's command id"
    );
    assert_eq!(
        u32::from_le_bytes(aen[8..12].try_into().unwrap()),
        0x0070_F002
    );
    wait_until("the new generation recorded", || {
        events(&dir).contains(r#""entries":3,"event":"log","genctr":2"#)
    });

    // A log file with an error is refused; the log in use stays.
    std::fs::write(&log, "[[entry]]\nsubtype = \"bogus\"\n").unwrap();
    signal(&cdc, "-HUP");
    wait_until("the refusal recorded", || {
        events(&dir).contains("entry 1: subtype: unknown name")
    });

    // SIGUSR1 drops the connection.
    signal(&cdc, "-USR1");
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "closed");
    wait_until("the drop recorded", || {
        events(&dir).contains(r#""reason":"dropped on request""#)
    });
}
