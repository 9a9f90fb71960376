//! ARP packets (RFC 826), Ethernet/IPv4 layout only.
//!
//! The view uses the fixed 28-byte layout of hardware length 6 and protocol length 4;
//! [`ArpRepr::parse`] rejects packets whose header declares anything else.

use std::net::Ipv4Addr;

use super::bytes::{read_ipv4, read_u16, write_ipv4, write_u16};
use super::{Error, EtherType, EthernetAddress, Result};

/// The ARP hardware type (`ar$hrd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpHardware {
    /// 1
    Ethernet,
    Unknown(u16),
}

impl From<u16> for ArpHardware {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpHardware::Ethernet,
            other => ArpHardware::Unknown(other),
        }
    }
}

impl From<ArpHardware> for u16 {
    fn from(h: ArpHardware) -> u16 {
        match h {
            ArpHardware::Ethernet => 1,
            ArpHardware::Unknown(v) => v,
        }
    }
}

/// The ARP opcode (`ar$op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// 1
    Request,
    /// 2
    Reply,
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(op: ArpOperation) -> u16 {
        match op {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(v) => v,
        }
    }
}

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
    pub const END: usize = 28;
}

/// A view of an Ethernet/IPv4 ARP packet. Bytes past the 28th (Ethernet padding) are
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Length of an Ethernet/IPv4 ARP packet.
    pub const LEN: usize = field::END;

    /// Wraps a buffer without checking it; accessors may panic if it is too short.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps a buffer, checking it holds 28 bytes, so no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer is shorter than 28 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::END {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn hardware_type(&self) -> ArpHardware {
        ArpHardware::from(read_u16(&self.buffer.as_ref()[field::HTYPE]))
    }

    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(read_u16(&self.buffer.as_ref()[field::PTYPE]))
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(read_u16(&self.buffer.as_ref()[field::OPER]))
    }

    pub fn source_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    pub fn source_protocol_addr(&self) -> Ipv4Addr {
        read_ipv4(&self.buffer.as_ref()[field::SPA])
    }

    pub fn target_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        read_ipv4(&self.buffer.as_ref()[field::TPA])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    pub fn set_hardware_type(&mut self, v: ArpHardware) {
        write_u16(&mut self.buffer.as_mut()[field::HTYPE], v.into());
    }

    pub fn set_protocol_type(&mut self, v: EtherType) {
        write_u16(&mut self.buffer.as_mut()[field::PTYPE], v.into());
    }

    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }

    pub fn set_operation(&mut self, v: ArpOperation) {
        write_u16(&mut self.buffer.as_mut()[field::OPER], v.into());
    }

    pub fn set_source_hardware_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(a.as_bytes());
    }

    pub fn set_source_protocol_addr(&mut self, a: Ipv4Addr) {
        write_ipv4(&mut self.buffer.as_mut()[field::SPA], a);
    }

    pub fn set_target_hardware_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::THA].copy_from_slice(a.as_bytes());
    }

    pub fn set_target_protocol_addr(&mut self, a: Ipv4Addr) {
        write_ipv4(&mut self.buffer.as_mut()[field::TPA], a);
    }
}

/// An Ethernet/IPv4 ARP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    pub operation: ArpOperation,
    pub source_hardware_addr: EthernetAddress,
    pub source_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: EthernetAddress,
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// `Truncated` if shorter than 28 bytes; `Unsupported` unless the header declares
    /// Ethernet (1) / IPv4 (0x0800) with lengths 6 / 4. Unknown opcodes are passed
    /// through as [`ArpOperation::Unknown`] for the caller to ignore.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &ArpPacket<&T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != ArpHardware::Ethernet
            || packet.protocol_type() != EtherType::Ipv4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hardware_addr: packet.source_hardware_addr(),
            source_protocol_addr: packet.source_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// Always 28.
    pub const fn buffer_len(&self) -> usize {
        field::END
    }

    /// Writes all 28 bytes. Panics if the buffer is shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut ArpPacket<&mut T>) {
        packet.set_hardware_type(ArpHardware::Ethernet);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(self.source_hardware_addr);
        packet.set_source_protocol_addr(self.source_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{EthernetFrame, EthernetRepr};
    use super::*;
    use proptest::prelude::*;

    const HOST: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    const ROUTER: EthernetAddress = EthernetAddress([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);

    // "Who has 192.168.1.1? Tell 192.168.1.100", broadcast, padded to 60 bytes.
    const REQUEST_FRAME: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, //
        0x00, 0x01, // htype Ethernet
        0x08, 0x00, // ptype IPv4
        0x06, 0x04, // hlen, plen
        0x00, 0x01, // request
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // sha
        0xc0, 0xa8, 0x01, 0x64, // spa 192.168.1.100
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha unknown
        0xc0, 0xa8, 0x01, 0x01, // tpa 192.168.1.1
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    // "192.168.1.1 is at 00:1a:2b:3c:4d:5e", unicast back, unpadded (as sent by a host).
    const REPLY_FRAME: [u8; 42] = [
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x08, 0x06, //
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, //
        0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0xc0, 0xa8, 0x01, 0x01, //
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8, 0x01, 0x64,
    ];

    fn request() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: HOST,
            source_protocol_addr: Ipv4Addr::new(192, 168, 1, 100),
            target_hardware_addr: EthernetAddress::ZERO,
            target_protocol_addr: Ipv4Addr::new(192, 168, 1, 1),
        }
    }

    fn reply() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: ROUTER,
            source_protocol_addr: Ipv4Addr::new(192, 168, 1, 1),
            target_hardware_addr: HOST,
            target_protocol_addr: Ipv4Addr::new(192, 168, 1, 100),
        }
    }

    #[test]
    fn parse_request_golden() {
        let frame = EthernetFrame::new_checked(&REQUEST_FRAME[..]).unwrap();
        assert_eq!(frame.ethertype(), EtherType::Arp);
        let packet = ArpPacket::new_checked(frame.payload()).unwrap();
        assert_eq!(packet.hardware_type(), ArpHardware::Ethernet);
        assert_eq!(packet.protocol_type(), EtherType::Ipv4);
        assert_eq!(packet.hardware_len(), 6);
        assert_eq!(packet.protocol_len(), 4);
        assert_eq!(packet.operation(), ArpOperation::Request);
        assert_eq!(packet.source_hardware_addr(), HOST);
        assert_eq!(
            packet.source_protocol_addr(),
            Ipv4Addr::new(192, 168, 1, 100)
        );
        assert_eq!(packet.target_hardware_addr(), EthernetAddress::ZERO);
        assert_eq!(packet.target_protocol_addr(), Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(ArpRepr::parse(&packet).unwrap(), request());
    }

    #[test]
    fn parse_reply_golden() {
        let frame = EthernetFrame::new_checked(&REPLY_FRAME[..]).unwrap();
        let packet = ArpPacket::new_checked(frame.payload()).unwrap();
        assert_eq!(packet.operation(), ArpOperation::Reply);
        assert_eq!(ArpRepr::parse(&packet).unwrap(), reply());
    }

    #[test]
    fn emit_golden() {
        let eth = EthernetRepr {
            src_addr: ROUTER,
            dst_addr: HOST,
            ethertype: EtherType::Arp,
        };
        let arp = reply();
        let mut buf = vec![0u8; eth.buffer_len() + arp.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
        assert_eq!(buf, REPLY_FRAME);

        let mut buf = [0u8; 60];
        let eth = EthernetRepr {
            src_addr: HOST,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::Arp,
        };
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        request().emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
        assert_eq!(buf, REQUEST_FRAME);
    }

    #[test]
    fn truncated_at_every_length() {
        let payload = &REQUEST_FRAME[14..];
        for len in 0..ArpPacket::<&[u8]>::LEN {
            assert_eq!(
                ArpPacket::new_checked(&payload[..len]).unwrap_err(),
                Error::Truncated
            );
            assert_eq!(
                ArpRepr::parse(&ArpPacket::new_unchecked(&payload[..len])),
                Err(Error::Truncated)
            );
        }
        assert!(ArpPacket::new_checked(&payload[..28]).is_ok());
    }

    #[test]
    fn unsupported_layouts() {
        let base: [u8; 28] = REQUEST_FRAME[14..42].try_into().unwrap();
        for (at, value) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut b = base;
            b[at] = value;
            assert_eq!(
                ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()),
                Err(Error::Unsupported)
            );
        }
        // Unknown opcodes are passed through.
        let mut b = base;
        b[7] = 9;
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap())
                .unwrap()
                .operation,
            ArpOperation::Unknown(9)
        );
    }

    fn any_eth() -> impl Strategy<Value = EthernetAddress> {
        any::<[u8; 6]>().prop_map(EthernetAddress)
    }

    fn any_ip() -> impl Strategy<Value = Ipv4Addr> {
        any::<u32>().prop_map(Ipv4Addr::from)
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(packet) = ArpPacket::new_checked(&data[..]) {
                let _ = ArpRepr::parse(&packet);
            }
        }

        #[test]
        fn roundtrip(
            op in any::<u16>(),
            sha in any_eth(), spa in any_ip(), tha in any_eth(), tpa in any_ip(),
        ) {
            let r = ArpRepr {
                operation: ArpOperation::from(op),
                source_hardware_addr: sha,
                source_protocol_addr: spa,
                target_hardware_addr: tha,
                target_protocol_addr: tpa,
            };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
            prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap(), r);
        }
    }
}
