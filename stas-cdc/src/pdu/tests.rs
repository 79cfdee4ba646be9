use super::*;

#[test]
fn crc32c_check_value() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
    // RFC 3720 B.4: 32 bytes of zeros, of ones.
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
}

#[test]
fn ic_resp_layout() {
    let p = ic_resp(true, false);
    assert_eq!(p.len(), 128);
    assert_eq!(&p[..4], &[TYPE_IC_RESP, 0, 128, 0]);
    assert_eq!(le32(&p, 4), 128);
    assert_eq!(le16(&p, 8), 0, "pfv");
    assert_eq!(p[10], 0, "cpda");
    assert_eq!(p[11], 0x01, "digest: header only");
    assert_eq!(le32(&p, 12), MAXH2CDATA);
    assert_eq!(ic_resp(true, true)[11], 0x03);
}

#[test]
fn c2h_term_req_carries_at_most_128_header_bytes() {
    let p = c2h_term_req(FES_INVALID_HEADER, 2, &[0xAB; 8]);
    assert_eq!(&p[..4], &[TYPE_C2H_TERM, 0, 24, 0]);
    assert_eq!(le32(&p, 4), 32);
    assert_eq!(le16(&p, 8), 1);
    assert_eq!(le32(&p, 10), 2);
    assert_eq!(&p[24..], &[0xAB; 8]);
    let long = c2h_term_req(FES_HEADER_DIGEST, 0, &[1; 200]);
    assert_eq!((long.len(), le32(&long, 4)), (152, 152));
}

#[test]
fn capsule_resp_with_header_digest() {
    let link = Link {
        hdgst: true,
        ..Link::default()
    };
    let cqe = Cqe {
        result: 0x1_0000_0007,
        sqhd: 3,
        sqid: 0,
        cid: 0x1234,
        status: 0x4002,
    };
    let p = link.capsule_resp(&cqe);
    assert_eq!(p.len(), 28);
    assert_eq!(&p[..4], &[TYPE_RSP, FLAG_HDGST, 24, 0]);
    assert_eq!(le32(&p, 4), 28);
    assert_eq!(le32(&p, 24), crc32c(&p[..24]));
    assert_eq!(le64(&p, 8), 0x1_0000_0007);
    assert_eq!((le16(&p, 16), le16(&p, 18), le16(&p, 20)), (3, 0, 0x1234));
    assert_eq!(le16(&p, 22), 0x8004, "status shifted over the phase bit");
}

#[test]
fn c2h_data_pads_to_the_host_alignment() {
    let data = [7u8; 10];
    let plain = Link::default().c2h_data(5, &data);
    assert_eq!(&plain[..4], &[TYPE_C2H_DATA, FLAG_DATA_LAST, 24, 24]);
    assert_eq!(le32(&plain, 4), 34);
    assert_eq!((le16(&plain, 8), le16(&plain, 10)), (5, 0));
    assert_eq!((le32(&plain, 12), le32(&plain, 16)), (0, 10));
    assert_eq!(&plain[24..], &data);

    let link = Link {
        hdgst: true,
        ddgst: true,
        hpda: 1, // 8-byte alignment: 24 + 4 → 32
    };
    let p = link.c2h_data(5, &data);
    assert_eq!(p[1], FLAG_DATA_LAST | FLAG_HDGST | FLAG_DDGST);
    assert_eq!(p[3], 32);
    assert_eq!(le32(&p, 4), 32 + 10 + 4);
    assert_eq!(le32(&p, 24), crc32c(&p[..24]));
    assert_eq!(&p[28..32], &[0; 4], "padding");
    assert_eq!(&p[32..42], &data);
    assert_eq!(le32(&p, 42), crc32c(&data));
}

fn capsule(link: Link, data: &[u8], pdo: u8) -> Vec<u8> {
    let hd = if link.hdgst { 4 } else { 0 };
    let dd = if link.ddgst && !data.is_empty() { 4 } else { 0 };
    let mut p = vec![0u8; 72];
    p[0] = TYPE_CMD;
    p[1] = u8::from(link.hdgst) | if dd > 0 { FLAG_DDGST } else { 0 };
    p[2] = 72;
    p[3] = pdo;
    p[8] = 0x06;
    if link.hdgst {
        let d = crc32c(&p[..72]);
        p.extend_from_slice(&d.to_le_bytes());
    }
    p.resize(usize::from(pdo).max(72 + hd), 0);
    p.extend_from_slice(data);
    if dd > 0 {
        p.extend_from_slice(&crc32c(data).to_le_bytes());
    }
    let plen = u32::try_from(p.len()).unwrap();
    p[4..8].copy_from_slice(&plen.to_le_bytes());
    if link.hdgst {
        let d = crc32c(&p[..72]);
        p[72..76].copy_from_slice(&d.to_le_bytes());
    }
    p
}

#[test]
fn reader_waits_for_whole_pdus() {
    let mut r = Reader::new();
    let link = Link {
        hdgst: true,
        ddgst: true,
        hpda: 0,
    };
    let bytes = capsule(link, b"payload!", 76);
    for &b in &bytes[..bytes.len() - 1] {
        r.push(&[b]);
        assert_eq!(r.next(Some(link)), Ok(None));
    }
    r.push(&bytes[bytes.len() - 1..]);
    let Ok(Some(HostPdu::Command(c))) = r.next(Some(link)) else {
        panic!("no capsule");
    };
    assert_eq!(c.sqe.opcode(), 0x06);
    assert_eq!(c.data, b"payload!");
    assert!(c.data_digest_ok);
    assert_eq!(r.pending(), 0);
}

#[test]
fn reader_skips_padding_before_pdo() {
    let mut r = Reader::new();
    let link = Link::default();
    r.push(&capsule(link, b"abcd", 80));
    let Ok(Some(HostPdu::Command(c))) = r.next(Some(link)) else {
        panic!("no capsule");
    };
    assert_eq!(c.data, b"abcd");
}

#[test]
fn reader_flags_a_data_digest_mismatch() {
    let mut r = Reader::new();
    let link = Link {
        ddgst: true,
        ..Link::default()
    };
    let mut bytes = capsule(link, b"abcd", 72);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    r.push(&bytes);
    let Ok(Some(HostPdu::Command(c))) = r.next(Some(link)) else {
        panic!("no capsule");
    };
    assert!(!c.data_digest_ok);
}

#[test]
fn reader_reports_the_offending_header() {
    let mut r = Reader::new();
    let mut bytes = capsule(Link::default(), &[], 0);
    bytes[2] = 70;
    r.push(&bytes);
    let Err(RxError::Fatal {
        fes, fei, header, ..
    }) = r.next(Some(Link::default()))
    else {
        panic!("accepted");
    };
    assert_eq!((fes, fei), (FES_INVALID_HEADER, 2));
    // Found in the common header: the report carries those 8 bytes, however much arrived.
    assert_eq!(header, bytes[..8]);
}
