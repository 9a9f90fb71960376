//! ICMP for IPv4 (RFC 792; host requirements in RFC 1122 §3.2.2).
//!
//! The view and the checksum cover the whole buffer, so hand it exactly the IPv4
//! payload ([`Ipv4Packet::payload`](super::Ipv4Packet::payload)), not a padded frame tail.

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::{checksum, Error, Result};

/// The ICMP type field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Message {
    /// 0
    EchoReply,
    /// 3
    DstUnreachable,
    /// 8
    EchoRequest,
    /// 11
    TimeExceeded,
    /// 12
    ParameterProblem,
    Unknown(u8),
}

impl From<u8> for Icmpv4Message {
    fn from(v: u8) -> Self {
        match v {
            0 => Icmpv4Message::EchoReply,
            3 => Icmpv4Message::DstUnreachable,
            8 => Icmpv4Message::EchoRequest,
            11 => Icmpv4Message::TimeExceeded,
            12 => Icmpv4Message::ParameterProblem,
            other => Icmpv4Message::Unknown(other),
        }
    }
}

impl From<Icmpv4Message> for u8 {
    fn from(m: Icmpv4Message) -> u8 {
        match m {
            Icmpv4Message::EchoReply => 0,
            Icmpv4Message::DstUnreachable => 3,
            Icmpv4Message::EchoRequest => 8,
            Icmpv4Message::TimeExceeded => 11,
            Icmpv4Message::ParameterProblem => 12,
            Icmpv4Message::Unknown(v) => v,
        }
    }
}

/// Codes of [`Icmpv4Message::DstUnreachable`] (RFC 792, RFC 1191 for 4).
pub mod unreachable {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
}

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const REST: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQ_NO: Field = 6..8;
    pub const DATA: usize = 8;
}

/// A view of an ICMPv4 message in a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Type, code, checksum, rest of header.
    pub const HEADER_LEN: usize = field::DATA;

    /// Wraps a buffer without checking it; accessors may panic if it is too short.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps a buffer, checking it holds the 8-byte header, so no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer is shorter than 8 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::DATA {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> Icmpv4Message {
        Icmpv4Message::from(self.buffer.as_ref()[field::TYPE])
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The type-specific second word (unused for DstUnreachable except code 4).
    pub fn rest_of_header(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::REST])
    }

    pub fn echo_ident(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    pub fn echo_seq_no(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ECHO_SEQ_NO])
    }

    /// Everything after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// Whether the whole buffer sums to zero.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmpv4Packet<&'a T> {
    /// The data, borrowed for the buffer's lifetime rather than the view's.
    pub fn into_data(self) -> &'a [u8] {
        &self.buffer.as_ref()[field::DATA..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    pub fn set_msg_type(&mut self, v: Icmpv4Message) {
        self.buffer.as_mut()[field::TYPE] = v.into();
    }

    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], v);
    }

    pub fn set_rest_of_header(&mut self, v: u32) {
        write_u32(&mut self.buffer.as_mut()[field::REST], v);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::ECHO_IDENT], v);
    }

    pub fn set_echo_seq_no(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::ECHO_SEQ_NO], v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Computes the checksum over the whole buffer and stores it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// The ICMPv4 messages this engine handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// `invoking`: the offending datagram's IP header and leading payload bytes, cut
    /// by the caller (RFC 792 asks for at least 64 bits of payload; RFC 1812 allows
    /// more, up to a 576-byte message).
    DstUnreachable { code: u8, invoking: &'a [u8] },
    /// Parameter Problem, code 0 (RFC 792): `pointer` is the offset of the octet in the
    /// invoking datagram's header where the error was found.
    ParameterProblem { pointer: u8, invoking: &'a [u8] },
}

impl<'a> Icmpv4Repr<'a> {
    /// Fails with `Truncated` below 8 bytes, `Checksum` if `verify_checksum` and the
    /// message does not verify, `Malformed` for an echo with a non-zero code, and
    /// `Unsupported` for any other type.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv4Packet<&'a T>,
        verify_checksum: bool,
    ) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let data = packet.into_data();
        match (packet.msg_type(), packet.msg_code()) {
            (Icmpv4Message::EchoRequest, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Icmpv4Message::EchoReply, 0) => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply, _) => Err(Error::Malformed),
            (Icmpv4Message::DstUnreachable, code) => Ok(Icmpv4Repr::DstUnreachable {
                code,
                invoking: data,
            }),
            (Icmpv4Message::ParameterProblem, 0) => Ok(Icmpv4Repr::ParameterProblem {
                pointer: (packet.rest_of_header() >> 24) as u8,
                invoking: data,
            }),
            _ => Err(Error::Unsupported),
        }
    }

    /// Header plus data: the exact length `emit` checksums.
    pub fn buffer_len(&self) -> usize {
        field::DATA
            + match self {
                Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                    data.len()
                }
                Icmpv4Repr::DstUnreachable { invoking, .. }
                | Icmpv4Repr::ParameterProblem { invoking, .. } => invoking.len(),
            }
    }

    /// Writes the message and fills the checksum. The buffer must be exactly
    /// [`buffer_len`](Self::buffer_len) long (the checksum covers all of it); panics if
    /// it is shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Icmpv4Packet<&mut T>) {
        let (msg, code, rest, body) = match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (
                Icmpv4Message::EchoRequest,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
                data,
            ),
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (
                Icmpv4Message::EchoReply,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
                data,
            ),
            Icmpv4Repr::DstUnreachable { code, invoking } => {
                (Icmpv4Message::DstUnreachable, code, 0, invoking)
            }
            Icmpv4Repr::ParameterProblem { pointer, invoking } => {
                (Icmpv4Message::ParameterProblem, 0, u32::from(pointer) << 24, invoking)
            }
        };
        packet.set_msg_type(msg);
        packet.set_msg_code(code);
        packet.set_rest_of_header(rest);
        packet.data_mut()[..body.len()].copy_from_slice(body);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr,
    };
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    // `ping -c1 8.8.8.8` from 192.168.1.100: Ethernet + IPv4 (ident 9c3e, DF, ttl 64,
    // checksum cc4e) + ICMP echo request (ident 1c46, seq 1, checksum c45a, 56 data
    // bytes: a 16-byte timestamp then 0x10..=0x37). Checksums computed independently.
    const PING_FRAME: [u8; 98] = [
        0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00, //
        0x45, 0x00, 0x00, 0x54, 0x9c, 0x3e, 0x40, 0x00, 0x40, 0x01, 0xcc, 0x4e, 0xc0, 0xa8, 0x01,
        0x64, 0x08, 0x08, 0x08, 0x08, //
        0x08, 0x00, 0xc4, 0x5a, 0x1c, 0x46, 0x00, 0x01, //
        0xa1, 0xb2, 0xc3, 0xd4, 0x00, 0x00, 0x00, 0x00, 0xe8, 0x03, 0x0b, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
        0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c,
        0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    ];

    // Port unreachable for a 4-byte UDP datagram 192.168.1.100:40000 -> 192.168.1.1:53,
    // quoting its IP header (checksum a4e3) and 8-byte UDP header. Checksum b4ad.
    const UNREACH: [u8; 36] = [
        0x03, 0x03, 0xb4, 0xad, 0x00, 0x00, 0x00, 0x00, //
        0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0xa4, 0xe3, 0xc0, 0xa8, 0x01,
        0x64, 0xc0, 0xa8, 0x01, 0x01, //
        0x9c, 0x40, 0x00, 0x35, 0x00, 0x0c, 0xab, 0xcd,
    ];

    const HOST: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    const ROUTER: EthernetAddress = EthernetAddress([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);

    #[test]
    fn parse_ping_golden() {
        let frame = EthernetFrame::new_checked(&PING_FRAME[..]).unwrap();
        assert_eq!(frame.ethertype(), EtherType::Ipv4);
        let ip = Ipv4Packet::new_checked(frame.into_payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.ident(), 0x9c3e);
        let ip_repr = Ipv4Repr::parse(&ip, true).unwrap();
        assert_eq!(
            ip_repr,
            Ipv4Repr {
                src_addr: Ipv4Addr::new(192, 168, 1, 100),
                dst_addr: Ipv4Addr::new(8, 8, 8, 8),
                protocol: IpProtocol::Icmp,
                payload_len: 64,
                ttl: 64,
            }
        );
        let icmp = Icmpv4Packet::new_checked(ip.into_payload()).unwrap();
        assert_eq!(icmp.msg_type(), Icmpv4Message::EchoRequest);
        assert_eq!(icmp.msg_code(), 0);
        assert_eq!(icmp.checksum(), 0xc45a);
        assert_eq!(icmp.rest_of_header(), 0x1c46_0001);
        assert_eq!(icmp.echo_ident(), 0x1c46);
        assert_eq!(icmp.echo_seq_no(), 1);
        assert_eq!(icmp.data(), &PING_FRAME[42..]);
        assert!(icmp.verify_checksum());
        assert_eq!(
            Icmpv4Repr::parse(&icmp, true).unwrap(),
            Icmpv4Repr::EchoRequest {
                ident: 0x1c46,
                seq_no: 1,
                data: &PING_FRAME[42..]
            }
        );
    }

    #[test]
    fn emit_ping_golden() {
        let data = &PING_FRAME[42..];
        let eth = EthernetRepr {
            src_addr: HOST,
            dst_addr: ROUTER,
            ethertype: EtherType::Ipv4,
        };
        let icmp = Icmpv4Repr::EchoRequest {
            ident: 0x1c46,
            seq_no: 1,
            data,
        };
        let ip = Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 168, 1, 100),
            dst_addr: Ipv4Addr::new(8, 8, 8, 8),
            protocol: IpProtocol::Icmp,
            payload_len: icmp.buffer_len(),
            ttl: 64,
        };
        let mut buf = vec![0xeeu8; eth.buffer_len() + ip.buffer_len() + icmp.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
        ip.emit(&mut packet, 0x9c3e);
        icmp.emit(&mut Icmpv4Packet::new_unchecked(packet.payload_mut()));
        assert_eq!(buf, PING_FRAME);
    }

    #[test]
    fn echo_reply_checksum() {
        // Same message as a reply: type 8 -> 0 raises the checksum by 0x0800.
        let data = &PING_FRAME[42..];
        let reply = Icmpv4Repr::EchoReply {
            ident: 0x1c46,
            seq_no: 1,
            data,
        };
        let mut buf = vec![0u8; reply.buffer_len()];
        reply.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..4], &[0x00, 0x00, 0xcc, 0x5a]);
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&buf[..]).unwrap(), true).unwrap(),
            reply
        );
    }

    #[test]
    fn unreachable_golden() {
        let packet = Icmpv4Packet::new_checked(&UNREACH[..]).unwrap();
        assert_eq!(packet.msg_type(), Icmpv4Message::DstUnreachable);
        assert_eq!(packet.msg_code(), unreachable::PORT);
        assert_eq!(packet.rest_of_header(), 0);
        let repr = Icmpv4Repr::parse(&packet, true).unwrap();
        assert_eq!(
            repr,
            Icmpv4Repr::DstUnreachable {
                code: unreachable::PORT,
                invoking: &UNREACH[8..]
            }
        );
        // The quoted header parses on its own.
        let inner = Ipv4Packet::new_unchecked(&UNREACH[8..28]);
        assert!(inner.verify_checksum());
        assert_eq!(inner.protocol(), IpProtocol::Udp);

        let mut buf = [0xffu8; 36];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, UNREACH);
    }

    // Parameter Problem, pointer 20 (the option's first octet, as Linux points), quoting a 24-byte header whose option list is
    // malformed (Record Route, length 39: past the header's end) and 8 payload bytes.
    // Checksums computed independently.
    const PARAM_PROBLEM: [u8; 40] = [
        0x0c, 0x00, 0xdf, 0xff, 0x14, 0x00, 0x00, 0x00, //
        0x46, 0x00, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0x5a, 0xaf, 0x0a, 0x00,
        0x00, 0x02, 0x0a, 0x00, 0x00, 0x01, 0x07, 0x27, 0x04, 0x00, //
        0x08, 0x00, 0xf7, 0xfe, 0x00, 0x01, 0x00, 0x00,
    ];

    #[test]
    fn parameter_problem_golden() {
        let packet = Icmpv4Packet::new_checked(&PARAM_PROBLEM[..]).unwrap();
        assert_eq!(packet.msg_type(), Icmpv4Message::ParameterProblem);
        let repr = Icmpv4Repr::parse(&packet, true).unwrap();
        assert_eq!(repr, Icmpv4Repr::ParameterProblem { pointer: 20, invoking: &PARAM_PROBLEM[8..] });
        let inner = Ipv4Packet::new_unchecked(&PARAM_PROBLEM[8..32]);
        assert!(inner.verify_checksum());
        assert_eq!(inner.header_len(), 24);
        let mut buf = [0xffu8; 40];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, PARAM_PROBLEM);
    }

    #[test]
    fn rejections() {
        let mut bad = UNREACH;
        bad[20] ^= 1;
        let p = Icmpv4Packet::new_checked(&bad[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Icmpv4Repr::parse(&p, true), Err(Error::Checksum));
        assert!(Icmpv4Repr::parse(&p, false).is_ok());

        let with_header = |t: u8, c: u8| {
            let mut b = [t, c, 0, 0, 0, 0, 0, 0];
            let mut p = Icmpv4Packet::new_unchecked(&mut b[..]);
            p.fill_checksum();
            Icmpv4Repr::parse(&Icmpv4Packet::new_unchecked(&b[..]), true).map(|_| ())
        };
        assert_eq!(with_header(11, 0), Err(Error::Unsupported));
        assert_eq!(with_header(13, 0), Err(Error::Unsupported));
        assert_eq!(with_header(8, 1), Err(Error::Malformed));
        assert_eq!(with_header(0, 0), Ok(()));
    }

    #[test]
    fn truncated_at_every_length() {
        for len in 0..Icmpv4Packet::<&[u8]>::HEADER_LEN {
            assert_eq!(
                Icmpv4Packet::new_checked(&UNREACH[..len]).unwrap_err(),
                Error::Truncated
            );
            assert_eq!(
                Icmpv4Repr::parse(&Icmpv4Packet::new_unchecked(&UNREACH[..len]), false),
                Err(Error::Truncated)
            );
        }
        // A cut message still parses structurally; only the checksum notices.
        for len in 8..UNREACH.len() {
            let p = Icmpv4Packet::new_checked(&UNREACH[..len]).unwrap();
            assert!(!p.verify_checksum());
            assert_eq!(Icmpv4Repr::parse(&p, true), Err(Error::Checksum));
        }
    }

    fn make_repr(kind: u8, a: u16, b: u16, code: u8, data: &[u8]) -> Icmpv4Repr<'_> {
        match kind {
            0 => Icmpv4Repr::EchoRequest {
                ident: a,
                seq_no: b,
                data,
            },
            1 => Icmpv4Repr::EchoReply {
                ident: a,
                seq_no: b,
                data,
            },
            _ => Icmpv4Repr::DstUnreachable {
                code,
                invoking: data,
            },
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64), verify in any::<bool>()) {
            if let Ok(p) = Icmpv4Packet::new_checked(&data[..]) {
                let _ = (p.data(), p.verify_checksum(), p.echo_ident(), p.echo_seq_no());
                let _ = Icmpv4Repr::parse(&p, verify);
            } else {
                prop_assert!(data.len() < 8);
            }
        }

        #[test]
        fn roundtrip(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            kind in 0u8..3, a in any::<u16>(), b in any::<u16>(), code in any::<u8>(),
        ) {
            let repr = make_repr(kind, a, b, code, &data);
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
            let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(p.verify_checksum());
            prop_assert_eq!(Icmpv4Repr::parse(&p, true).unwrap(), repr);
        }
    }
}
