//! Flow-completion time (FCT): how long ordinary TCP transfers take, on the engine and
//! on the very same services over kernel sockets, under loss, with one or two queues,
//! busy or adaptive polling.
//!
//! * [`plan`]: the options (`--fct-*`) and the matrix they span.
//! * [`client`]: the transfers on kernel sockets (echo, download, upload), fresh or on
//!   one reused connection, each bounded by a timeout.
//! * [`curl`]: HTTP POSTs through the real `curl` binary.
//! * [`counters`]: the server's retransmissions, RTOs and spurious retransmissions, from
//!   `bypass stat --json` or the kernel's `/proc/net/{snmp,netstat}`, read strictly.
//! * [`loss`]: random drops with iptables in the client's namespace, always removed.
//! * [`summary`]: exact percentiles of a handful of samples, ratios.
//! * [`table`]: the rows of `results.json` and their Markdown table.
//! * [`run`]: the orchestration (servers, queues, loss, the engine-to-engine rows).

pub mod client;
pub mod counters;
pub mod curl;
pub mod loss;
pub mod plan;
pub mod run;
pub mod summary;
pub mod table;

pub use plan::{Conn, FctPlan, Kind, PlanError};
pub use summary::{FctStats, Outcome, Outcomes};
pub use table::{render_fct, FctRow, FctSide, SideCounters};

/// Byte `i` of a chargen stream: `0x20 + i % 95` (printable ASCII, repeating).
pub use crate::load::chargen_byte;

/// Whether `data`, found at stream offset `off`, follows the chargen pattern; `None` if
/// it does, else the offset of the first wrong byte.
pub fn check_chargen(data: &[u8], off: u64) -> Option<u64> {
    // Compare a period at a time against a precomputed table (the per-byte modulo is slow
    // at 16 MiB per transfer).
    static TABLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| (0..95 * 2).map(chargen_byte).collect());
    let mut pos = (off % 95) as usize;
    let mut done = 0usize;
    while done < data.len() {
        let m = (data.len() - done).min(95);
        let want = &table[pos..pos + m];
        let got = &data[done..done + m];
        if want != got {
            let k = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0);
            return Some(off + (done + k) as u64);
        }
        done += m;
        pos = (pos + m) % 95;
    }
    None
}

/// The bytes of transfer `seed` for echo and upload: pseudo-random (xorshift64*), so a
/// shifted, stale or mixed-up echo cannot match by accident.
pub fn transfer_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Makes a prepared [`transfer_bytes`] buffer the bytes of transfer `seed`: its first
/// eight bytes carry the seed (fewer when shorter). For a generator that runs inside an
/// engine's worker, where generating 16 MiB (~8 ms on this VM) would stall the worker's
/// ACKs and data mid-run: it prepares one buffer per size before the engine starts and
/// stamps it per transfer, so a stale or mixed-up echo still cannot match.
pub fn stamp_transfer(buf: &mut [u8], seed: u64) {
    let n = buf.len().min(8);
    buf[..n].copy_from_slice(&seed.to_le_bytes()[..n]);
}

/// Offset of the first byte where `got` differs from `want` (same length assumed).
pub fn first_difference(want: &[u8], got: &[u8]) -> Option<usize> {
    if want == got {
        return None;
    }
    Some(want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chargen_check_finds_the_first_wrong_byte_at_any_offset() {
        let stream: Vec<u8> = (0..100_000).map(chargen_byte).collect();
        assert_eq!(check_chargen(&stream, 0), None);
        assert_eq!(check_chargen(&stream[12_345..67_890], 12_345), None);
        assert_eq!(check_chargen(&stream[333..777], 334), Some(334));
        let mut bad = stream.clone();
        bad[90_001] ^= 1;
        assert_eq!(check_chargen(&bad[500..], 500), Some(90_001));
        assert_eq!(check_chargen(&bad[90_001..90_002], 90_001), Some(90_001));
        assert_eq!(check_chargen(&[], 7), None);
        // A reused connection's pattern restarts at 0: the second transfer checked at
        // offset 0 is right, at the running offset it is wrong.
        let second = &stream[..1000];
        assert_eq!(check_chargen(second, 0), None);
        assert!(check_chargen(second, 1000).is_some());
    }

    #[test]
    fn transfer_bytes_differ_by_seed_and_are_stable() {
        let a = transfer_bytes(1000, 1);
        assert_eq!(a.len(), 1000);
        assert_eq!(a, transfer_bytes(1000, 1));
        assert_ne!(a, transfer_bytes(1000, 2));
        assert_eq!(&transfer_bytes(1003, 1)[..1000], &a[..]);
        assert_eq!(first_difference(&a, &a), None);
        let mut b = a.clone();
        b[700] ^= 0x80;
        assert_eq!(first_difference(&a, &b), Some(700));
    }

    #[test]
    fn stamped_transfers_differ_only_in_their_first_eight_bytes() {
        let mut a = transfer_bytes(1000, 0);
        let mut b = a.clone();
        stamp_transfer(&mut a, 1);
        stamp_transfer(&mut b, 2);
        assert_eq!(first_difference(&a, &b), Some(0));
        assert_eq!(a[8..], b[8..]);
        let mut short = vec![0u8; 3];
        stamp_transfer(&mut short, 0x0302_01);
        assert_eq!(short, [1, 2, 3]);
    }
}
