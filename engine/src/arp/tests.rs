//! Scripted resolver tests: inputs at fixed instants, outputs checked exactly.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
const EVIL_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x66]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const OTHER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const ZERO_MAC: EthernetAddress = EthernetAddress::ZERO;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn resolver() -> ArpResolver {
    ArpResolver::new(OUR_MAC, &[OUR_IP], ArpConfig::default())
}

fn with_config(config: ArpConfig) -> ArpResolver {
    ArpResolver::new(OUR_MAC, &[OUR_IP], config)
}

/// `sender` at `mac` asks who has `target`.
fn request(r: &mut ArpResolver, now: Instant, mac: EthernetAddress, sender: Ipv4Addr, target: Ipv4Addr) -> Option<ArpOut> {
    r.handle_packet(now, Op::Request, mac, sender, ZERO_MAC, target)
}

/// `sender` at `mac` tells us (OUR_IP) where it is.
fn reply(r: &mut ArpResolver, now: Instant, mac: EthernetAddress, sender: Ipv4Addr) -> Option<ArpOut> {
    r.handle_packet(now, Op::Reply, mac, sender, OUR_MAC, OUR_IP)
}

fn broadcast_request(tpa: Ipv4Addr) -> ArpOut {
    ArpOut { op: Op::Request, dst_mac: EthernetAddress::BROADCAST, sha: OUR_MAC, spa: OUR_IP, tha: ZERO_MAC, tpa }
}

fn drain_released(r: &mut ArpResolver) -> Vec<(EthernetAddress, Vec<u8>)> {
    std::iter::from_fn(|| r.poll_released()).collect()
}

#[test]
fn answers_requests_for_our_address_only() {
    let mut r = resolver();
    let out = request(&mut r, ms(0), PEER_MAC, PEER_IP, OUR_IP);
    assert_eq!(
        out,
        Some(ArpOut { op: Op::Reply, dst_mac: PEER_MAC, sha: OUR_MAC, spa: OUR_IP, tha: PEER_MAC, tpa: PEER_IP })
    );
    assert_eq!(request(&mut r, ms(0), PEER_MAC, PEER_IP, OTHER_IP), None);
    let c = r.counters();
    assert_eq!((c.requests_received, c.replies_sent, c.ignored_not_for_us), (2, 1, 1));
}

#[test]
fn learns_from_request_aimed_at_us() {
    let mut r = resolver();
    request(&mut r, ms(0), PEER_MAC, PEER_IP, OUR_IP);
    assert_eq!(r.lookup(ms(1), PEER_IP), Some(PEER_MAC));
    assert_eq!(r.counters().learned, 1);
    // A later request from a new MAC is merged (RFC 826).
    request(&mut r, ms(2), EVIL_MAC, PEER_IP, OUR_IP);
    assert_eq!(r.lookup(ms(3), PEER_IP), Some(EVIL_MAC));
}

#[test]
fn no_learning_from_unsolicited_reply_or_requests_for_others() {
    let mut r = resolver();
    assert_eq!(reply(&mut r, ms(0), EVIL_MAC, PEER_IP), None);
    assert_eq!(request(&mut r, ms(0), EVIL_MAC, OTHER_IP, Ipv4Addr::new(10, 0, 0, 9)), None);
    assert_eq!(r.lookup(ms(1), PEER_IP), None);
    assert_eq!(r.lookup(ms(1), OTHER_IP), None);
    assert_eq!(r.entries().count(), 0);
    let c = r.counters();
    assert_eq!((c.ignored_unsolicited, c.ignored_not_for_us, c.learned), (1, 1, 0));
}

#[test]
fn unsolicited_reply_does_not_overwrite() {
    let mut r = resolver();
    request(&mut r, ms(0), PEER_MAC, PEER_IP, OUR_IP);
    reply(&mut r, ms(10), EVIL_MAC, PEER_IP);
    assert_eq!(r.lookup(ms(20), PEER_IP), Some(PEER_MAC));
    assert_eq!(r.counters().ignored_unsolicited, 1);
    // Nor does a reply addressed to someone else's protocol address.
    r.handle_packet(ms(30), Op::Reply, EVIL_MAC, PEER_IP, OUR_MAC, OTHER_IP);
    assert_eq!(r.lookup(ms(40), PEER_IP), Some(PEER_MAC));
}

#[test]
fn retries_then_failure_drops_packets() {
    let mut r = resolver();
    assert_eq!(r.lookup(ms(0), PEER_IP), None);
    assert_eq!(r.enqueue(ms(0), PEER_IP, vec![1]), EnqueueResult::Resolving);
    assert_eq!(r.enqueue(ms(0), PEER_IP, vec![2]), EnqueueResult::Queued);
    assert_eq!(r.poll_transmit(ms(0)), Some(broadcast_request(PEER_IP)));
    assert_eq!(r.poll_transmit(ms(0)), None);
    for s in 1..=3 {
        assert_eq!(r.poll_timeout(), Some(Instant::from_secs(s)));
        r.handle_timeout(Instant::from_secs(s) - Duration::from_micros(1));
        assert_eq!(r.poll_transmit(ms(0)), None);
        r.handle_timeout(Instant::from_secs(s));
        assert_eq!(r.poll_transmit(Instant::from_secs(s)), Some(broadcast_request(PEER_IP)));
        assert_eq!(r.poll_transmit(Instant::from_secs(s)), None);
    }
    assert_eq!(r.poll_timeout(), Some(Instant::from_secs(4)));
    assert_eq!(r.entries().next().map(|e| (e.state, e.queued)), Some((EntryState::Pending, 2)));
    r.handle_timeout(Instant::from_secs(4));
    assert_eq!(r.poll_transmit(Instant::from_secs(4)), None);
    assert_eq!(r.poll_released(), None);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.entries().count(), 0);
    let c = r.counters();
    assert_eq!((c.requests_sent, c.retries, c.dropped_unresolved), (4, 3, 2));
    // A later packet starts over.
    assert_eq!(r.enqueue(Instant::from_secs(5), PEER_IP, vec![3]), EnqueueResult::Resolving);
}

#[test]
fn reply_releases_queued_packets_in_order() {
    let mut r = resolver();
    r.enqueue(ms(0), PEER_IP, vec![1]);
    r.enqueue(ms(100), PEER_IP, vec![2]);
    r.enqueue(ms(200), PEER_IP, vec![3]);
    r.poll_transmit(ms(0));
    r.handle_timeout(ms(1000)); // retry queued but not yet polled
    assert_eq!(reply(&mut r, ms(1500), PEER_MAC, PEER_IP), None);
    assert_eq!(
        drain_released(&mut r),
        vec![(PEER_MAC, vec![1]), (PEER_MAC, vec![2]), (PEER_MAC, vec![3])]
    );
    assert_eq!(r.poll_transmit(ms(1500)), None, "the moot retry is cancelled");
    assert_eq!(r.lookup(ms(1600), PEER_IP), Some(PEER_MAC));
    assert_eq!(r.poll_timeout(), Some(ms(61_500)));
    let c = r.counters();
    assert_eq!((c.replies_received, c.resolved, c.dropped_unresolved), (1, 1, 0));
    // Enqueue on a resolved entry releases straight away.
    assert_eq!(r.enqueue(ms(1700), PEER_IP, vec![4]), EnqueueResult::Released);
    assert_eq!(drain_released(&mut r), vec![(PEER_MAC, vec![4])]);
}

#[test]
fn request_from_pending_host_resolves_it() {
    let mut r = resolver();
    r.enqueue(ms(0), PEER_IP, vec![7]);
    assert!(request(&mut r, ms(10), PEER_MAC, PEER_IP, OUR_IP).is_some());
    assert_eq!(drain_released(&mut r), vec![(PEER_MAC, vec![7])]);
    assert_eq!(r.poll_transmit(ms(10)), None);
}

#[test]
fn queue_bound_drops_oldest() {
    let mut r = resolver();
    let results: Vec<_> = (0..10u8).map(|i| r.enqueue(ms(0), PEER_IP, vec![i])).collect();
    assert_eq!(results[7], EnqueueResult::Queued);
    assert_eq!(results[8], EnqueueResult::QueuedDroppedOldest);
    assert_eq!(r.counters().dropped_queue_full, 2);
    reply(&mut r, ms(10), PEER_MAC, PEER_IP);
    let got: Vec<u8> = drain_released(&mut r).into_iter().map(|(_, p)| p[0]).collect();
    assert_eq!(got, (2..10).collect::<Vec<u8>>());
}

#[test]
fn table_bound() {
    let mut r = with_config(ArpConfig { capacity: 2, ..ArpConfig::default() });
    let host = |b| Ipv4Addr::new(10, 0, 0, b);
    assert_eq!(r.enqueue(ms(0), host(10), vec![]), EnqueueResult::Resolving);
    assert_eq!(r.enqueue(ms(0), host(11), vec![]), EnqueueResult::Resolving);
    assert_eq!(r.enqueue(ms(0), host(12), vec![]), EnqueueResult::TableFull);
    // A request aimed at us is answered even when its mapping cannot be stored.
    assert!(request(&mut r, ms(0), PEER_MAC, PEER_IP, OUR_IP).is_some());
    assert_eq!(r.counters().dropped_table_full, 2);
    assert_eq!(r.entries().count(), 2);

    // Resolved entries are evicted, oldest first.
    let mut r = with_config(ArpConfig { capacity: 2, ..ArpConfig::default() });
    request(&mut r, ms(0), PEER_MAC, host(20), OUR_IP);
    request(&mut r, ms(1), PEER_MAC, host(21), OUR_IP);
    assert_eq!(r.enqueue(ms(2), host(22), vec![]), EnqueueResult::Resolving);
    assert_eq!(r.lookup(ms(3), host(20)), None);
    assert_eq!(r.lookup(ms(3), host(21)), Some(PEER_MAC));
    assert_eq!(r.counters().evicted, 1);
    assert_eq!(r.entries().count(), 2);
}

#[test]
fn entry_expires_after_lifetime() {
    let mut r = resolver();
    request(&mut r, ms(0), PEER_MAC, PEER_IP, OUR_IP);
    assert_eq!(r.poll_timeout(), Some(Instant::from_secs(60)));
    assert_eq!(r.lookup(ms(54_999), PEER_IP), Some(PEER_MAC));
    assert_eq!(r.poll_transmit(ms(54_999)), None, "not yet in the refresh window");
    r.handle_timeout(ms(59_999));
    assert_eq!(r.entries().count(), 1);
    // Past its lifetime a lookup misses even before handle_timeout runs.
    assert_eq!(r.lookup(Instant::from_secs(60), PEER_IP), None);
    r.handle_timeout(Instant::from_secs(60));
    assert_eq!(r.entries().count(), 0);
    assert_eq!(r.counters().expired, 1);
    assert_eq!(r.poll_timeout(), None);
    // The next packet re-resolves.
    assert_eq!(r.enqueue(Instant::from_secs(61), PEER_IP, vec![]), EnqueueResult::Resolving);
    assert_eq!(r.poll_transmit(Instant::from_secs(61)), Some(broadcast_request(PEER_IP)));
}

#[test]
fn refresh_probe_near_expiry_and_reply_extends() {
    let mut r = resolver();
    request(&mut r, ms(0), PEER_MAC, PEER_IP, OUR_IP);
    assert_eq!(r.lookup(ms(56_000), PEER_IP), Some(PEER_MAC));
    let probe = ArpOut { dst_mac: PEER_MAC, ..broadcast_request(PEER_IP) };
    assert_eq!(r.poll_transmit(ms(56_000)), Some(probe));
    assert_eq!(r.lookup(ms(56_100), PEER_IP), Some(PEER_MAC));
    assert_eq!(r.poll_transmit(ms(56_100)), None, "one probe only");
    assert_eq!(r.entries().next().map(|e| e.state), Some(EntryState::Refreshing));
    reply(&mut r, ms(56_500), PEER_MAC, PEER_IP);
    assert_eq!(r.poll_timeout(), Some(ms(116_500)));
    r.handle_timeout(ms(60_000));
    assert_eq!(r.lookup(ms(60_000), PEER_IP), Some(PEER_MAC));
    assert_eq!(r.entries().next().map(|e| e.state), Some(EntryState::Resolved));
    // Now refreshed, a second reply is unsolicited again.
    reply(&mut r, ms(60_001), EVIL_MAC, PEER_IP);
    assert_eq!(r.lookup(ms(60_002), PEER_IP), Some(PEER_MAC));
    assert_eq!(r.counters().ignored_unsolicited, 1);

    // Unanswered, the probe does not extend anything.
    let mut r = resolver();
    request(&mut r, ms(0), PEER_MAC, PEER_IP, OUR_IP);
    r.lookup(ms(58_000), PEER_IP);
    assert!(r.poll_transmit(ms(58_000)).is_some());
    r.handle_timeout(ms(60_000));
    assert_eq!(r.lookup(ms(60_000), PEER_IP), None);
    assert_eq!(r.counters().requests_sent, 1);
}

#[test]
fn poll_timeout_is_earliest_deadline() {
    let mut r = resolver();
    assert_eq!(r.poll_timeout(), None);
    request(&mut r, ms(0), PEER_MAC, PEER_IP, OUR_IP); // expires 60 s
    assert_eq!(r.poll_timeout(), Some(ms(60_000)));
    r.enqueue(ms(10_000), OTHER_IP, vec![]); // retry 11 s
    assert_eq!(r.poll_timeout(), Some(ms(11_000)));
    r.handle_timeout(ms(11_000)); // retry, next 12 s
    assert_eq!(r.poll_timeout(), Some(ms(12_000)));
    reply(&mut r, ms(11_500), PEER_MAC, OTHER_IP); // resolved: expires 71.5 s
    assert_eq!(r.poll_timeout(), Some(ms(60_000)));
    r.handle_timeout(ms(60_000));
    assert_eq!(r.poll_timeout(), Some(ms(71_500)));
}

#[test]
fn gratuitous_announcement() {
    let second = Ipv4Addr::new(192, 168, 1, 1);
    let mut r = ArpResolver::new(OUR_MAC, &[OUR_IP, second], ArpConfig::default());
    r.announce(ms(0));
    let gratuitous = |ip| ArpOut { op: Op::Request, dst_mac: EthernetAddress::BROADCAST, sha: OUR_MAC, spa: ip, tha: ZERO_MAC, tpa: ip };
    assert_eq!(r.poll_transmit(ms(0)), Some(gratuitous(OUR_IP)));
    assert_eq!(r.poll_transmit(ms(0)), Some(gratuitous(second)));
    assert_eq!(r.poll_transmit(ms(0)), None);
    assert_eq!(r.counters().requests_sent, 2);
}

#[test]
fn gratuitous_from_others_only_refreshes() {
    let mut r = resolver();
    request(&mut r, ms(0), PEER_MAC, OTHER_IP, OTHER_IP);
    r.handle_packet(ms(0), Op::Reply, PEER_MAC, OTHER_IP, EthernetAddress::BROADCAST, OTHER_IP);
    assert_eq!(r.entries().count(), 0);
    assert_eq!(r.counters().ignored_unsolicited, 2);

    request(&mut r, ms(0), PEER_MAC, PEER_IP, OUR_IP);
    const NEW_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x22]);
    request(&mut r, ms(30_000), NEW_MAC, PEER_IP, PEER_IP);
    assert_eq!(r.lookup(ms(30_001), PEER_IP), Some(NEW_MAC));
    assert_eq!(r.poll_timeout(), Some(ms(90_000)));
}

#[test]
fn probes_conflicts_and_bad_senders() {
    let mut r = resolver();
    // RFC 5227 probe for our address: not answered, not learned.
    assert_eq!(r.handle_packet(ms(0), Op::Request, PEER_MAC, Ipv4Addr::UNSPECIFIED, ZERO_MAC, OUR_IP), None);
    assert_eq!(r.counters().probes_for_our_address, 1);
    // Someone else using our address.
    assert_eq!(request(&mut r, ms(0), EVIL_MAC, OUR_IP, OUR_IP), None);
    assert_eq!(request(&mut r, ms(0), EVIL_MAC, OUR_IP, PEER_IP), None);
    assert_eq!(r.counters().address_conflicts, 2);
    // Unusable senders.
    assert_eq!(request(&mut r, ms(0), EthernetAddress::BROADCAST, PEER_IP, OUR_IP), None);
    assert_eq!(request(&mut r, ms(0), ZERO_MAC, PEER_IP, OUR_IP), None);
    assert_eq!(request(&mut r, ms(0), OUR_MAC, PEER_IP, OUR_IP), None);
    assert_eq!(request(&mut r, ms(0), PEER_MAC, Ipv4Addr::BROADCAST, OUR_IP), None);
    assert_eq!(r.counters().ignored_invalid, 4);
    assert_eq!(r.entries().count(), 0);
}

#[test]
fn enqueue_rejects_unresolvable_next_hops() {
    let mut r = resolver();
    for ip in [Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED, Ipv4Addr::new(224, 0, 0, 1), OUR_IP] {
        assert_eq!(r.enqueue(ms(0), ip, vec![]), EnqueueResult::Invalid);
    }
    let mut none = ArpResolver::new(OUR_MAC, &[], ArpConfig::default());
    assert_eq!(none.enqueue(ms(0), PEER_IP, vec![]), EnqueueResult::Invalid);
    assert_eq!(r.counters().dropped_invalid, 4);
    assert_eq!(r.poll_transmit(ms(0)), None);
}

#[test]
fn request_source_matches_target_subnet() {
    let lan2 = Ipv4Addr::new(192, 168, 7, 1);
    let mut r = ArpResolver::new(OUR_MAC, &[OUR_IP, lan2], ArpConfig::default());
    r.enqueue(ms(0), Ipv4Addr::new(192, 168, 7, 20), vec![]);
    assert_eq!(r.poll_transmit(ms(0)).map(|o| o.spa), Some(lan2));
    // Changing addresses drops entries for addresses that became ours.
    r.set_addresses(&[OUR_IP, lan2, Ipv4Addr::new(192, 168, 7, 20)]);
    assert_eq!(r.entries().count(), 0);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn learn_shared_learns_without_answering() {
    let mut r = resolver();
    // A reply another worker received answers our pending request.
    r.enqueue(ms(0), PEER_IP, vec![5]);
    r.learn_shared(ms(10), Op::Reply, PEER_MAC, PEER_IP, OUR_IP);
    assert_eq!(drain_released(&mut r), vec![(PEER_MAC, vec![5])]);
    // A request aimed at us is learned, not answered; a reply for someone else's
    // request is ignored without being counted here.
    r.learn_shared(ms(20), Op::Request, PEER_MAC, OTHER_IP, OUR_IP);
    assert_eq!(r.lookup(ms(30), OTHER_IP), Some(PEER_MAC));
    r.learn_shared(ms(20), Op::Reply, EVIL_MAC, Ipv4Addr::new(10, 0, 0, 4), OUR_IP);
    assert_eq!(r.lookup(ms(30), Ipv4Addr::new(10, 0, 0, 4)), None);
    let c = r.counters();
    assert_eq!((c.resolved, c.learned, c.replies_sent, c.requests_received, c.replies_received), (1, 1, 0, 0, 0));
    assert_eq!(c.ignored_unsolicited, 0);
}

fn small_ip() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        (0u8..6).prop_map(|b| Ipv4Addr::new(10, 0, 0, b)),
        Just(Ipv4Addr::BROADCAST),
        Just(Ipv4Addr::new(224, 0, 0, 5)),
    ]
}

fn small_mac() -> impl Strategy<Value = EthernetAddress> {
    prop_oneof![
        (0u8..4).prop_map(|b| EthernetAddress([0x02, 0, 0, 0, 0, b])),
        Just(EthernetAddress::BROADCAST),
    ]
}

#[derive(Debug, Clone)]
enum Action {
    Packet(bool, EthernetAddress, Ipv4Addr, Ipv4Addr),
    Lookup(Ipv4Addr),
    Enqueue(Ipv4Addr),
    Timeout,
    Transmit,
    Announce,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (any::<bool>(), small_mac(), small_ip(), small_ip()).prop_map(|(r, m, s, t)| Action::Packet(r, m, s, t)),
        small_ip().prop_map(Action::Lookup),
        small_ip().prop_map(Action::Enqueue),
        Just(Action::Timeout),
        Just(Action::Transmit),
        Just(Action::Announce),
    ]
}

proptest! {
    /// Any sequence of inputs: no panic, bounds hold, `poll_timeout` is the earliest
    /// entry deadline.
    #[test]
    fn invariants_under_random_input(steps in proptest::collection::vec((0u64..3000, action()), 0..200)) {
        let config = ArpConfig { capacity: 3, queue_per_entry: 2, ..ArpConfig::default() };
        let mut r = ArpResolver::new(OUR_MAC, &[OUR_IP], config);
        let mut now = Instant::ZERO;
        for (dt, a) in steps {
            now += Duration::from_millis(dt);
            match a {
                Action::Packet(is_reply, m, s, t) => {
                    let op = if is_reply { Op::Reply } else { Op::Request };
                    r.handle_packet(now, op, m, s, ZERO_MAC, t);
                }
                Action::Lookup(ip) => { r.lookup(now, ip); }
                Action::Enqueue(ip) => { r.enqueue(now, ip, vec![0]); }
                Action::Timeout => r.handle_timeout(now),
                Action::Transmit => while r.poll_transmit(now).is_some() {},
                Action::Announce => r.announce(now),
            }
            prop_assert!(r.entries().count() <= 3);
            prop_assert!(r.entries().all(|e| e.queued <= 2));
            prop_assert_eq!(r.poll_timeout(), r.entries().map(|e| e.expires).min());
            prop_assert!(r.entries().all(|e| e.mac.is_none_or(|m| m.is_unicast() && m != OUR_MAC)));
        }
    }
}
