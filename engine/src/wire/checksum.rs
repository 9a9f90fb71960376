//! The Internet checksum: RFC 1071 (computation) and RFC 1624 (incremental update).
//!
//! The checksum is the 16-bit one's complement of the one's complement sum of the data
//! taken as big-endian 16-bit words (an odd trailing byte is padded with a zero byte).
//!
//! Partial sums ([`ones_sum`], [`pseudo_header_v4`]) are plain `u32` values that can be
//! added together (or chained through `ones_sum`'s `initial`) before [`finish`]. When a
//! message is summed in pieces, every piece but the last must have an even length.

use std::net::Ipv4Addr;

/// Folds a wide accumulator down to 16 bits with end-around carry.
#[inline]
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Adds `data`, as big-endian 16-bit words, to the partial sum `initial`.
///
/// The result is folded to at most 16 significant bits, so it can be fed back in as
/// `initial` or added to other partial sums without overflow.
pub fn ones_sum(initial: u32, data: &[u8]) -> u32 {
    // The one's complement sum is byte-order independent (RFC 1071 §2(B)): summing
    // little-endian words and swapping the folded result equals summing big-endian
    // words. Little-endian 32-bit words, widened into 64-bit lanes, need no byte swaps
    // and let the compiler vectorise the loop; a u64 lane cannot overflow before
    // ~16 GiB of input. This is the hottest loop of bulk receive.
    let mut lanes = [0u64; 8];
    let mut blocks = data.chunks_exact(32);
    for b in &mut blocks {
        for (lane, w) in lanes.iter_mut().zip(b.chunks_exact(4)) {
            *lane += u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
        }
    }
    let mut le = lanes.iter().fold(0u64, |a, &l| a + (l & 0xffff_ffff) + (l >> 32));
    let rest = blocks.remainder();
    let mut words = rest.chunks_exact(4);
    for w in &mut words {
        le += u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    // Every piece so far started at an offset that is a multiple of 4, so the tail
    // (under 4 bytes) starts at an even offset: sum it big-endian as before.
    let mut acc = u64::from(initial) + u64::from(fold(le).swap_bytes());
    let mut tail = words.remainder().chunks_exact(2);
    for w in &mut tail {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = tail.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    u32::from(fold(acc))
}

/// Folds the carries of a partial sum and returns its one's complement: the value to
/// write into a checksum field. A region that already contains its checksum yields 0.
pub fn finish(sum: u32) -> u16 {
    !fold(u64::from(sum))
}

/// The Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    finish(ones_sum(0, data))
}

/// Partial sum of the TCP/UDP pseudo-header for IPv4 (RFC 793 §3.1, RFC 768):
/// source, destination, zero, protocol, and the TCP/UDP length (header plus data).
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let s = u32::from(src);
    let d = u32::from(dst);
    (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + u32::from(protocol) + u32::from(length)
}

/// Incrementally updates a checksum after one 16-bit word of the covered data changed
/// from `old_word` to `new_word` (RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`).
pub fn update16(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let sum = u32::from(!old_checksum) + u32::from(!old_word) + u32::from(new_word);
    finish(sum)
}

/// Like [`update16`] for an aligned 32-bit value (e.g. an IPv4 address) that changed
/// from `old` to `new`.
pub fn update32(old_checksum: u16, old: u32, new: u32) -> u16 {
    let sum = u32::from(!old_checksum)
        + u32::from(!(old >> 16) as u16)
        + u32::from(!(old as u16))
        + (new >> 16)
        + (new & 0xffff);
    finish(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Byte-pair reference implementation, deliberately naive.
    fn naive(data: &[u8]) -> u16 {
        let mut sum: u64 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = u64::from(data[i]) << 8;
            let lo = if i + 1 < data.len() {
                u64::from(data[i + 1])
            } else {
                0
            };
            sum += hi | lo;
            i += 2;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the sum of these bytes is ddf2, so the checksum is 220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_sum(0, &data), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
        // Same result summed in even-length pieces.
        assert_eq!(
            finish(ones_sum(ones_sum(0, &data[..2]), &data[2..])),
            0x220d
        );
    }

    #[test]
    fn ipv4_header_vector() {
        // A widely published IPv4 header whose checksum is b861.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0xb861);
        hdr[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&hdr), 0);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0xff]), 0x00ff);
        assert_eq!(checksum(&[0xff, 0xff]), 0x0000);
        assert_eq!(ones_sum(0xffff, &[0x00, 0x01]), 0x0001);
        // Large input: no overflow, agrees with the reference.
        let big = vec![0xffu8; 1 << 20];
        assert_eq!(checksum(&big), naive(&big));
        assert_eq!(finish(0xffff_ffff), naive(&[0xff; 8]));
    }

    #[test]
    fn pseudo_header() {
        let src = Ipv4Addr::new(192, 168, 1, 100);
        let dst = Ipv4Addr::new(8, 8, 8, 8);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 6, 0x05, 0xdc]);
        assert_eq!(
            finish(pseudo_header_v4(src, dst, 6, 1500)),
            checksum(&bytes)
        );
    }

    proptest! {
        #[test]
        fn matches_naive(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            prop_assert_eq!(checksum(&data), naive(&data));
        }

        #[test]
        fn chained_even_pieces(data in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..300) {
            let cut = (cut * 2).min(data.len() & !1);
            let chained = finish(ones_sum(ones_sum(0, &data[..cut]), &data[cut..]));
            prop_assert_eq!(chained, naive(&data));
        }

        #[test]
        fn inserted_checksum_verifies(mut data in proptest::collection::vec(any::<u8>(), 2..1500), at in 0usize..750) {
            let len = data.len() & !1;
            data.truncate(len);
            let at = (at * 2) % len;
            data[at] = 0;
            data[at + 1] = 0;
            let c = checksum(&data);
            data[at..at + 2].copy_from_slice(&c.to_be_bytes());
            prop_assert_eq!(checksum(&data), 0);
        }

        #[test]
        fn update16_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 2..200),
            at in 0usize..100,
            new in any::<u16>(),
        ) {
            let len = data.len() & !1;
            data.truncate(len);
            let at = (at * 2) % len;
            let before = checksum(&data);
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            // All-zero data is the one case where +0 and -0 differ (0xffff vs 0x0000);
            // real headers never sum to zero.
            prop_assume!(data.iter().any(|&b| b != 0));
            prop_assert_eq!(update16(before, old, new), checksum(&data));
        }

        #[test]
        fn update32_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 4..200),
            at in 0usize..50,
            new in any::<u32>(),
        ) {
            let len = data.len() & !3;
            data.truncate(len);
            let at = (at * 4) % len;
            let before = checksum(&data);
            let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            data[at..at + 4].copy_from_slice(&new.to_be_bytes());
            prop_assume!(data.iter().any(|&b| b != 0));
            prop_assert_eq!(update32(before, old, new), checksum(&data));
        }
    }
}
