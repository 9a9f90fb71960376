//! UDP datagrams (RFC 768; checksum rules RFC 1122 §4.1.3.4), checksum over the IPv4
//! pseudo-header.
//!
//! Unlike TCP, the view honours the length field: [`UdpPacket::payload`] and the
//! checksum stop at `len`, and any bytes beyond it in the buffer are ignored.
//!
//! [`UdpRepr`] holds only the ports; the payload travels separately, so that a
//! sender can write it straight into the frame ([`UdpRepr::emit_header`]).

use super::bytes::{read_u16, write_u16};
use super::tcp::PseudoHeader;
use super::{checksum, Error, Result};

/// IPv4 protocol number of UDP.
const PROTOCOL_UDP: u8 = 17;

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const PAYLOAD: usize = 8;
}

/// A view of a UDP datagram in a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

#[allow(clippy::len_without_is_empty)] // `len` is the header field
impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub const HEADER_LEN: usize = field::PAYLOAD;

    /// Wraps a buffer without checking it; accessors may panic if it is inconsistent.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len), so no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks, in order: at least 8 bytes (`Truncated`); length field >= 8
    /// (`Malformed`); length field <= buffer length (`Truncated`).
    pub fn check_len(&self) -> Result<()> {
        let buf_len = self.buffer.as_ref().len();
        if buf_len < field::PAYLOAD {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.len());
        if len < field::PAYLOAD {
            return Err(Error::Malformed);
        }
        if len > buf_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    pub fn dst_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// The length field: header plus payload, in bytes.
    pub fn len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Bytes `8..len`.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..usize::from(self.len())]
    }

    /// Whether bytes `..len`, with the pseudo-header (protocol 17, length = the length
    /// field), sum to zero. A zero checksum field means the sender computed none, and
    /// is accepted.
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let data = &self.buffer.as_ref()[..usize::from(len)];
        checksum::finish(checksum::ones_sum(pseudo.sum(PROTOCOL_UDP, len), data)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> UdpPacket<&'a T> {
    /// The payload, borrowed for the buffer's lifetime rather than the view's.
    pub fn into_payload(self) -> &'a [u8] {
        let end = usize::from(self.len());
        &self.buffer.as_ref()[field::PAYLOAD..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::SRC_PORT], v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::DST_PORT], v);
    }

    pub fn set_len(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::LENGTH], v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], v);
    }

    /// Bytes `8..len`.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[field::PAYLOAD..end]
    }

    /// Computes the checksum over the pseudo-header and bytes `..len` and stores it; a
    /// computed 0 is stored as 0xffff (0 would mean "no checksum"). Panics if the length
    /// field exceeds the buffer.
    pub fn fill_checksum(&mut self, pseudo: &PseudoHeader) {
        self.set_checksum(0);
        let len = self.len();
        let data = &self.buffer.as_ref()[..usize::from(len)];
        let c = checksum::finish(checksum::ones_sum(pseudo.sum(PROTOCOL_UDP, len), data));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// A UDP header's ports; the length comes from the payload and the checksum is
/// always computed on emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl UdpRepr {
    pub const HEADER_LEN: usize = field::PAYLOAD;
    /// Largest payload the length field can describe.
    pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize - field::PAYLOAD;

    /// Returns the ports and the payload (bytes `8..len`). Fails with the
    /// [`UdpPacket::check_len`] errors, or `Checksum` if `verify_checksum` and a
    /// non-zero checksum does not verify against `pseudo`.
    pub fn parse<'a, T: AsRef<[u8]> + ?Sized>(
        packet: &UdpPacket<&'a T>,
        pseudo: &PseudoHeader,
        verify_checksum: bool,
    ) -> Result<(UdpRepr, &'a [u8])> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum(pseudo) {
            return Err(Error::Checksum);
        }
        let repr = UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        };
        Ok((repr, packet.into_payload()))
    }

    /// Header plus `payload_len` bytes.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        field::PAYLOAD + payload_len
    }

    /// Writes ports, the length field (`8 + payload_len`) and a zero checksum; leaves
    /// the payload area alone. For zero-copy transmit: call this, write the payload
    /// into [`UdpPacket::payload_mut`], then call [`UdpPacket::fill_checksum`]. Panics
    /// if the buffer is shorter than 8 bytes or `payload_len > MAX_PAYLOAD_LEN`.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut UdpPacket<&mut T>,
        payload_len: usize,
    ) {
        assert!(payload_len <= Self::MAX_PAYLOAD_LEN, "UDP payload too long");
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len((field::PAYLOAD + payload_len) as u16);
        packet.set_checksum(0);
    }

    /// Writes header and payload into the first [`buffer_len`](Self::buffer_len) bytes
    /// and fills the checksum. Panics if the buffer is shorter or the payload longer
    /// than `MAX_PAYLOAD_LEN`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut UdpPacket<&mut T>,
        pseudo: &PseudoHeader,
        payload: &[u8],
    ) {
        self.emit_header(packet, payload.len());
        packet.payload_mut().copy_from_slice(payload);
        packet.fill_checksum(pseudo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);
    const RESOLVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const PSEUDO: PseudoHeader = PseudoHeader::new(HOST, RESOLVER);

    // A DNS query for example.com/A (id 0x1234, RD) from 192.168.1.100:40000 to
    // 192.168.1.1:53: odd length (37), checksum fdd6 computed independently (Python).
    const DNS_QUERY: [u8; 37] = [
        0x9c, 0x40, 0x00, 0x35, 0x00, 0x25, 0xfd, 0xd6, //
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78,
        0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    // 192.168.1.100:1234 -> 192.168.1.1:5678, payload 60 1e 01 02: the checksum
    // computes to 0 (found by search in Python), so it is sent as ffff.
    const ZERO_SUM: [u8; 12] = [
        0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0c, 0xff, 0xff, 0x60, 0x1e, 0x01, 0x02,
    ];

    fn emit(repr: &UdpRepr, pseudo: &PseudoHeader, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0xa5u8; repr.buffer_len(payload.len())];
        repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), pseudo, payload);
        buf
    }

    #[test]
    fn dns_query_golden() {
        let p = UdpPacket::new_checked(&DNS_QUERY[..]).unwrap();
        assert_eq!(p.src_port(), 40000);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 37);
        assert_eq!(p.checksum(), 0xfdd6);
        assert_eq!(p.payload(), &DNS_QUERY[8..]);
        assert!(p.verify_checksum(&PSEUDO));
        let (repr, payload) = UdpRepr::parse(&p, &PSEUDO, true).unwrap();
        assert_eq!(
            repr,
            UdpRepr {
                src_port: 40000,
                dst_port: 53
            }
        );
        assert_eq!(payload, &DNS_QUERY[8..]);
        assert_eq!(repr.buffer_len(payload.len()), 37);
        assert_eq!(emit(&repr, &PSEUDO, payload), DNS_QUERY);

        // Header first, payload written by the caller, checksum last.
        let mut buf = [0u8; 37];
        let mut q = UdpPacket::new_unchecked(&mut buf[..]);
        repr.emit_header(&mut q, 29);
        assert_eq!(q.checksum(), 0);
        q.payload_mut().copy_from_slice(payload);
        q.fill_checksum(&PSEUDO);
        assert_eq!(buf, DNS_QUERY);
    }

    #[test]
    fn zero_checksum() {
        // A computed 0 goes out as ffff, which verifies.
        let repr = UdpRepr {
            src_port: 1234,
            dst_port: 5678,
        };
        let bytes = emit(&repr, &PSEUDO, &ZERO_SUM[8..]);
        assert_eq!(bytes, ZERO_SUM);
        assert!(UdpPacket::new_checked(&bytes[..])
            .unwrap()
            .verify_checksum(&PSEUDO));
        // A zero field means "no checksum": accepted whatever the data.
        let mut none = DNS_QUERY;
        none[6..8].copy_from_slice(&[0, 0]);
        none[20] ^= 0xff;
        let p = UdpPacket::new_checked(&none[..]).unwrap();
        assert!(p.verify_checksum(&PSEUDO));
        assert_eq!(UdpRepr::parse(&p, &PSEUDO, true).unwrap().1, &none[8..]);
    }

    #[test]
    fn bad_checksum() {
        let mut bad = DNS_QUERY;
        bad[36] ^= 1;
        let p = UdpPacket::new_checked(&bad[..]).unwrap();
        assert!(!p.verify_checksum(&PSEUDO));
        assert_eq!(UdpRepr::parse(&p, &PSEUDO, true), Err(Error::Checksum));
        assert!(UdpRepr::parse(&p, &PSEUDO, false).is_ok());
        let swapped_dst = PseudoHeader::new(HOST, Ipv4Addr::new(192, 168, 1, 2));
        let p = UdpPacket::new_checked(&DNS_QUERY[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, &swapped_dst, true), Err(Error::Checksum));
    }

    #[test]
    fn length_field() {
        for len in 0..8 {
            assert_eq!(
                UdpPacket::new_checked(&DNS_QUERY[..len]).unwrap_err(),
                Error::Truncated
            );
        }
        // The length field says 37: any shorter buffer is truncated.
        for len in 8..DNS_QUERY.len() {
            assert_eq!(
                UdpPacket::new_checked(&DNS_QUERY[..len]).unwrap_err(),
                Error::Truncated,
                "len {len}"
            );
            assert_eq!(
                UdpRepr::parse(&UdpPacket::new_unchecked(&DNS_QUERY[..len]), &PSEUDO, false),
                Err(Error::Truncated)
            );
        }
        for field in 0..8u16 {
            let mut b = DNS_QUERY;
            b[4..6].copy_from_slice(&field.to_be_bytes());
            assert_eq!(
                UdpPacket::new_checked(&b[..]).unwrap_err(),
                Error::Malformed
            );
        }
        // Trailing bytes (link padding) are outside the datagram and its checksum.
        let mut padded = DNS_QUERY.to_vec();
        padded.extend_from_slice(&[0xde, 0xad, 0xbe]);
        let p = UdpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload(), &DNS_QUERY[8..]);
        assert_eq!(
            UdpRepr::parse(&p, &PSEUDO, true).unwrap().1,
            &DNS_QUERY[8..]
        );
        // A header-only datagram.
        let empty = emit(
            &UdpRepr {
                src_port: 1,
                dst_port: 2,
            },
            &PSEUDO,
            &[],
        );
        assert_eq!(empty.len(), 8);
        let (_, payload) =
            UdpRepr::parse(&UdpPacket::new_checked(&empty[..]).unwrap(), &PSEUDO, true).unwrap();
        assert!(payload.is_empty());
    }

    #[test]
    fn setters() {
        let mut buf = DNS_QUERY;
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        p.set_src_port(7);
        p.set_dst_port(9);
        p.set_len(10);
        p.set_checksum(0x1234);
        assert_eq!(
            (p.src_port(), p.dst_port(), p.len(), p.checksum()),
            (7, 9, 10, 0x1234)
        );
        assert_eq!(p.payload_mut().len(), 2);
        p.fill_checksum(&PSEUDO);
        assert!(p.verify_checksum(&PSEUDO));
        assert_eq!(p.into_inner()[10..], DNS_QUERY[10..]);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64), verify in any::<bool>()) {
            if let Ok(p) = UdpPacket::new_checked(&data[..]) {
                let _ = (p.payload(), p.verify_checksum(&PSEUDO));
                let _ = UdpRepr::parse(&p, &PSEUDO, verify);
            }
        }

        #[test]
        fn header_like_bytes_never_panic(
            len in 0u16..80, verify in any::<bool>(),
            rest in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut data = vec![0, 1, 0, 2];
            data.extend_from_slice(&len.to_be_bytes());
            data.extend_from_slice(&rest);
            match UdpPacket::new_checked(&data[..]) {
                Ok(p) => {
                    prop_assert_eq!(p.payload().len() + 8, usize::from(len));
                    let _ = UdpRepr::parse(&p, &PSEUDO, verify);
                }
                Err(Error::Malformed) => prop_assert!(len < 8 && data.len() >= 8),
                Err(e) => {
                    prop_assert_eq!(e, Error::Truncated);
                    prop_assert!(data.len() < 8 || usize::from(len) > data.len());
                }
            }
        }

        #[test]
        fn roundtrip(
            src_port in any::<u16>(), dst_port in any::<u16>(), addrs in any::<(u32, u32)>(),
            payload in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let pseudo = PseudoHeader::new(Ipv4Addr::from(addrs.0), Ipv4Addr::from(addrs.1));
            let repr = UdpRepr { src_port, dst_port };
            let bytes = emit(&repr, &pseudo, &payload);
            let p = UdpPacket::new_checked(&bytes[..]).unwrap();
            prop_assert!(p.checksum() != 0);
            prop_assert!(p.verify_checksum(&pseudo));
            let (r, pl) = UdpRepr::parse(&p, &pseudo, true).unwrap();
            prop_assert_eq!(r, repr);
            prop_assert_eq!(pl, &payload[..]);
        }
    }
}
