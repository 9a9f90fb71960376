//! IPv4 headers (RFC 791; DSCP/ECN split per RFC 2474 and RFC 3168) and the structure
//! of their option lists (RFC 791 §3.1).

use std::net::Ipv4Addr;

use super::bytes::{read_ipv4, read_u16, write_ipv4, write_u16};
use super::{checksum, Error, Result};

/// The IPv4 protocol field (IANA "Assigned Internet Protocol Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// 1
    Icmp,
    /// 6
    Tcp,
    /// 17
    Udp,
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(v) => v,
        }
    }
}

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
    pub const OPTIONS: usize = 20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet in a byte buffer (which may carry trailing link padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Length of a header without options.
    pub const MIN_HEADER_LEN: usize = field::OPTIONS;

    /// Wraps a buffer without checking it; accessors may panic if it is inconsistent.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len), so no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks, in order: at least 20 bytes (`Truncated`); version 4 (`Malformed`);
    /// IHL >= 5 (`Malformed`); whole header present (`Truncated`); total length covers
    /// the header (`Malformed`); total length present (`Truncated`).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::OPTIONS {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::Malformed);
        }
        let header_len = self.header_len();
        if header_len < field::OPTIONS {
            return Err(Error::Malformed);
        }
        if header_len > len {
            return Err(Error::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::Malformed);
        }
        if total_len > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Header plus payload, in bytes.
    pub fn total_len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    pub fn ident(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::IDENT])
    }

    fn flags_offset(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::FLG_OFF])
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET_MASK) << 3
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        read_ipv4(&self.buffer.as_ref()[field::SRC])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        read_ipv4(&self.buffer.as_ref()[field::DST])
    }

    /// The option bytes, between the fixed header and `header_len`.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Whether the header (options included) sums to zero.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }

    /// Bytes `header_len..total_len`: options skipped, link padding excluded.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// The payload, borrowed for the buffer's lifetime rather than the view's.
    pub fn into_payload(self) -> &'a [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &self.buffer.as_ref()[start..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Sets IHL from a length in bytes (a multiple of 4, 20..=60).
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    pub fn set_dscp(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0x03) | (v << 2);
    }

    pub fn set_ecn(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0xfc) | (v & 0x03);
    }

    pub fn set_total_len(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::LENGTH], v);
    }

    pub fn set_ident(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::IDENT], v);
    }

    fn set_flags_offset(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::FLG_OFF], v);
    }

    pub fn set_dont_frag(&mut self, on: bool) {
        let v = self.flags_offset() & !FLAG_DF;
        self.set_flags_offset(if on { v | FLAG_DF } else { v });
    }

    pub fn set_more_frags(&mut self, on: bool) {
        let v = self.flags_offset() & !FLAG_MF;
        self.set_flags_offset(if on { v | FLAG_MF } else { v });
    }

    /// Sets the fragment offset from a byte count (a multiple of 8).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let v = (self.flags_offset() & !OFFSET_MASK) | (bytes >> 3);
        self.set_flags_offset(v);
    }

    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    pub fn set_protocol(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = v.into();
    }

    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], v);
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        write_ipv4(&mut self.buffer.as_mut()[field::SRC], a);
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        write_ipv4(&mut self.buffer.as_mut()[field::DST], a);
    }

    /// Computes the header checksum over `header_len` bytes and stores it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(c);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// Bytes `header_len..total_len`.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[start..end]
    }
}

/// The fields of an unfragmented IPv4 header this engine acts on. Options are
/// accepted on parse but not represented; emit writes a 20-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    pub payload_len: usize,
    pub ttl: u8,
}

impl Ipv4Repr {
    /// Largest payload a 20-byte header can describe.
    pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize - field::OPTIONS;

    /// Fails with the [`Ipv4Packet::check_len`] errors, `Checksum` if `verify_checksum`
    /// and the header does not verify, `Unsupported` for a fragment (MF set or a
    /// non-zero offset: reassembly works on the packet view instead).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Ipv4Packet<&T>,
        verify_checksum: bool,
    ) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        if packet.more_frags() || packet.frag_offset() != 0 {
            return Err(Error::Unsupported);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
        })
    }

    /// Length of the emitted header: 20.
    pub const fn buffer_len(&self) -> usize {
        field::OPTIONS
    }

    /// Writes a 20-byte header with DF set and the checksum filled; the payload is left
    /// alone. Panics if the buffer is shorter than 20 bytes or
    /// `payload_len > MAX_PAYLOAD_LEN`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut Ipv4Packet<&mut T>,
        ident: u16,
    ) {
        assert!(
            self.payload_len <= Self::MAX_PAYLOAD_LEN,
            "IPv4 payload too long"
        );
        packet.set_version(4);
        packet.set_header_len(field::OPTIONS);
        packet.set_dscp(0);
        packet.set_ecn(0);
        packet.set_total_len((field::OPTIONS + self.payload_len) as u16);
        packet.set_ident(ident);
        packet.set_flags_offset(FLAG_DF);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

/// A malformed option list: `pointer` is the offset, from the start of the IP header, of
/// the first octet of the option at fault, as an ICMP Parameter Problem reports it (and
/// where Linux points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadOption {
    pub pointer: u8,
}

/// End of Option List.
pub const OPT_END: u8 = 0;
/// No Operation.
pub const OPT_NOP: u8 = 1;

/// Walks an option list (the bytes after the fixed header): End of Option List ends it,
/// No Operation is one octet, and every other option has a length octet that counts its
/// type and length octets, at least 2 and not past the header's end. Well-formed
/// options of any type pass; their contents are not interpreted (the engine acts on
/// none of them).
pub fn check_options(options: &[u8]) -> core::result::Result<(), BadOption> {
    let mut at = 0;
    while at < options.len() {
        match options[at] {
            OPT_END => return Ok(()),
            OPT_NOP => at += 1,
            _ => {
                let bad = BadOption { pointer: (Ipv4Packet::<&[u8]>::MIN_HEADER_LEN + at) as u8 };
                let len = *options.get(at + 1).ok_or(bad)? as usize;
                if len < 2 || len > options.len() - at {
                    return Err(bad);
                }
                at += len;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // A published UDP/IPv4 header (checksum b861) followed by 95 payload bytes.
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn packet_bytes() -> Vec<u8> {
        let mut v = HEADER.to_vec();
        v.extend((0..95u8).map(|i| i.wrapping_mul(7)));
        v
    }

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 168, 0, 1),
            dst_addr: Ipv4Addr::new(192, 168, 0, 199),
            protocol: IpProtocol::Udp,
            payload_len: 95,
            ttl: 64,
        }
    }

    #[test]
    fn parse_golden() {
        let bytes = packet_bytes();
        let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 115);
        assert_eq!(p.ident(), 0);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert_eq!(p.checksum(), 0xb861);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(p.options().is_empty());
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &bytes[20..]);
        assert_eq!(p.into_payload(), &bytes[20..]);
        assert_eq!(Ipv4Repr::parse(&p, true).unwrap(), repr());
    }

    #[test]
    fn emit_golden() {
        let bytes = packet_bytes();
        let mut buf = vec![0u8; 115];
        buf[20..].copy_from_slice(&bytes[20..]);
        let r = repr();
        assert_eq!(r.buffer_len(), 20);
        r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), 0);
        assert_eq!(buf, bytes);
    }

    #[test]
    fn options_and_padding() {
        // IHL 6 with a 4-byte option (NOP NOP NOP EOL), 3 payload bytes, 5 bytes of padding.
        let mut buf = [0u8; 32];
        buf[24..27].copy_from_slice(&[0xaa, 0xbb, 0xcc]);
        {
            let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
            p.set_version(4);
            p.set_header_len(24);
            p.set_total_len(27);
            p.set_ttl(1);
            p.set_protocol(IpProtocol::Unknown(253));
            p.options_mut().copy_from_slice(&[1, 1, 1, 0]);
            p.set_dscp(46);
            p.set_ecn(2);
            p.fill_checksum();
        }
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc]);
        assert_eq!((p.dscp(), p.ecn()), (46, 2));
        assert!(p.verify_checksum());
        let r = Ipv4Repr::parse(&p, true).unwrap();
        assert_eq!(r.payload_len, 3);
        assert_eq!(r.protocol, IpProtocol::Unknown(253));
    }

    #[test]
    fn fragments_and_checksum() {
        let mut bytes = packet_bytes();
        {
            let mut p = Ipv4Packet::new_unchecked(&mut bytes[..]);
            p.set_more_frags(true);
            p.set_frag_offset(1480);
            assert!(p.more_frags() && p.dont_frag());
            assert_eq!(p.frag_offset(), 1480);
            p.set_dont_frag(false);
            assert!(!p.dont_frag() && p.more_frags());
        }
        let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, true), Err(Error::Checksum));
        assert_eq!(Ipv4Repr::parse(&p, false), Err(Error::Unsupported));
        {
            let mut p = Ipv4Packet::new_unchecked(&mut bytes[..]);
            p.set_more_frags(false);
            p.fill_checksum();
        }
        // Last fragment: offset alone marks it.
        assert_eq!(
            Ipv4Repr::parse(&Ipv4Packet::new_checked(&bytes[..]).unwrap(), true),
            Err(Error::Unsupported)
        );
    }

    #[test]
    fn check_len_errors() {
        let bytes = packet_bytes();
        for len in 0..bytes.len() {
            // Short of the fixed header below 20, short of total_len (115) above.
            assert_eq!(
                Ipv4Packet::new_checked(&bytes[..len]).unwrap_err(),
                Error::Truncated,
                "len {len}"
            );
            assert_eq!(
                Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&bytes[..len]), true),
                Err(Error::Truncated)
            );
        }
        let with = |i: usize, v: u8| {
            let mut b = bytes.clone();
            b[i] = v;
            Ipv4Packet::new_checked(b).map(|_| ())
        };
        assert_eq!(with(0, 0x65), Err(Error::Malformed)); // version 6
        assert_eq!(with(0, 0x44), Err(Error::Malformed)); // IHL 4
        assert_eq!(with(0, 0x45), Ok(()));
        let mut b = bytes[..40].to_vec();
        b[0] = 0x4f; // 60-byte header in a 40-byte buffer
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
        let mut b = bytes.clone();
        b[2..4].copy_from_slice(&19u16.to_be_bytes()); // total_len < header_len
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(p) = Ipv4Packet::new_checked(&data[..]) {
                let _ = (p.options(), p.payload(), p.verify_checksum(), p.frag_offset());
                let _ = Ipv4Repr::parse(&p, true);
                let _ = Ipv4Repr::parse(&p, false);
            }
        }

        #[test]
        fn header_like_bytes_never_panic(
            ihl in 0u8..16, total in 0u16..80,
            rest in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut data = vec![0x40 | ihl, 0, 0, 0];
            data[2..4].copy_from_slice(&total.to_be_bytes());
            data.extend_from_slice(&rest);
            if let Ok(p) = Ipv4Packet::new_checked(&data[..]) {
                prop_assert_eq!(p.payload().len() + p.header_len(), usize::from(total));
                let _ = (p.options(), Ipv4Repr::parse(&p, false));
            }
        }

        #[test]
        fn roundtrip(
            src in any::<u32>(), dst in any::<u32>(), proto in any::<u8>(),
            payload_len in 0usize..2000, ttl in any::<u8>(), ident in any::<u16>(),
        ) {
            let r = Ipv4Repr {
                src_addr: Ipv4Addr::from(src),
                dst_addr: Ipv4Addr::from(dst),
                protocol: IpProtocol::from(proto),
                payload_len,
                ttl,
            };
            let mut buf = vec![0u8; r.buffer_len() + payload_len];
            r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ident);
            let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(p.ident(), ident);
            prop_assert_eq!(Ipv4Repr::parse(&p, true).unwrap(), r);
        }
    }

    #[test]
    fn option_lists() {
        // Well formed: empty; padding; NOP then End; Record Route (7) with room for one
        // address; an unknown option (0x9e, length 4); End followed by garbage.
        for ok in [&[][..], &[0, 0, 0, 0], &[1, 1, 1, 0], &[7, 7, 4, 0, 0, 0, 0, 0], &[0x9e, 4, 0xaa, 0xbb], &[0, 0xff, 0x01, 0x02]] {
            assert_eq!(check_options(ok), Ok(()), "{ok:?}");
        }
        // Length past the header: Record Route claiming 39 octets in a 24-byte header.
        assert_eq!(check_options(&[7, 39, 4, 0]), Err(BadOption { pointer: 20 }));
        // Length 0, and 1 (Loose Source Route), after a NOP: the pointer moves with it.
        assert_eq!(check_options(&[1, 0x83, 0, 0]), Err(BadOption { pointer: 21 }));
        assert_eq!(check_options(&[0x83, 1, 0, 0]), Err(BadOption { pointer: 20 }));
        // A type octet with no room for its length.
        assert_eq!(check_options(&[1, 1, 1, 7]), Err(BadOption { pointer: 23 }));
        // The second option runs past the end.
        assert_eq!(check_options(&[0x9e, 2, 0x44, 12, 5, 0, 0, 0]), Err(BadOption { pointer: 22 }));
    }
}
