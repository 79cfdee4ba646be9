//! Bodies of the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs` call these), kept in the
//! library so that the same properties also run under proptest in `cargo test` on a stable
//! toolchain. Each function must never panic for any input; the assertions inside are the
//! properties the fuzzer checks beyond "no panic".

use super::address::CtrlAddress;
use super::dlp::{self, parse_log};
use super::fabrics::{parse_connect_reply, parse_options_reply, tokenize_options};
use super::uevent::Uevent;
use super::validate::check_value;

/// Discovery log page: parse; every accepted entry survives an encode/parse round trip and
/// has no string that could break an option string.
pub fn dlp(data: &[u8]) {
    // Structure-aware half: the input (zero padded) as one entry, so that short inputs
    // reach the entry validation.
    let mut entry = data.get(..dlp::ENTRY_LEN).unwrap_or(data).to_vec();
    entry.resize(dlp::ENTRY_LEN, 0);
    if let Ok(Some(e)) = dlp::parse_entry(&entry) {
        check_value(&e.traddr, 255).expect("accepted traddr must be valid");
        check_value(&e.subnqn, 223).expect("accepted subnqn must be valid");
        let again = dlp::parse_entry(&e.encode()).expect("round trip");
        assert_eq!(again.as_ref(), Some(&e));
    }
    let Ok(log) = parse_log(data, 64) else {
        return;
    };
    let accounted = u64::try_from(log.entries.len() + log.rejected.len()).unwrap_or(u64::MAX)
        + log.placeholders;
    assert_eq!(accounted, log.header.numrec);
    for e in &log.entries {
        let d = e.to_stas_dict();
        assert!(d.contains_key("traddr"));
        check_value(&e.traddr, 255).expect("accepted traddr must be valid");
        check_value(&e.subnqn, 223).expect("accepted subnqn must be valid");
        assert!(!e.trsvcid.contains(','));
        let again = dlp::parse_entry(&e.encode()).expect("round trip");
        assert_eq!(again.as_ref(), Some(e));
    }
}

/// `/dev/nvme-fabrics` replies: options query, connect reply and the option tokenizer.
pub fn fabrics_reply(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if let Some(set) = parse_options_reply(&s) {
        assert!(set.iter().all(|n| !n.is_empty() && !n.contains(',')));
    }
    if let Ok(r) = parse_connect_reply(&s) {
        assert!(r.device().starts_with("nvme"));
    }
    for (k, v) in tokenize_options(&s) {
        assert!(!k.contains(','));
        assert!(v.is_none_or(|v| !v.contains(',')));
    }
}

/// Kernel uevent datagram.
pub fn uevent(data: &[u8]) {
    if let Ok(u) = Uevent::parse_datagram(data) {
        if let Some(e) = u.nvme_event() {
            assert_eq!(e.device, format!("nvme{}", e.instance));
        }
    }
}

/// sysfs `address` attribute.
pub fn address(data: &[u8]) {
    let a = CtrlAddress::parse(&String::from_utf8_lossy(data));
    for v in [
        &a.traddr,
        &a.trsvcid,
        &a.host_traddr,
        &a.host_iface,
        &a.src_addr,
    ]
    .into_iter()
    .flatten()
    {
        assert!(!v.is_empty() && !v.contains(','));
    }
}

/// DIM payload decoder.
pub fn dim(data: &[u8]) {
    let _ = super::dim::decode_dim(data);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{any, prop, proptest, ProptestConfig};

    use super::super::dlp::{encode_log, LogEntry, Tsas};

    fn page_strategy() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::strategy::Strategy;
        // Mostly well-formed pages with random bytes patched in, so the fuzzer-like test
        // reaches the entry validation and not only the length checks.
        (
            prop::collection::vec(any::<u8>(), 0..3),
            prop::collection::vec((any::<u16>(), any::<u8>()), 0..64),
            any::<u64>(),
        )
            .prop_map(|(n, patches, genctr)| {
                let e = LogEntry {
                    trtype: 3,
                    adrfam: 1,
                    subtype: 2,
                    treq: 0,
                    portid: 1,
                    cntlid: 1,
                    asqsz: 32,
                    eflags: 0,
                    trsvcid: "4420".into(),
                    subnqn: "nqn.x".into(),
                    traddr: "10.0.0.1".into(),
                    tsas: Tsas::Tcp { sectype: 0 },
                };
                let count = n.len();
                let mut page = encode_log(genctr, &vec![e; count]);
                for (off, byte) in patches {
                    let i = usize::from(off) % page.len();
                    if i >= 16 {
                        page[i] = byte;
                    }
                }
                page
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn dlp_never_panics(data in prop::collection::vec(any::<u8>(), 0..3000)) {
            super::dlp(&data);
        }

        #[test]
        fn dlp_patched_pages(page in page_strategy()) {
            super::dlp(&page);
        }

        #[test]
        fn fabrics_reply_never_panics(data in prop::collection::vec(any::<u8>(), 0..300)) {
            super::fabrics_reply(&data);
        }

        #[test]
        fn fabrics_reply_text(s in "[a-z_=%,\\n0-9-]{0,200}") {
            super::fabrics_reply(s.as_bytes());
        }

        #[test]
        fn uevent_never_panics(data in prop::collection::vec(any::<u8>(), 0..400)) {
            super::uevent(&data);
        }

        #[test]
        fn uevent_text(s in "(add|change|remove)@/devices/[a-z/]{0,20}nvme[0-9]{0,3}(\\x00[A-Z_]{1,10}=[a-z0-9x]{0,8}){0,6}") {
            super::uevent(s.as_bytes());
        }

        #[test]
        fn address_never_panics(s in ".{0,200}") {
            super::address(s.as_bytes());
        }

        #[test]
        fn dim_never_panics(data in prop::collection::vec(any::<u8>(), 0..2200)) {
            super::dim(&data);
        }
    }
}

/// NBFT: parse the input as it is, and again with its signature, length and checksum fixed
/// up (so that mutations reach the descriptors); an accepted table has no NUL in any string,
/// and the table rebuilt from what the parser kept parses back to the same content with no
/// problem.
pub fn nbft(data: &[u8]) {
    use super::nbft::build::{fix_checksum, TableSpec};
    use super::nbft::parse;
    let check = |bytes: &[u8]| {
        let Ok(parsed) = parse("NBFT", bytes) else {
            return;
        };
        assert!(parsed.table.strings().iter().all(|s| !s.contains('\0')));
        let rebuilt = TableSpec::from_table(&parsed.table).build();
        let again = parse("NBFT", &rebuilt).expect("a rebuilt table parses");
        assert_eq!(again.problems, vec![]);
        assert_eq!(again.table, parsed.table);
    };
    check(data);
    if data.len() >= 10 {
        let mut fixed = data.to_vec();
        fixed[..4].copy_from_slice(b"NBFT");
        let len = u32::try_from(fixed.len()).unwrap_or(u32::MAX);
        fixed[4..8].copy_from_slice(&len.to_le_bytes());
        fix_checksum(&mut fixed);
        check(&fixed);
    }
}

#[cfg(test)]
mod nbft_tests {
    use proptest::prelude::{any, prop, proptest, ProptestConfig};

    use super::super::nbft::build::samples;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn nbft_never_panics(data in prop::collection::vec(any::<u8>(), 0..1200)) {
            super::nbft(&data);
        }

        #[test]
        fn nbft_patched_samples(
            which in 0..4usize,
            patches in prop::collection::vec((any::<u16>(), any::<u8>()), 0..24),
        ) {
            // Well-formed tables with random bytes patched in (the fuzz body fixes the
            // checksum), so that the descriptor and heap checks are reached.
            let mut t = samples()[which].1.build();
            for (off, byte) in patches {
                let i = usize::from(off) % t.len();
                t[i] = byte;
            }
            super::nbft(&t);
        }
    }
}
