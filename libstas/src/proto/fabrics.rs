//! Text exchanged with `/dev/nvme-fabrics` (sans-IO): the options-query reply, the connect
//! reply `instance=N,cntlid=M`, and a tokenizer for option strings (used by the fake kernel
//! and by tests to check what would be written).

use std::collections::BTreeSet;

use thiserror::Error;

/// Errors parsing a connect reply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplyError {
    /// No usable `instance=` token.
    #[error("connect reply has no controller instance: {0:?}")]
    NoInstance(String),
}

/// Parses the reply of a read-before-write on `/dev/nvme-fabrics` (5.17+) into the set of
/// option names the kernel accepts.
///
/// Splits on `,` and `\n`, drops empty items, cuts each at the first `=` or space, drops the
/// `instance`/`cntlid` sentinel, and keeps only names made of `[a-z0-9_]`. Returns `None`
/// when nothing usable is left (empty or garbage reply).
#[must_use]
pub fn parse_options_reply(reply: &str) -> Option<BTreeSet<String>> {
    let names: BTreeSet<String> = reply
        .split([',', '\n'])
        .filter_map(|tok| tok.split(['=', ' ']).next())
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != "instance" && *n != "cntlid")
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_owned)
        .collect();
    (!names.is_empty()).then_some(names)
}

/// The reply to a successful connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectReply {
    /// Controller instance: the device is `nvme<instance>`.
    pub instance: u32,
    /// Controller id assigned by the target, if reported.
    pub cntlid: Option<u16>,
}

impl ConnectReply {
    /// The controller device name.
    #[must_use]
    pub fn device(&self) -> String {
        format!("nvme{}", self.instance)
    }
}

/// Parses `instance=N,cntlid=M\n`.
///
/// # Errors
/// [`ReplyError::NoInstance`] when there is no non-negative `instance=`.
pub fn parse_connect_reply(reply: &str) -> Result<ConnectReply, ReplyError> {
    let mut instance = None;
    let mut cntlid = None;
    for tok in reply.split([',', '\n']) {
        if let Some(v) = tok.trim().strip_prefix("instance=") {
            instance = v.parse::<u32>().ok();
        } else if let Some(v) = tok.trim().strip_prefix("cntlid=") {
            cntlid = v.parse::<u16>().ok();
        }
    }
    let shown: String = reply.chars().take(64).collect();
    instance
        .map(|instance| ConnectReply { instance, cntlid })
        .ok_or(ReplyError::NoInstance(shown))
}

/// Splits an option string into `(name, value)` tokens as the kernel does (`,`/`\n`
/// separated, empty tokens skipped, value after the first `=`; `None` for a bare flag).
#[must_use]
pub fn tokenize_options(s: &str) -> Vec<(String, Option<String>)> {
    s.split([',', '\n'])
        .filter(|t| !t.is_empty())
        .map(|t| match t.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (t.to_owned(), None),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL_6_1: &str = "instance=-1,cntlid=-1,transport=%s,traddr=%s,trsvcid=%s,nqn=%s,queue_size=%d,nr_io_queues=%d,reconnect_delay=%d,ctrl_loss_tmo=%d,keep_alive_tmo=%d,hostnqn=%s,host_traddr=%s,host_iface=%s,hostid=%s,duplicate_connect,disable_sqflow,hdr_digest,data_digest,nr_write_queues=%d,nr_poll_queues=%d,tos=%d,fast_io_fail_tmo=%d,discovery,dhchap_secret=%s,dhchap_ctrl_secret=%s\n";

    #[test]
    fn options_of_the_6_1_guest() {
        let set = parse_options_reply(KERNEL_6_1).unwrap();
        assert_eq!(set.len(), 24);
        for name in [
            "transport",
            "host_iface",
            "discovery",
            "dhchap_ctrl_secret",
            "fast_io_fail_tmo",
        ] {
            assert!(set.contains(name), "{name}");
        }
        assert!(!set.contains("instance") && !set.contains("cntlid") && !set.contains("tls"));
    }

    #[test]
    fn nvme_stas_test_strings() {
        let set =
            parse_options_reply("host_iface=%s,discovery,dhchap_secret=%s,dhchap_ctrl_secret=%s")
                .unwrap();
        let expect: BTreeSet<String> = [
            "discovery",
            "host_iface",
            "dhchap_secret",
            "dhchap_ctrl_secret",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(set, expect);
        assert_eq!(parse_options_reply(""), None);
        assert_eq!(parse_options_reply("instance=-1,cntlid=-1\n"), None);
        assert_eq!(parse_options_reply("\u{1}\u{2}GARBAGE!!"), None);
    }

    #[test]
    fn connect_reply() {
        assert_eq!(
            parse_connect_reply("instance=0,cntlid=1\n"),
            Ok(ConnectReply {
                instance: 0,
                cntlid: Some(1)
            })
        );
        assert_eq!(
            parse_connect_reply("instance=17\n").unwrap().device(),
            "nvme17"
        );
        assert!(parse_connect_reply("instance=-1,cntlid=-1,transport=%s").is_err());
        assert!(parse_connect_reply("").is_err());
    }

    #[test]
    fn tokenizer() {
        assert_eq!(
            tokenize_options("nqn=a=b,,discovery\ntransport=tcp"),
            vec![
                ("nqn".to_owned(), Some("a=b".to_owned())),
                ("discovery".to_owned(), None),
                ("transport".to_owned(), Some("tcp".to_owned())),
            ]
        );
    }
}
