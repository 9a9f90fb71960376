//! TCP segment parsing, options and emission, against captured and built segments.

use super::*;
use proptest::prelude::*;

// Captured from Linux 6.18 over loopback (127.0.0.1:51042 -> 127.0.0.1:47011, both
// ends with TCP_MAXSEG 1460): the handshake's SYN and SYN-ACK, a 14-byte data
// segment with PSH, and the FIN. Loopback leaves checksums partial, so they were
// recomputed independently (Python, RFC 1071 over pseudo-header + segment).
const LINUX_SYN: [u8; 40] = [
    0xc7, 0x62, 0xb7, 0xa3, 0x31, 0x2c, 0x2e, 0x1f, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
    0xf0, 0xbb, 0x4c, 0x00, 0x00, //
    0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x2e, 0x45, 0x87, 0x26, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x03, 0x03, 0x0a,
];
const LINUX_SYN_ACK: [u8; 40] = [
    0xb7, 0xa3, 0xc7, 0x62, 0x7a, 0x2c, 0x9e, 0x17, 0x31, 0x2c, 0x2e, 0x20, 0xa0, 0x12, 0xfe,
    0x88, 0xd5, 0x79, 0x00, 0x00, //
    0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x8a, 0x62, 0x3f, 0x83, 0x2e, 0x45, 0x87,
    0x26, 0x01, 0x03, 0x03, 0x0a,
];
const LINUX_DATA: [u8; 46] = [
    0xc7, 0x62, 0xb7, 0xa3, 0x31, 0x2c, 0x2e, 0x20, 0x7a, 0x2c, 0x9e, 0x18, 0x80, 0x18, 0x00,
    0x3f, 0x50, 0x2e, 0x00, 0x00, //
    0x01, 0x01, 0x08, 0x0a, 0x2e, 0x45, 0x87, 0x26, 0x8a, 0x62, 0x3f, 0x83, //
    b'h', b'e', b'l', b'l', b'o', b',', b' ', b'b', b'y', b'p', b'a', b's', b's', b'\n',
];
const LINUX_FIN: [u8; 32] = [
    0xc7, 0x62, 0xb7, 0xa3, 0x31, 0x2c, 0x2e, 0x2e, 0x7a, 0x2c, 0x9e, 0x18, 0x80, 0x11, 0x00,
    0x3f, 0x00, 0xf4, 0x00, 0x00, //
    0x01, 0x01, 0x08, 0x0a, 0x2e, 0x45, 0x88, 0xb6, 0x8a, 0x62, 0x3f, 0x83,
];

const LO: PseudoHeader = PseudoHeader::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
const CLIENT: u16 = 51042;
const SERVER: u16 = 47011;

fn syn_options(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(10),
        sack_permitted: true,
        timestamps: Some((tsval, tsecr)),
        ..TcpOptions::default()
    }
}

fn ts_options(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        timestamps: Some((tsval, tsecr)),
        ..TcpOptions::default()
    }
}

/// Emits `repr` into a fresh buffer (pre-filled with junk) and returns it.
fn emit(repr: &TcpRepr, pseudo: &PseudoHeader) -> Vec<u8> {
    let mut buf = vec![0xa5u8; repr.buffer_len()];
    repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), pseudo);
    buf
}

fn parse<'a>(bytes: &'a [u8], pseudo: &PseudoHeader) -> Result<TcpRepr<'a>> {
    TcpRepr::parse(&TcpPacket::new_checked(bytes)?, pseudo, true)
}

#[test]
fn linux_syn() {
    let p = TcpPacket::new_checked(&LINUX_SYN[..]).unwrap();
    assert_eq!(p.src_port(), CLIENT);
    assert_eq!(p.dst_port(), SERVER);
    assert_eq!(p.seq_number(), SeqNumber(0x312c_2e1f));
    assert_eq!(p.ack_number(), SeqNumber(0));
    assert_eq!(p.header_len(), 40);
    assert_eq!(p.flags(), TcpFlags::SYN);
    assert_eq!(p.window_len(), 64240);
    assert_eq!(p.checksum(), 0xbb4c);
    assert_eq!(p.urgent_at(), 0);
    assert_eq!(p.options(), &LINUX_SYN[20..]);
    assert!(p.payload().is_empty());
    assert!(p.verify_checksum(&LO));
    let options: Vec<_> = p.options_iter().map(|o| o.unwrap()).collect();
    assert_eq!(
        options,
        [
            TcpOption::MaxSegmentSize(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps {
                tsval: 0x2e45_8726,
                tsecr: 0
            },
            TcpOption::NoOperation,
            TcpOption::WindowScale(10),
        ]
    );
    let repr = TcpRepr::parse(&p, &LO, true).unwrap();
    let expect = TcpRepr {
        src_port: CLIENT,
        dst_port: SERVER,
        seq: SeqNumber(0x312c_2e1f),
        ack: SeqNumber(0),
        flags: TcpFlags::SYN,
        window: 64240,
        urgent: 0,
        options: syn_options(0x2e45_8726, 0),
        payload: &[],
    };
    assert_eq!(repr, expect);
    assert_eq!(repr.header_len(), 40);
    assert_eq!(repr.segment_len(), 1);
    assert_eq!(emit(&expect, &LO), LINUX_SYN);
}

#[test]
fn linux_syn_ack() {
    let p = TcpPacket::new_checked(&LINUX_SYN_ACK[..]).unwrap();
    assert_eq!(p.flags(), TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(p.flags().to_string(), "SA");
    assert_eq!(p.checksum(), 0xd579);
    let expect = TcpRepr {
        src_port: SERVER,
        dst_port: CLIENT,
        seq: SeqNumber(0x7a2c_9e17),
        ack: SeqNumber(0x312c_2e20),
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window: 65160,
        urgent: 0,
        options: syn_options(0x8a62_3f83, 0x2e45_8726),
        payload: &[],
    };
    assert_eq!(TcpRepr::parse(&p, &LO, true).unwrap(), expect);
    assert_eq!(emit(&expect, &LO), LINUX_SYN_ACK);
}

#[test]
fn linux_data_with_psh() {
    let p = TcpPacket::new_checked(&LINUX_DATA[..]).unwrap();
    assert_eq!(p.header_len(), 32);
    assert_eq!(p.flags().to_string(), "PA");
    assert_eq!(p.window_len(), 63);
    assert_eq!(p.payload(), b"hello, bypass\n");
    assert_eq!(p.into_payload(), b"hello, bypass\n");
    let expect = TcpRepr {
        src_port: CLIENT,
        dst_port: SERVER,
        seq: SeqNumber(0x312c_2e20),
        ack: SeqNumber(0x7a2c_9e18),
        flags: TcpFlags::PSH | TcpFlags::ACK,
        window: 63,
        urgent: 0,
        options: ts_options(0x2e45_8726, 0x8a62_3f83),
        payload: b"hello, bypass\n",
    };
    let repr = TcpRepr::parse(&p, &LO, true).unwrap();
    assert_eq!(repr, expect);
    assert_eq!(repr.segment_len(), 14);
    assert_eq!(repr.buffer_len(), 46);
    assert_eq!(emit(&expect, &LO), LINUX_DATA);
}

#[test]
fn linux_fin() {
    let repr = parse(&LINUX_FIN, &LO).unwrap();
    assert_eq!(repr.flags, TcpFlags::FIN | TcpFlags::ACK);
    assert_eq!(repr.flags.to_string(), "FA");
    assert_eq!(repr.seq, SeqNumber(0x312c_2e2e));
    assert_eq!(repr.options, ts_options(0x2e45_88b6, 0x8a62_3f83));
    assert_eq!(repr.segment_len(), 1);
    assert_eq!(emit(&repr, &LO), LINUX_FIN);
}

#[test]
fn emit_header_then_payload() {
    let repr = parse(&LINUX_DATA, &LO).unwrap();
    let header_only = TcpRepr {
        payload: &[],
        ..repr
    };
    assert_eq!(header_only.header_len(), 32);
    let mut buf = vec![0xffu8; header_only.header_len() + 14];
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    header_only.emit_header(&mut p);
    assert_eq!(p.checksum(), 0);
    p.payload_mut().copy_from_slice(b"hello, bypass\n");
    p.fill_checksum(&LO);
    assert_eq!(buf, LINUX_DATA);
}

#[test]
fn setters() {
    let mut buf = LINUX_DATA;
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    p.set_src_port(1);
    p.set_dst_port(2);
    p.set_seq_number(SeqNumber(3));
    p.set_ack_number(SeqNumber(4));
    p.set_flags(TcpFlags::URG | TcpFlags::ECE | TcpFlags::CWR);
    p.set_window_len(5);
    p.set_urgent_at(6);
    p.options_mut()[0] = kind::EOL;
    p.fill_checksum(&LO);
    assert!(p.verify_checksum(&LO));
    let p = TcpPacket::new_checked(&buf[..]).unwrap();
    assert_eq!(
        (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number()),
        (1, 2, SeqNumber(3), SeqNumber(4))
    );
    assert_eq!(p.flags().to_string(), "UEC");
    assert_eq!((p.window_len(), p.urgent_at()), (5, 6));
    assert_eq!(p.header_len(), 32);
    // EOL first: the timestamps behind it are padding now.
    assert_eq!(
        TcpRepr::parse(&p, &LO, true).unwrap().options,
        TcpOptions::default()
    );
}

#[test]
fn option_layouts() {
    let e = |o: TcpOptions| {
        let mut buf = [0xeeu8; 40];
        let n = o.emit(&mut buf);
        assert_eq!(n, o.buffer_len());
        assert_eq!(n % 4, 0);
        buf[..n].to_vec()
    };
    assert!(e(TcpOptions::default()).is_empty());
    let sp = TcpOptions {
        sack_permitted: true,
        ..TcpOptions::default()
    };
    assert_eq!(e(sp), [1, 1, 4, 2]);
    let ws = TcpOptions {
        window_scale: Some(7),
        ..TcpOptions::default()
    };
    assert_eq!(e(ws), [1, 3, 3, 7]);
    let mss_sp_ws = TcpOptions {
        mss: Some(536),
        ..TcpOptions {
            window_scale: Some(0),
            ..sp
        }
    };
    assert_eq!(e(mss_sp_ws), [2, 4, 2, 24, 1, 1, 4, 2, 1, 3, 3, 0]);

    // Timestamps and three SACK blocks: the full 40 bytes.
    let mut o = ts_options(0x0102_0304, 0x0506_0708);
    o.set_sack_blocks(&[
        (SeqNumber(0x1000), SeqNumber(0x2000)),
        (SeqNumber(0x3000), SeqNumber(0x4000)),
        (SeqNumber(0xffff_f000), SeqNumber(0x10)),
    ]);
    #[rustfmt::skip]
    let golden = [
        1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8,
        1, 1, 5, 26,
        0, 0, 0x10, 0, 0, 0, 0x20, 0,
        0, 0, 0x30, 0, 0, 0, 0x40, 0,
        0xff, 0xff, 0xf0, 0, 0, 0, 0, 0x10,
    ];
    assert_eq!(e(o), golden);
    assert_eq!(TcpOptions::parse(&golden).unwrap(), o);

    // Four blocks without timestamps: 36 bytes.
    let mut o = TcpOptions::default();
    let blocks: Vec<_> = (0..4u32)
        .map(|i| (SeqNumber(i * 100), SeqNumber(i * 100 + 50)))
        .collect();
    o.set_sack_blocks(&blocks);
    assert_eq!(o.buffer_len(), 36);
    assert_eq!(&e(o)[..4], [1, 1, 5, 34]);
    assert_eq!(TcpOptions::parse(&e(o)).unwrap(), o);

    // Everything plus four blocks: only two fit, 40 bytes.
    let mut all = syn_options(1, 2);
    all.set_sack_blocks(&blocks);
    assert_eq!(all.buffer_len(), 40);
    let bytes = e(all);
    assert_eq!(&bytes[20..24], [1, 1, 5, 18]);
    let mut expect = all;
    expect.set_sack_blocks(&blocks[..2]);
    assert_eq!(TcpOptions::parse(&bytes).unwrap(), expect);
    // Timestamps and four blocks: three fit.
    let mut o = ts_options(1, 2);
    o.set_sack_blocks(&blocks);
    assert_eq!(o.buffer_len(), 40);
    assert_eq!(
        TcpOptions::parse(&e(o)).unwrap().sack_blocks(),
        &blocks[..3]
    );

    // A corrupt sack_len is capped at four blocks.
    let mut o = TcpOptions::default();
    o.set_sack_blocks(&blocks);
    o.sack_len = 200;
    assert_eq!(o.sack_blocks().len(), 4);
    assert_eq!(o.buffer_len(), 36);
}

/// A segment carrying `options` (padded with EOL to a multiple of 4), checksummed.
fn with_options(options: &[u8]) -> Vec<u8> {
    let padded = (options.len() + 3) & !3;
    let mut buf = vec![0u8; 20 + padded + 3];
    buf[20..20 + options.len()].copy_from_slice(options);
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    p.set_header_len(20 + padded);
    p.set_flags(TcpFlags::ACK);
    p.payload_mut().copy_from_slice(b"abc");
    p.fill_checksum(&LO);
    buf
}

#[test]
fn unknown_options_skipped() {
    // MPTCP-like kind 30 (len 6), MSS, experimental 254 (len 2), TFO cookie kind 34
    // (len 10), NOP, EOL, junk after EOL.
    #[rustfmt::skip]
    let opts = [
        30, 6, 0xde, 0xad, 0xbe, 0xef,
        2, 4, 0x05, 0xb4,
        254, 2,
        34, 10, 1, 2, 3, 4, 5, 6, 7, 8,
        1, 0, 0xff, 0x03,
    ];
    let seg = with_options(&opts);
    let repr = parse(&seg, &LO).unwrap();
    assert_eq!(
        repr.options,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        }
    );
    assert_eq!(repr.payload, b"abc");
    let p = TcpPacket::new_checked(&seg[..]).unwrap();
    let seen: Vec<_> = p.options_iter().collect::<Result<_>>().unwrap();
    assert_eq!(
        seen,
        [
            TcpOption::Unknown {
                kind: 30,
                data: &[0xde, 0xad, 0xbe, 0xef]
            },
            TcpOption::MaxSegmentSize(1460),
            TcpOption::Unknown {
                kind: 254,
                data: &[]
            },
            TcpOption::Unknown {
                kind: 34,
                data: &[1, 2, 3, 4, 5, 6, 7, 8]
            },
            TcpOption::NoOperation,
            TcpOption::EndOfList,
        ]
    );
}

#[test]
fn window_scale_clamped_and_repeats() {
    let o = TcpOptions::parse(&[1, 3, 3, 15]).unwrap();
    assert_eq!(o.window_scale, Some(14));
    let raw: Vec<_> = TcpOptionIter::new(&[1, 3, 3, 15]).collect();
    assert_eq!(raw[1], Ok(TcpOption::WindowScale(15)));
    assert_eq!(
        TcpOptions::parse(&[3, 3, 255]).unwrap().window_scale,
        Some(14)
    );
    assert_eq!(
        TcpOptions::parse(&[3, 3, 14]).unwrap().window_scale,
        Some(14)
    );
    // A repeated option overrides the earlier one.
    let o = TcpOptions::parse(&[2, 4, 0, 100, 2, 4, 0, 200]).unwrap();
    assert_eq!(o.mss, Some(200));
    // Options count on any segment, not only SYNs.
    assert_eq!(
        parse(&with_options(&[2, 4, 1, 0]), &LO)
            .unwrap()
            .options
            .mss,
        Some(256)
    );
}

#[test]
fn malformed_options() {
    let cases: &[&[u8]] = &[
        &[30, 0, 0, 0],          // length 0
        &[30, 1, 0, 0],          // length 1
        &[1, 1, 1, 30],          // kind with no length byte
        &[1, 1, 1, 2],           // MSS with no length byte
        &[30, 6, 0, 0],          // runs past the header
        &[1, 1, 2, 4, 5],        // MSS cut short
        &[8, 10, 0, 0, 0, 0, 0], // timestamps cut short
        &[2, 3, 5, 0],           // MSS length 3
        &[2, 5, 0, 0, 0, 0],     // MSS length 5
        &[3, 2, 0, 0],           // window scale length 2
        &[3, 4, 0, 0],           // window scale length 4
        &[4, 3, 0, 0],           // SACK-permitted length 3
        &[4, 4, 0, 0],           // SACK-permitted length 4
        &[5, 2, 0, 0],           // SACK with no blocks
        &[5, 9, 0, 0, 0, 0, 0, 0, 0],
        &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[8, 8, 0, 0, 0, 0, 0, 0], // timestamps length 8
        &[8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[2, 4, 5, 0xb4, 3, 1, 0, 0], // valid then bad
    ];
    for &case in cases {
        assert_eq!(TcpOptions::parse(case), Err(Error::Malformed), "{case:?}");
        if case.len() % 4 == 0 {
            // (Padding would change a shorter list.)
            let seg = with_options(case);
            assert_eq!(parse(&seg, &LO), Err(Error::Malformed), "{case:?}");
        }
        // The iterator stops after the error.
        let mut it = TcpOptionIter::new(case);
        assert!(it.by_ref().any(|o| o.is_err()));
        assert_eq!(it.next(), None);
    }
    // Five SACK blocks (length 42) cannot be valid even with room for them.
    let mut five = vec![5u8, 42];
    five.resize(42, 0);
    assert_eq!(TcpOptions::parse(&five), Err(Error::Malformed));
    // Bytes after EOL are not looked at.
    assert_eq!(
        TcpOptions::parse(&[2, 4, 5, 0xb4, 0, 30, 0, 2])
            .unwrap()
            .mss,
        Some(1460)
    );
}

#[test]
fn truncated_and_bad_offset() {
    for len in 0..LINUX_SYN.len() {
        // Short of the fixed header below 20, short of the 40-byte header above.
        assert_eq!(
            TcpPacket::new_checked(&LINUX_SYN[..len]).unwrap_err(),
            Error::Truncated,
            "len {len}"
        );
        assert_eq!(
            TcpRepr::parse(&TcpPacket::new_unchecked(&LINUX_SYN[..len]), &LO, false),
            Err(Error::Truncated)
        );
    }
    for off in 0..5u8 {
        let mut b = LINUX_FIN;
        b[12] = off << 4;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
    }
    let mut b = LINUX_FIN;
    b[12] = 0xf0; // 60-byte header in 32 bytes
    assert_eq!(
        TcpPacket::new_checked(&b[..]).unwrap_err(),
        Error::Truncated
    );
    // A cut segment still parses structurally; only the checksum notices.
    for len in 32..LINUX_DATA.len() {
        let p = TcpPacket::new_checked(&LINUX_DATA[..len]).unwrap();
        assert_eq!(p.payload().len(), len - 32);
        assert_eq!(TcpRepr::parse(&p, &LO, true), Err(Error::Checksum));
    }
}

#[test]
fn checksum_failures() {
    let mut bad = LINUX_DATA;
    bad[39] ^= 0x20;
    let p = TcpPacket::new_checked(&bad[..]).unwrap();
    assert!(!p.verify_checksum(&LO));
    assert_eq!(TcpRepr::parse(&p, &LO, true), Err(Error::Checksum));
    assert_eq!(
        TcpRepr::parse(&p, &LO, false).unwrap().payload,
        b"hello, Bypass\n"
    );
    // Right bytes, wrong addresses.
    let other = PseudoHeader::new(Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::LOCALHOST);
    assert_eq!(parse(&LINUX_DATA, &other), Err(Error::Checksum));
    // Checksum checked before options.
    let mut seg = with_options(&[30, 0, 0, 0]);
    seg[25] ^= 1;
    assert_eq!(parse(&seg, &LO), Err(Error::Checksum));
    // No pseudo-header length can describe more than 65535 bytes.
    let mut big = vec![0u8; 65536];
    big[12] = 0x50;
    let p = TcpPacket::new_checked(&big[..]).unwrap();
    assert!(!p.verify_checksum(&LO));
}

#[test]
fn flags() {
    for bits in 0..=255u8 {
        let f = TcpFlags::from(bits);
        assert_eq!(u8::from(f), bits);
        assert_eq!(f.to_string().len(), (bits.count_ones() as usize).max(1));
        assert_eq!(TcpFlags::from_header_word(0x5f00 | u16::from(bits)), f);
        assert_eq!(f.to_header_word(20), 0x5000 | u16::from(bits));
    }
    assert_eq!(TcpFlags::NONE, TcpFlags::default());
    assert_eq!(TcpFlags::NONE.to_string(), "-");
    assert_eq!(
        (TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK).to_string(),
        "FPA"
    );
    assert_eq!((TcpFlags::RST | TcpFlags::ACK).to_string(), "RA");
    assert_eq!(TcpFlags::from_bits(0xff).to_string(), "FSRPAUEC");
    let singles = [
        (
            TcpFlags::FIN,
            TcpFlags {
                fin: true,
                ..TcpFlags::NONE
            },
        ),
        (
            TcpFlags::SYN,
            TcpFlags {
                syn: true,
                ..TcpFlags::NONE
            },
        ),
        (
            TcpFlags::RST,
            TcpFlags {
                rst: true,
                ..TcpFlags::NONE
            },
        ),
        (
            TcpFlags::PSH,
            TcpFlags {
                psh: true,
                ..TcpFlags::NONE
            },
        ),
        (
            TcpFlags::ACK,
            TcpFlags {
                ack: true,
                ..TcpFlags::NONE
            },
        ),
        (
            TcpFlags::URG,
            TcpFlags {
                urg: true,
                ..TcpFlags::NONE
            },
        ),
        (
            TcpFlags::ECE,
            TcpFlags {
                ece: true,
                ..TcpFlags::NONE
            },
        ),
        (
            TcpFlags::CWR,
            TcpFlags {
                cwr: true,
                ..TcpFlags::NONE
            },
        ),
    ];
    for (i, (c, f)) in singles.iter().enumerate() {
        assert_eq!(c, f);
        assert_eq!(c.bits(), 1 << i);
    }
    let mut f = TcpFlags::SYN;
    f |= TcpFlags::ACK;
    assert!(f.contains(TcpFlags::ACK) && !f.contains(TcpFlags::ACK | TcpFlags::FIN));
    assert_eq!(
        LINUX_SYN_ACK[12..14],
        TcpFlags::from_bits(0x12).to_header_word(40).to_be_bytes()
    );
}

#[test]
fn segment_len() {
    let mut r = parse(&LINUX_DATA, &LO).unwrap();
    assert_eq!(r.segment_len(), 14);
    r.flags |= TcpFlags::FIN;
    assert_eq!(r.segment_len(), 15);
    r.flags |= TcpFlags::SYN;
    assert_eq!(r.segment_len(), 16);
    r.payload = &[];
    assert_eq!(r.segment_len(), 2);
}

fn options_strategy() -> impl Strategy<Value = TcpOptions> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(0u8..=MAX_WINDOW_SCALE),
        any::<bool>(),
        proptest::option::of(any::<(u32, u32)>()),
        proptest::collection::vec(any::<(u32, u32)>(), 0..=MAX_SACK_BLOCKS),
    )
        .prop_map(|(mss, window_scale, sack_permitted, timestamps, blocks)| {
            let mut o = TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamps,
                ..TcpOptions::default()
            };
            let blocks: Vec<_> = blocks
                .into_iter()
                .map(|(l, r)| (SeqNumber(l), SeqNumber(r)))
                .collect();
            o.set_sack_blocks(&blocks);
            // Keep only the blocks that fit, so the repr survives a round trip.
            let fit = o.emitted_sack_blocks();
            o.set_sack_blocks(&blocks[..fit]);
            o
        })
}

/// One well-formed option, encoded.
fn valid_option() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![kind::NOP]),
        Just(vec![kind::EOL]),
        any::<u16>().prop_map(|m| vec![kind::MSS, 4, (m >> 8) as u8, m as u8]),
        any::<u8>().prop_map(|s| vec![kind::WINDOW_SCALE, 3, s]),
        Just(vec![kind::SACK_PERMITTED, 2]),
        proptest::collection::vec(any::<u8>(), 1..=4).prop_map(|b| {
            let mut v = vec![kind::SACK, 2 + 8 * b.len() as u8];
            for x in b {
                v.extend_from_slice(&[x; 8]);
            }
            v
        }),
        any::<[u8; 8]>().prop_map(|t| {
            let mut v = vec![kind::TIMESTAMPS, 10];
            v.extend_from_slice(&t);
            v
        }),
        (
            prop_oneof![Just(30u8), 9u8..=255],
            proptest::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(k, d)| {
                let mut v = vec![k, 2 + d.len() as u8];
                v.extend_from_slice(&d);
                v
            }),
    ]
}

/// Arbitrary bytes shaped like an option: any kind, maybe a length, some data.
fn junk_option() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![0u8..10, any::<u8>()],
        proptest::option::of(any::<u8>()),
        proptest::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(kind, len, data)| {
            let mut v = vec![kind];
            if let Some(len) = len {
                v.push(len);
                v.extend_from_slice(
                    &data[..data.len().min(usize::from(len.saturating_sub(2)))],
                );
            }
            v
        })
}

/// Option lists of mostly valid options, some junk, cut to at most 40 bytes.
fn option_bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![6 => valid_option(), 1 => junk_option()], 0..8)
        .prop_map(|pieces| {
            let mut v = pieces.concat();
            v.truncate(40);
            v
        })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100), verify in any::<bool>()) {
        if let Ok(p) = TcpPacket::new_checked(&data[..]) {
            let _ = (p.options(), p.payload(), p.verify_checksum(&LO), p.flags().to_string());
            let _ = p.options_iter().count();
            let _ = TcpRepr::parse(&p, &LO, verify);
        } else {
            prop_assert!(data.len() < 20 || data[12] >> 4 < 5 || usize::from(data[12] >> 4) * 4 > data.len());
        }
    }

    #[test]
    fn option_lists_never_panic(opts in option_bytes_strategy(), payload in proptest::collection::vec(any::<u8>(), 0..8)) {
        let _ = TcpOptionIter::new(&opts).count();
        let mut seg = with_options(&opts);
        seg.truncate(seg.len() - 3);
        seg.extend_from_slice(&payload);
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(&LO);
        let parsed = parse(&seg, &LO);
        let padded = TcpPacket::new_checked(&seg[..]).unwrap().options().to_vec();
        prop_assert_eq!(parsed.map(|r| r.options), TcpOptions::parse(&padded));
        if let Ok(r) = parsed {
            prop_assert_eq!(r.payload, &payload[..]);
            // Re-emitting keeps every option, SACK blocks up to what fits.
            let mut expect = r.options;
            let fit = expect.emitted_sack_blocks();
            let blocks = expect.sack_blocks()[..fit].to_vec();
            expect.set_sack_blocks(&blocks);
            let bytes = emit(&r, &LO);
            prop_assert_eq!(parse(&bytes, &LO).unwrap().options, expect);
        }
    }

    #[test]
    fn roundtrip(
        ports in any::<(u16, u16)>(), seq in any::<u32>(), ack in any::<u32>(),
        flags in any::<u8>(), window in any::<u16>(), urgent in any::<u16>(),
        options in options_strategy(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        addrs in any::<(u32, u32)>(),
    ) {
        let pseudo = PseudoHeader::new(Ipv4Addr::from(addrs.0), Ipv4Addr::from(addrs.1));
        let repr = TcpRepr {
            src_port: ports.0,
            dst_port: ports.1,
            seq: SeqNumber(seq),
            ack: SeqNumber(ack),
            flags: TcpFlags::from_bits(flags),
            window,
            urgent,
            options,
            payload: &payload,
        };
        prop_assert!(repr.header_len().is_multiple_of(4) && repr.header_len() <= 60);
        let bytes = emit(&repr, &pseudo);
        let p = TcpPacket::new_checked(&bytes[..]).unwrap();
        prop_assert!(p.verify_checksum(&pseudo));
        prop_assert_eq!(p.header_len(), repr.header_len());
        prop_assert_eq!(TcpRepr::parse(&p, &pseudo, true).unwrap(), repr);
        // Header-only emit plus a caller-written payload gives the same bytes.
        let mut buf = vec![0x5au8; bytes.len()];
        let mut q = TcpPacket::new_unchecked(&mut buf[..]);
        TcpRepr { payload: &[], ..repr }.emit_header(&mut q);
        q.payload_mut().copy_from_slice(&payload);
        q.fill_checksum(&pseudo);
        prop_assert_eq!(buf, bytes);
    }
}
