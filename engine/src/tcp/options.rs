//! Option negotiation on the handshake: MSS (RFC 9293 §3.7.1; 536 when the peer sends
//! none), window scaling and timestamps (RFC 7323 §2, §3: used only when both SYNs carry
//! them), SACK-permitted (RFC 2018 §2).

use super::TcpConfig;

/// MSS assumed when the peer announces none (RFC 9293 §3.7.1).
pub const DEFAULT_MSS: usize = 536;
/// Floor on the peer's MSS: tiny values would make us emit floods of tiny segments.
pub const MIN_MSS: usize = 64;
/// Bytes the timestamps option takes in every segment once negotiated.
pub const TS_OPTION_LEN: usize = 12;
/// Largest window scale shift (RFC 7323 §2.3).
pub const MAX_WINDOW_SHIFT: u8 = 14;

/// The window scale we offer for a receive buffer: the smallest shift that lets the
/// 16-bit window field cover it.
pub fn window_shift_for(buffer: usize) -> u8 {
    let mut shift = 0;
    while shift < MAX_WINDOW_SHIFT && (buffer >> shift) > 0xffff {
        shift += 1;
    }
    shift
}

/// What the handshake settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Largest segment (payload plus options) we may send: min(peer MSS, our MSS).
    pub mss: usize,
    /// Shift applied to the peer's window field.
    pub snd_shift: u8,
    /// Shift applied to our window field.
    pub rcv_shift: u8,
    /// Both SYNs carried window scale (the shifts may still be zero).
    pub window_scaling: bool,
    pub timestamps: bool,
    pub sack: bool,
}

impl Negotiated {
    /// Payload of a full segment carrying only the options every segment carries.
    pub fn effective_mss(&self) -> usize {
        self.mss - if self.timestamps { TS_OPTION_LEN } else { 0 }
    }
}

/// Settles the options from the peer's SYN options, given that our SYN offers (or
/// will offer) what `cfg` enables.
pub fn negotiate(cfg: &TcpConfig, peer_mss: Option<u16>, peer_shift: Option<u8>, peer_ts: bool, peer_sack: bool) -> Negotiated {
    let peer_mss = peer_mss.map_or(DEFAULT_MSS, usize::from).max(MIN_MSS);
    let ours = usize::from(cfg.mss).max(MIN_MSS);
    let (snd_shift, rcv_shift, window_scaling) = match peer_shift {
        Some(s) if cfg.window_scaling => (s.min(MAX_WINDOW_SHIFT), window_shift_for(cfg.recv_buffer), true),
        _ => (0, 0, false),
    };
    Negotiated {
        mss: peer_mss.min(ours),
        snd_shift,
        rcv_shift,
        window_scaling,
        timestamps: cfg.timestamps && peer_ts,
        sack: cfg.sack && peer_sack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts() {
        assert_eq!(window_shift_for(65_535), 0);
        assert_eq!(window_shift_for(65_536), 1);
        assert_eq!(window_shift_for(256 * 1024), 3);
        assert_eq!(window_shift_for(usize::MAX), 14);
    }

    #[test]
    fn negotiation() {
        let cfg = TcpConfig::default();
        let n = negotiate(&cfg, None, None, false, false);
        assert_eq!(n, Negotiated { mss: 536, snd_shift: 0, rcv_shift: 0, window_scaling: false, timestamps: false, sack: false });
        assert_eq!(n.effective_mss(), 536);
        let n = negotiate(&cfg, Some(9000), Some(7), true, true);
        assert_eq!(n, Negotiated { mss: 1460, snd_shift: 7, rcv_shift: 3, window_scaling: true, timestamps: true, sack: true });
        assert_eq!(n.effective_mss(), 1448);
        let n = negotiate(&cfg, Some(1), Some(200), true, false);
        assert_eq!((n.mss, n.snd_shift), (MIN_MSS, 14));
        let off = TcpConfig { window_scaling: false, timestamps: false, sack: false, ..cfg };
        let n = negotiate(&off, Some(1460), Some(7), true, true);
        assert_eq!((n.snd_shift, n.rcv_shift, n.timestamps, n.sack), (0, 0, false, false));
    }
}
