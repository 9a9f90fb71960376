//! Wire formats: zero-copy views (`Packet<T: AsRef<[u8]>>`) over frame bytes with
//! checked constructors for untrusted input, and `Repr` structs with `parse`/`emit`.
//! No I/O, no clocks, no `unsafe`.

mod error;
mod ethernet_addr;

pub use error::{Error, Result};
pub use ethernet_addr::EthernetAddress;

mod bytes;
pub mod checksum;
pub mod arp;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod reflect;
pub mod tcp;
mod tcp_seq;
pub mod udp;

pub use arp::{ArpHardware, ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetFrame, EthernetRepr};
pub use icmpv4::{unreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr};
pub use ipv4::{check_options, BadOption, IpProtocol, Ipv4Packet, Ipv4Repr};
pub use tcp::{
    PseudoHeader, SeqNumber, TcpFlags, TcpOption, TcpOptionIter, TcpOptions, TcpPacket, TcpRepr,
};
pub use udp::{UdpPacket, UdpRepr};
