use proptest::prelude::*;

use super::*;

type Frag = (usize, bool, Vec<u8>);

fn key(ident: u16) -> ReassemblyKey {
    ReassemblyKey { src: Ipv4Addr::new(10, 0, 0, 2), dst: Ipv4Addr::new(10, 0, 0, 1), ident, protocol: 17 }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Splits `payload` into fragments of `size` octets (a multiple of 8).
fn fragment(payload: &[u8], size: usize) -> Vec<Frag> {
    let n = payload.len().div_ceil(size).max(1);
    (0..n)
        .map(|i| {
            let lo = i * size;
            let hi = (lo + size).min(payload.len());
            (lo, i + 1 < n, payload[lo..hi].to_vec())
        })
        .collect()
}

/// Inserts all fragments at `now`; returns what the last insert returned and checks
/// that none before it completed.
fn feed(r: &mut Reassembler, now: Instant, k: ReassemblyKey, frags: &[Frag]) -> Option<Vec<u8>> {
    let (last, rest) = frags.split_last()?;
    for (off, more, data) in rest {
        assert_eq!(r.insert(now, k, *off, *more, data), Ok(None));
    }
    r.insert(now, k, last.0, last.1, &last.2).unwrap()
}

#[test]
fn in_order() {
    let mut r = Reassembler::default();
    let p = payload(4000);
    assert_eq!(feed(&mut r, ms(0), key(1), &fragment(&p, 1480)), Some(p));
    assert_eq!(r.bytes_held(), 0);
    assert_eq!(r.in_progress(), 0);
    assert_eq!(r.poll_timeout(), None);
    let c = r.counters();
    assert_eq!((c.fragments, c.reassembled), (3, 1));
}

#[test]
fn reversed_order() {
    let mut r = Reassembler::default();
    let p = payload(3001);
    let mut frags = fragment(&p, 8 * 50);
    frags.reverse();
    assert_eq!(feed(&mut r, ms(0), key(1), &frags), Some(p));
    assert_eq!(r.bytes_held(), 0);
}

#[test]
fn unfragmented_passes_through() {
    let mut r = Reassembler::default();
    assert_eq!(r.insert(ms(0), key(1), 0, false, b"whole"), Ok(Some(b"whole".to_vec())));
    assert_eq!(r.in_progress(), 0);
}

#[test]
fn overlapping_identical_is_accepted() {
    let mut r = Reassembler::default();
    let p = payload(40);
    assert_eq!(r.insert(ms(0), key(1), 0, true, &p[0..16]), Ok(None));
    // Exact duplicate, and one fully inside received data: duplicates.
    assert_eq!(r.insert(ms(0), key(1), 0, true, &p[0..16]), Ok(None));
    assert_eq!(r.insert(ms(0), key(1), 8, true, &p[8..16]), Ok(None));
    assert_eq!(r.counters().duplicates, 2);
    // Partly overlapping with the same bytes, partly new: stored.
    assert_eq!(r.insert(ms(0), key(1), 8, true, &p[8..32]), Ok(None));
    assert_eq!(r.insert(ms(0), key(1), 24, false, &p[24..40]), Ok(Some(p)));
    let c = r.counters();
    assert_eq!((c.duplicates, c.overlap_conflict, c.reassembled), (2, 0, 1));
    assert_eq!(r.bytes_held(), 0);
}

#[test]
fn overlapping_conflict_drops_datagram() {
    let mut r = Reassembler::default();
    let p = payload(40);
    r.insert(ms(0), key(1), 0, true, &p[0..16]).unwrap();
    r.insert(ms(0), key(1), 24, false, &p[24..40]).unwrap();
    let mut evil = p[8..24].to_vec();
    evil[3] ^= 0xff; // octet 11, already received
    assert_eq!(r.insert(ms(0), key(1), 8, true, &evil), Err(ReassemblyError::OverlapConflict));
    assert_eq!(r.in_progress(), 0);
    assert_eq!(r.bytes_held(), 0);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.counters().overlap_conflict, 1);
    // The rest of the original does not complete anything: it starts afresh.
    assert_eq!(r.insert(ms(1), key(1), 16, true, &p[16..24]), Ok(None));
    assert_eq!(r.in_progress(), 1);
}

#[test]
fn conflicting_last_fragment_in_last_partial_block() {
    let mut r = Reassembler::default();
    let p = payload(21);
    r.insert(ms(0), key(1), 16, false, &p[16..21]).unwrap();
    let mut evil = p[16..21].to_vec();
    evil[4] ^= 1;
    assert_eq!(r.insert(ms(0), key(1), 16, false, &evil), Err(ReassemblyError::OverlapConflict));
    assert_eq!(r.bytes_held(), 0);
}

#[test]
fn timeout_at_30s_not_before() {
    let mut r = Reassembler::default();
    let p = payload(100);
    r.insert(ms(0), key(1), 0, true, &p[0..48]).unwrap();
    r.insert(ms(10_000), key(2), 0, true, &p[0..48]).unwrap();
    assert_eq!(r.poll_timeout(), Some(Instant::from_secs(30)));
    r.handle_timeout(Instant::from_micros(29_999_999));
    assert_eq!(r.in_progress(), 2);
    r.handle_timeout(ms(29_999));
    assert_eq!(r.in_progress(), 2);
    r.handle_timeout(Instant::from_secs(30));
    assert_eq!(r.in_progress(), 1);
    assert_eq!(r.counters().timeouts, 1);
    assert_eq!(r.poll_timeout(), Some(Instant::from_secs(40)));
    // A fragment arriving at the deadline, before handle_timeout, finds the old datagram
    // expired and starts a new one.
    assert_eq!(r.insert(Instant::from_secs(40), key(2), 48, false, &p[48..]), Ok(None));
    assert_eq!(r.counters().timeouts, 2);
    assert_eq!(r.poll_timeout(), Some(Instant::from_secs(70)));
    r.handle_timeout(Instant::from_secs(70));
    assert_eq!(r.in_progress(), 0);
    assert_eq!(r.bytes_held(), 0);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn memory_cap() {
    let config = ReassemblyConfig { max_bytes: 3000, ..ReassemblyConfig::default() };
    let mut r = Reassembler::new(config);
    let p = payload(2980);
    assert_eq!(r.insert(ms(0), key(1), 0, true, &p[0..1480]), Ok(None));
    assert_eq!(r.insert(ms(0), key(2), 0, true, &p[0..1480]), Ok(None));
    assert_eq!(r.bytes_held(), 2960);
    assert_eq!(r.insert(ms(0), key(3), 0, true, &p[0..1480]), Err(ReassemblyError::MemoryLimit));
    assert_eq!(r.insert(ms(0), key(1), 1480, true, &p[1480..2960]), Err(ReassemblyError::MemoryLimit));
    assert_eq!(r.counters().dropped_memory, 2);
    assert_eq!(r.in_progress(), 2, "a refused first fragment leaves nothing behind");
    // A small last fragment still fits exactly.
    assert_eq!(r.insert(ms(0), key(2), 1480, false, &p[1480..1500]), Ok(Some(p[..1500].to_vec())));
    assert_eq!(r.bytes_held(), 1480);
    assert_eq!(r.insert(ms(0), key(1), 1480, false, &p[1480..2980]), Ok(Some(p.clone())));
    assert_eq!(r.bytes_held(), 0);
    assert!(r.bytes_held() <= config.max_bytes);
}

#[test]
fn datagram_count_cap() {
    let mut r = Reassembler::new(ReassemblyConfig { max_datagrams: 2, ..ReassemblyConfig::default() });
    let p = payload(16);
    r.insert(ms(0), key(1), 0, true, &p[..8]).unwrap();
    r.insert(ms(0), key(2), 0, true, &p[..8]).unwrap();
    assert_eq!(r.insert(ms(0), key(3), 0, true, &p[..8]), Err(ReassemblyError::MemoryLimit));
    assert_eq!(r.counters().dropped_memory, 1);
    // Datagrams already in progress still complete, which frees a slot.
    assert_eq!(r.insert(ms(0), key(1), 8, false, &p[8..]), Ok(Some(p.clone())));
    assert_eq!(r.insert(ms(0), key(3), 0, true, &p[..8]), Ok(None));
    assert_eq!(r.in_progress(), 2);
}

#[test]
fn interleaved_keys() {
    let mut r = Reassembler::default();
    let (a, b) = (payload(1000), payload(1000).into_iter().rev().collect::<Vec<u8>>());
    let (fa, fb) = (fragment(&a, 240), fragment(&b, 240));
    // Same addresses and ident but another protocol is another datagram.
    let kb = ReassemblyKey { protocol: 6, ..key(1) };
    for i in 0..fa.len() - 1 {
        assert_eq!(r.insert(ms(0), key(1), fa[i].0, fa[i].1, &fa[i].2), Ok(None));
        assert_eq!(r.insert(ms(0), kb, fb[i].0, fb[i].1, &fb[i].2), Ok(None));
    }
    let (la, lb) = (fa.last().unwrap(), fb.last().unwrap());
    assert_eq!(r.insert(ms(0), kb, lb.0, lb.1, &lb.2), Ok(Some(b)));
    assert_eq!(r.insert(ms(0), key(1), la.0, la.1, &la.2), Ok(Some(a)));
    assert_eq!(r.bytes_held(), 0);
}

#[test]
fn zero_length_fragments() {
    let mut r = Reassembler::default();
    let p = payload(20);
    assert_eq!(r.insert(ms(0), key(1), 0, true, &p[0..8]), Ok(None));
    assert_eq!(r.insert(ms(0), key(1), 8, true, &[]), Ok(None));
    assert_eq!(r.insert(ms(0), key(1), 8, true, &p[8..16]), Ok(None));
    assert_eq!(r.insert(ms(0), key(1), 16, true, &[]), Ok(None));
    assert_eq!(r.insert(ms(0), key(1), 16, false, &p[16..20]), Ok(Some(p.clone())));
    // An empty last fragment fixes the length.
    assert_eq!(r.insert(ms(0), key(2), 0, true, &p[0..16]), Ok(None));
    assert_eq!(r.insert(ms(0), key(2), 16, false, &[]), Ok(Some(p[..16].to_vec())));
    assert_eq!(r.counters().malformed, 0);
    assert_eq!(r.bytes_held(), 0);
}

#[test]
fn malformed_and_too_big() {
    let mut r = Reassembler::default();
    let p = payload(64);
    // Non-last length or offset not a multiple of 8: only the fragment is dropped.
    assert_eq!(r.insert(ms(0), key(1), 0, true, &p[..12]), Err(ReassemblyError::Malformed));
    assert_eq!(r.insert(ms(0), key(1), 4, false, &p[..8]), Err(ReassemblyError::Malformed));
    assert_eq!(r.insert(ms(0), key(1), 0, true, &p[..16]), Ok(None));
    assert_eq!(r.insert(ms(0), key(1), 6, true, &p[..8]), Err(ReassemblyError::Malformed));
    assert_eq!(r.in_progress(), 1);
    // A second last fragment disagreeing on the length drops the datagram.
    assert_eq!(r.insert(ms(0), key(1), 32, false, &p[32..40]), Ok(None));
    assert_eq!(r.insert(ms(0), key(1), 32, false, &p[32..48]), Err(ReassemblyError::Malformed));
    assert_eq!(r.in_progress(), 0);
    // So does a fragment past the known end, or a last one before data received.
    r.insert(ms(0), key(2), 16, false, &p[16..20]).unwrap();
    assert_eq!(r.insert(ms(0), key(2), 16, true, &p[16..24]), Err(ReassemblyError::Malformed));
    r.insert(ms(0), key(3), 16, true, &p[16..32]).unwrap();
    assert_eq!(r.insert(ms(0), key(3), 8, false, &p[8..12]), Err(ReassemblyError::Malformed));
    assert_eq!(r.in_progress(), 0);
    assert_eq!(r.counters().malformed, 6);
    // Past the largest payload; the largest itself is fine.
    assert_eq!(r.insert(ms(0), key(4), 65512, false, &p[..4]), Err(ReassemblyError::TooBig));
    assert_eq!(r.insert(ms(0), key(4), usize::MAX & !7, true, &p[..8]), Err(ReassemblyError::TooBig));
    assert_eq!(r.counters().too_big, 2);
    assert_eq!(r.insert(ms(0), key(4), 65512, false, &p[..3]), Ok(None));
    assert_eq!(r.bytes_held(), MAX_PAYLOAD);
    r.handle_timeout(Instant::from_secs(30));
    assert_eq!(r.bytes_held(), 0);
}

fn shuffled() -> impl Strategy<Value = (Vec<u8>, Vec<Frag>)> {
    (proptest::collection::vec(any::<u8>(), 0..3000), 1usize..64, proptest::collection::vec(any::<prop::sample::Index>(), 0..4))
        .prop_flat_map(|(p, blocks, dups)| {
            let mut frags = fragment(&p, blocks * BLOCK);
            let extra: Vec<Frag> = dups.iter().map(|i| i.get(&frags).clone()).collect();
            frags.extend(extra);
            (Just(p), Just(frags).prop_shuffle())
        })
}

proptest! {
    /// Any arrival order, with some duplicates, gives back exactly the payload, once
    /// every distinct fragment has arrived, and releases all memory.
    #[test]
    fn any_order_reassembles((p, frags) in shuffled()) {
        let mut r = Reassembler::default();
        let distinct: std::collections::BTreeSet<usize> = frags.iter().map(|f| f.0).collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut out = None;
        for (off, more, data) in &frags {
            seen.insert(*off);
            let got = r.insert(ms(0), key(9), *off, *more, data);
            prop_assert!(got.is_ok());
            if let Ok(Some(whole)) = got {
                prop_assert_eq!(seen.len(), distinct.len());
                out = Some(whole);
                break;
            }
        }
        prop_assert_eq!(out, Some(p));
        prop_assert_eq!(r.bytes_held(), 0);
        prop_assert_eq!(r.in_progress(), 0);
        prop_assert_eq!(r.counters().overlap_conflict, 0);
    }

    /// Arbitrary fragments never panic and never break the caps or the accounting.
    #[test]
    fn arbitrary_fragments_stay_bounded(
        frags in proptest::collection::vec((0u16..3, 0usize..80, any::<bool>(), proptest::collection::vec(0u8..2, 0..40)), 0..100)
    ) {
        let config = ReassemblyConfig { max_bytes: 200, max_datagrams: 2, ..ReassemblyConfig::default() };
        let mut r = Reassembler::new(config);
        for (i, (id, off, more, data)) in frags.iter().enumerate() {
            let _ = r.insert(ms(i as u64 * 500), key(*id), *off * 8, *more, data);
            prop_assert!(r.bytes_held() <= 200);
            prop_assert!(r.in_progress() <= 2);
            r.handle_timeout(ms(i as u64 * 500));
        }
        r.handle_timeout(Instant::from_secs(1000));
        prop_assert_eq!(r.bytes_held(), 0);
        prop_assert_eq!(r.in_progress(), 0);
    }
}
