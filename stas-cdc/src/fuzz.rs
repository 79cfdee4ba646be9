//! The body of the `cdc_session` fuzz target (fuzz/fuzz_targets/cdc_session.rs), also run
//! by the unit tests: arbitrary bytes from a host, fed to a [`Session`].
//!
//! Properties checked besides "never panics":
//! - every PDU the controller sends is well formed: a known controller-to-host type and
//!   `plen` equal to its length;
//! - nothing follows a `Close`;
//! - the outputs do not depend on how the bytes were cut into reads (framing).
//!
//! When the first byte is odd, the input is prefixed with a valid ICReq and Fabrics
//! Connect ([`host`]), so that the fuzzer spends its time on admin commands.

use std::sync::Arc;

#[cfg(test)]
use crate::session::Event;
use crate::session::{Catalog, Controller, DcType, Output, Session};

/// Host-side PDU builders (what the Linux host sends), for tests, fuzzing and seeds.
pub mod host {
    /// The well-known discovery NQN.
    pub const DISC_NQN: &str = "nqn.2014-08.org.nvmexpress.discovery";

    /// An ICReq without digests.
    #[must_use]
    pub fn icreq() -> Vec<u8> {
        let mut p = vec![0u8; 128];
        p[2] = 128;
        p[4..8].copy_from_slice(&128u32.to_le_bytes());
        p
    }

    /// A CapsuleCmd PDU (no digests) with this SQE and in-capsule data.
    #[must_use]
    pub fn capsule(sqe: &[u8; 64], data: &[u8]) -> Vec<u8> {
        let plen = u32::try_from(72 + data.len()).unwrap_or(u32::MAX);
        let mut p = vec![4u8, 0, 72, if data.is_empty() { 0 } else { 72 }];
        p.extend_from_slice(&plen.to_le_bytes());
        p.extend_from_slice(sqe);
        p.extend_from_slice(data);
        p
    }

    /// An SQE with opcode, command id and the dwords 10.. given.
    #[must_use]
    pub fn sqe(opcode: u8, cid: u16, cdw10_up: &[u32]) -> [u8; 64] {
        let mut s = [0u8; 64];
        s[0] = opcode;
        s[2..4].copy_from_slice(&cid.to_le_bytes());
        for (i, v) in cdw10_up.iter().enumerate().take(6) {
            s[40 + 4 * i..44 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        s
    }

    /// Sets the SGL of `sqe` for `len` bytes: in-capsule (host writes) or transport
    /// (host reads), as the Linux host does.
    pub fn sgl(sqe: &mut [u8; 64], len: usize, in_capsule: bool) {
        sqe[32..36].copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
        sqe[39] = if in_capsule { 0x01 } else { 0x5A };
    }

    /// A Fabrics Connect of the admin queue, with its 1024 bytes of data.
    #[must_use]
    pub fn connect(cid: u16, subnqn: &str, hostnqn: &str, kato_ms: u32) -> Vec<u8> {
        let mut s = sqe(0x7F, cid, &[]);
        s[4] = 0x01;
        s[44..46].copy_from_slice(&31u16.to_le_bytes());
        s[48..52].copy_from_slice(&kato_ms.to_le_bytes());
        sgl(&mut s, 1024, true);
        let mut d = vec![0u8; 1024];
        d[0..16].copy_from_slice(&[0x11; 16]);
        d[16..18].copy_from_slice(&0xFFFFu16.to_le_bytes());
        let n = subnqn.len().min(255);
        d[256..256 + n].copy_from_slice(&subnqn.as_bytes()[..n]);
        let n = hostnqn.len().min(255);
        d[512..512 + n].copy_from_slice(&hostnqn.as_bytes()[..n]);
        capsule(&s, &d)
    }

    /// ICReq, a Connect to the well-known discovery NQN and CC.EN = 1 (Property Set):
    /// the controller then takes admin commands.
    #[must_use]
    pub fn hello() -> Vec<u8> {
        let mut b = icreq();
        b.extend(connect(
            1,
            DISC_NQN,
            "nqn.2014-08.org.nvmexpress:uuid:fuzz",
            0,
        ));
        let mut cc = sqe(0x7F, 2, &[0, 0x14, 0x0046_0001, 0]);
        cc[4] = 0x00;
        b.extend(capsule(&cc, &[]));
        b
    }
}

struct FixedLog;

impl Catalog for FixedLog {
    fn discovery_log(&self, lsp: u8) -> Vec<u8> {
        let mut page = vec![0u8; 2048];
        page[0] = 1;
        page[8] = 1;
        page[1024] = 3;
        page[1026] = 2 + (lsp & 1);
        page
    }
}

fn controller() -> Arc<Controller> {
    Arc::new(Controller {
        nqn: "nqn.2024-01.io.example.stas:cdc".into(),
        dctype: DcType::Cdc,
        serial: "fuzz".into(),
        model: "stas-cdc".into(),
        firmware: "0".into(),
        pleo: true,
        dim: true,
    })
}

/// Feeds `input` in the reads `cuts` describes, with a log change after each read when
/// `changes`; returns every output up to the first `Close`.
fn run(input: &[u8], cuts: &[u8], changes: bool) -> Vec<Output> {
    let mut s = Session::new(controller(), 1);
    let mut out = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let n = cuts
            .get(i % cuts.len().max(1))
            .map_or(rest.len(), |&c| usize::from(c).max(1) * 8)
            .min(rest.len());
        i += 1;
        out.extend(s.receive(&rest[..n], &FixedLog));
        if changes {
            out.extend(s.log_changed());
        }
        rest = &rest[n..];
        if out.iter().any(|o| matches!(o, Output::Close { .. })) {
            let after = s.receive(rest, &FixedLog);
            assert!(
                after.iter().all(|o| !matches!(o, Output::Send(_))),
                "bytes sent after Close"
            );
            break;
        }
    }
    if let Some(p) = out.iter().position(|o| matches!(o, Output::Close { .. })) {
        out.truncate(p + 1);
    }
    out
}

/// A fuzz input split into its parts: the read sizes, the bytes (with the generated prefix
/// when the mode byte says so), and whether to interleave log changes.
fn parts(data: &[u8]) -> Option<(&[u8], Vec<u8>, bool)> {
    let (&mode, rest) = data.split_first()?;
    let cut_len = usize::from(mode >> 4).min(rest.len());
    let (cuts, body) = rest.split_at(cut_len);
    let mut input = if mode & 1 == 1 {
        host::hello()
    } else {
        Vec::new()
    };
    input.extend_from_slice(body);
    Some((cuts, input, mode & 2 == 2))
}

/// What the session answers to a fuzz input (read as a whole): for the seeds' checks.
#[must_use]
pub fn replay(data: &[u8]) -> Vec<Output> {
    parts(data).map_or_else(Vec::new, |(_, input, _)| run(&input, &[], false))
}

/// The fuzz body.
pub fn session(data: &[u8]) {
    let Some((cuts, input, changes)) = parts(data) else {
        return;
    };
    let whole = run(&input, &[], false);
    for o in &whole {
        if let Output::Send(p) = o {
            assert!(p.len() >= 8, "short PDU");
            assert!(
                matches!(p[0], 0x01 | 0x03 | 0x05 | 0x07),
                "PDU type {}",
                p[0]
            );
            let plen = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
            assert_eq!(usize::try_from(plen).ok(), Some(p.len()), "plen");
        }
    }
    if !cuts.is_empty() {
        assert_eq!(
            run(&input, cuts, false),
            whole,
            "outputs depend on the reads"
        );
    }
    if changes {
        let _ = run(&input, cuts, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_builders_make_commands_the_session_takes() {
        let mut b = host::hello();
        let mut identify = host::sqe(0x06, 2, &[1]);
        host::sgl(&mut identify, 4096, false);
        b.extend(host::capsule(&identify, &[]));
        let mut dim = host::sqe(0x21, 3, &[0]);
        host::sgl(&mut dim, 8, true);
        b.extend(host::capsule(&dim, b"12345678"));
        let out = run(&b, &[], false);
        let events: Vec<&Event> = (out.iter())
            .filter_map(|o| match o {
                Output::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        assert!(
            matches!(
                events[..],
                [
                    Event::IcReq { .. },
                    Event::Connect { accepted: true, .. },
                    Event::PropertySet { offset: 0x14, .. },
                    Event::Identify { cns: 1 },
                    Event::Dim { tas: 0, .. }
                ]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn seeds_and_noise_hold_the_properties() {
        session(&[]);
        let mut b = vec![0x31, 3, 1, 9];
        b.extend(host::hello());
        session(&b);
        let mut s = host::sqe(0x02, 2, &[0x00FF_0070]);
        host::sgl(&mut s, 1024, false);
        let mut b = vec![0x23, 1, 2];
        b.extend(host::capsule(&s, &[]));
        b.extend(host::capsule(&host::sqe(0x0C, 3, &[]), &[]));
        session(&b);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in [1usize, 8, 72, 200, 1500] {
            for _ in 0..50 {
                let v: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x.to_le_bytes()[0]
                    })
                    .collect();
                session(&v);
            }
        }
    }
}
