//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the SYN-ACK's
//! sequence number encodes what the connection needs, and no state is kept until the
//! client's ACK returns it.
//!
//! Layout of the cookie (our ISN): `t:5 | mss:3 | wscale:4 | sack:1 | mac:19`, where `t`
//! counts 64-second periods (a cookie is valid for two of them), `mss` indexes
//! [`MSS_TABLE`], `wscale` is the peer's window shift (15 = none), and `mac` is a keyed
//! SipHash of the 4-tuple, the client's ISN and the other fields. Timestamps need no
//! bits: an ACK carrying the option proves both sides offered it.

use super::flow::FlowKey;
use crate::tcp::isn::siphash24;
use crate::time::Instant;
use crate::wire::SeqNumber;

/// MSS values a cookie can carry; the largest not above the peer's is chosen.
pub const MSS_TABLE: [u16; 8] = [536, 1200, 1300, 1360, 1400, 1440, 1460, 8960];
const NO_WSCALE: u32 = 15;

/// What a valid cookie gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieInfo {
    pub mss: u16,
    pub window_scale: Option<u8>,
    pub sack: bool,
}

#[derive(Debug, Clone)]
pub struct SynCookies {
    key: [u8; 16],
}

fn period(now: Instant) -> u32 {
    ((now.total_micros() / 1_000_000 / 64) & 31) as u32
}

impl SynCookies {
    pub fn new(key: [u8; 16]) -> Self {
        SynCookies { key }
    }

    fn mac(&self, key: &FlowKey, peer_isn: SeqNumber, fields: u32) -> u32 {
        let mut m = [0u8; 20];
        m[0..4].copy_from_slice(&key.local.octets());
        m[4..6].copy_from_slice(&key.local_port.to_be_bytes());
        m[6..10].copy_from_slice(&key.remote.octets());
        m[10..12].copy_from_slice(&key.remote_port.to_be_bytes());
        m[12..16].copy_from_slice(&peer_isn.0.to_be_bytes());
        m[16..20].copy_from_slice(&fields.to_be_bytes());
        (siphash24(&self.key, &m) as u32) & 0x7ffff
    }

    /// The ISN to answer `peer_isn`'s SYN with.
    pub fn make(&self, now: Instant, key: &FlowKey, peer_isn: SeqNumber, info: CookieInfo) -> SeqNumber {
        let mss_idx = MSS_TABLE.iter().rposition(|&m| m <= info.mss).unwrap_or(0) as u32;
        let ws = info.window_scale.map_or(NO_WSCALE, |w| u32::from(w.min(14)));
        let fields = period(now) << 27 | mss_idx << 24 | ws << 20 | u32::from(info.sack) << 19;
        SeqNumber(fields | self.mac(key, peer_isn, fields))
    }

    /// Checks the cookie an ACK returns (`ack - 1`) for the client ISN `seq - 1`.
    pub fn check(&self, now: Instant, key: &FlowKey, ack_seq: SeqNumber, ack: SeqNumber) -> Option<CookieInfo> {
        let cookie = ack.0.wrapping_sub(1);
        let peer_isn = SeqNumber(ack_seq.0.wrapping_sub(1));
        let fields = cookie & !0x7ffff;
        let t = cookie >> 27;
        let age = (period(now) + 32 - t) % 32;
        if age > 1 || self.mac(key, peer_isn, fields) != cookie & 0x7ffff {
            return None;
        }
        let ws = (cookie >> 20) & 0xf;
        Some(CookieInfo {
            mss: MSS_TABLE[((cookie >> 24) & 7) as usize],
            window_scale: (ws != NO_WSCALE).then_some(ws as u8),
            sack: cookie >> 19 & 1 == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key() -> FlowKey {
        FlowKey { local: Ipv4Addr::new(10, 0, 0, 2), local_port: 80, remote: Ipv4Addr::new(10, 0, 0, 1), remote_port: 40001 }
    }

    #[test]
    fn round_trip_within_two_periods() {
        let c = SynCookies::new([7; 16]);
        let t = Instant::from_secs(1000);
        let info = CookieInfo { mss: 1460, window_scale: Some(7), sack: true };
        let isn = c.make(t, &key(), SeqNumber(555), info);
        assert_eq!(c.check(t, &key(), SeqNumber(556), isn + 1), Some(info));
        assert_eq!(c.check(Instant::from_secs(1000 + 64), &key(), SeqNumber(556), isn + 1), Some(info));
        assert_eq!(c.check(Instant::from_secs(1000 + 200), &key(), SeqNumber(556), isn + 1), None, "expired");
    }

    #[test]
    fn forged_or_mismatched_cookies_fail() {
        let c = SynCookies::new([7; 16]);
        let t = Instant::from_secs(5);
        let info = CookieInfo { mss: 1300, window_scale: None, sack: false };
        let isn = c.make(t, &key(), SeqNumber(1), info);
        assert_eq!(c.check(t, &key(), SeqNumber(2), isn + 1).unwrap(), info);
        assert!(c.check(t, &key(), SeqNumber(3), isn + 1).is_none(), "other client ISN");
        assert!(c.check(t, &key(), SeqNumber(2), isn + 2).is_none(), "other cookie");
        let mut k = key();
        k.remote_port += 1;
        assert!(c.check(t, &k, SeqNumber(2), isn + 1).is_none(), "other flow");
        assert!(SynCookies::new([8; 16]).check(t, &key(), SeqNumber(2), isn + 1).is_none(), "other key");
    }

    #[test]
    fn mss_rounds_down() {
        let c = SynCookies::new([1; 16]);
        let t = Instant::from_secs(5);
        let isn = c.make(t, &key(), SeqNumber(9), CookieInfo { mss: 1450, window_scale: Some(14), sack: true });
        let got = c.check(t, &key(), SeqNumber(10), isn + 1).unwrap();
        assert_eq!((got.mss, got.window_scale), (1440, Some(14)));
        let isn = c.make(t, &key(), SeqNumber(9), CookieInfo { mss: 100, window_scale: None, sack: false });
        assert_eq!(c.check(t, &key(), SeqNumber(10), isn + 1).unwrap().mss, 536);
    }
}
