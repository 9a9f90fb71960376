//! Initial sequence numbers (RFC 6528): `ISN = M + F(localip, localport, remoteip,
//! remoteport, secretkey)`, where `M` is a clock ticking every 4 microseconds and `F` a
//! keyed pseudo-random function. `F` here is SipHash-2-4 (Aumasson and Bernstein), a
//! small self-contained implementation so the function stays stable across Rust
//! releases (std's `DefaultHasher` makes no such promise). The key is drawn at random
//! once, when the stack starts, and handed in: this module does no I/O.

use std::net::Ipv4Addr;

use crate::time::Instant;
use crate::wire::tcp::SeqNumber;

/// SipHash-2-4 of `data` under `key`.
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes(key[0..8].try_into().unwrap_or([0; 8]));
    let k1 = u64::from_le_bytes(key[8..16].try_into().unwrap_or([0; 8]));
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13);
        v[1] ^= v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16);
        v[3] ^= v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21);
        v[3] ^= v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17);
        v[1] ^= v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// RFC 6528 ISN generator for one stack: holds the secret key.
#[derive(Clone)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IsnGenerator { key: <secret> }")
    }
}

impl IsnGenerator {
    /// `key` must be random and secret (drawn once at start-up).
    pub fn new(key: [u8; 16]) -> Self {
        IsnGenerator { key }
    }

    /// The ISN for a connection from `local` to `remote` opened at `now`.
    pub fn isn(&self, now: Instant, local: (Ipv4Addr, u16), remote: (Ipv4Addr, u16)) -> SeqNumber {
        let mut m = [0u8; 12];
        m[0..4].copy_from_slice(&local.0.octets());
        m[4..6].copy_from_slice(&local.1.to_be_bytes());
        m[6..10].copy_from_slice(&remote.0.octets());
        m[10..12].copy_from_slice(&remote.1.to_be_bytes());
        let f = siphash24(&self.key, &m) as u32;
        let ticks = (now.total_micros() / 4) as u32;
        SeqNumber(ticks.wrapping_add(f))
    }

    /// The timestamp clock offset (RFC 7323 §7.1) for connections between two addresses:
    /// keyed, so the clock is not exposed, but the same for every connection of the pair
    /// (as Linux's `secure_tcp_ts_off`), so a new connection's timestamps continue the
    /// old one's and a peer holding the old one in TIME-WAIT accepts its SYN (RFC 6191).
    pub fn ts_offset(&self, local: Ipv4Addr, remote: Ipv4Addr) -> u32 {
        let mut m = [0u8; 9];
        m[0..4].copy_from_slice(&local.octets());
        m[4..8].copy_from_slice(&remote.octets());
        m[8] = b't';
        (siphash24(&self.key, &m) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ref_key() -> [u8; 16] {
        core::array::from_fn(|i| i as u8)
    }

    #[test]
    fn siphash_reference_vectors() {
        // From the SipHash paper / reference implementation (vectors.h).
        assert_eq!(siphash24(&ref_key(), &[]), 0x726f_db47_dd0e_0e31);
        let msg: Vec<u8> = (0u8..15).collect();
        assert_eq!(siphash24(&ref_key(), &msg), 0xa129_ca61_49be_45e5);
        let msg8: Vec<u8> = (0u8..8).collect();
        assert_eq!(siphash24(&ref_key(), &msg8), 0x93f5_f579_9a93_2462);
    }

    #[test]
    fn timestamp_offset_per_address_pair() {
        let g = IsnGenerator::new(ref_key());
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(g.ts_offset(a, b), g.ts_offset(a, b));
        assert_ne!(g.ts_offset(a, b), g.ts_offset(b, a));
        assert_ne!(g.ts_offset(a, b), IsnGenerator::new([9; 16]).ts_offset(a, b));
    }

    #[test]
    fn isn_depends_on_tuple_key_and_clock() {
        let g = IsnGenerator::new(ref_key());
        let l = (Ipv4Addr::new(10, 0, 0, 1), 1000);
        let r = (Ipv4Addr::new(10, 0, 0, 2), 80);
        let t = Instant::from_secs(1);
        let a = g.isn(t, l, r);
        assert_eq!(a, g.isn(t, l, r));
        assert_ne!(a, g.isn(t, (l.0, 1001), r));
        assert_ne!(a, IsnGenerator::new([7; 16]).isn(t, l, r));
        // The clock advances the ISN by one every 4 us.
        assert_eq!(g.isn(t + crate::time::Duration::from_micros(400), l, r).diff(a), 100);
    }
}
