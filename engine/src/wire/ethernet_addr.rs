//! IEEE 802 MAC-48 addresses.

use core::fmt;

/// A six-octet Ethernet (MAC-48) address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);
    pub const ZERO: EthernetAddress = EthernetAddress([0; 6]);

    /// Builds an address from a slice of exactly six bytes. Panics otherwise, so only
    /// call it on slices whose length the caller has checked (a fixed field range).
    pub fn from_bytes(b: &[u8]) -> Self {
        let mut a = [0u8; 6];
        a.copy_from_slice(b);
        EthernetAddress(a)
    }
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
    /// Group bit set (includes broadcast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast() && *self != Self::ZERO
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl core::str::FromStr for EthernetAddress {
    type Err = ();
    /// Parses `aa:bb:cc:dd:ee:ff`.
    fn from_str(s: &str) -> Result<Self, ()> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(':') {
            if n == 6 || part.len() != 2 {
                return Err(());
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| ())?;
            n += 1;
        }
        if n == 6 { Ok(EthernetAddress(out)) } else { Err(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_and_format() {
        let a: EthernetAddress = "02:00:0a:01:02:03".parse().unwrap();
        assert!(a.is_unicast());
        assert_eq!(a.to_string(), "02:00:0a:01:02:03");
        assert!(EthernetAddress::BROADCAST.is_multicast());
        assert!(!EthernetAddress::ZERO.is_unicast());
        assert!("02:00:0a:01:02".parse::<EthernetAddress>().is_err());
        assert!("02:00:0a:01:02:zz".parse::<EthernetAddress>().is_err());
    }
}
