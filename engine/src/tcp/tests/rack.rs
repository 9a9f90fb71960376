//! RACK-TLP (RFC 8985): lost retransmissions found by time, tail losses repaired by a
//! probe long before the RTO, reordering within the window left alone, D-SACK, and the
//! probe timeout's rules.

use super::*;

const P: u32 = PEER_ISS + 1;
const L: u32 = ISS + 1;

/// Connection with SACK negotiated (no timestamps: RACK times segments itself).
fn sack_established_with(c: &TcpConfig) -> Tcb {
    let c = TcpConfig { sack: true, ..*c };
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &c);
    recv_one(&mut t, ms(0));
    let mut sa = Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000);
    sa.options.sack_permitted = true;
    send(&mut t, ms(0), &sa);
    recv_one(&mut t, ms(0));
    assert!(t.negotiated().1);
    t
}

fn sack_established() -> Tcb {
    sack_established_with(&cfg())
}

fn briefs(v: &[Out]) -> Vec<(u32, u32, String, usize)> {
    v.iter().map(Out::brief).collect()
}

/// One segment out at 0 and acknowledged at 10 ms: RACK.min_RTT and SRTT are 10 ms.
fn with_rtt_sample(t: &mut Tcb) {
    t.send(&pattern(1000));
    assert_eq!(recv_all(t, ms(0)).len(), 1);
    send(t, ms(10), &Seg::ack(P, L + 1000));
    assert_eq!(t.rack.srtt(), Some(Duration::from_millis(10)));
}

#[test]
fn lost_retransmission_detected_without_timeout() {
    let mut t = sack_established();
    t.send(&pattern(14_000));
    assert_eq!(recv_all(&mut t, ms(0)).len(), 10);
    // Segment 0 lost. Three segments SACKed and no reordering seen: RACK's reordering
    // window is zero, segment 0 is lost at once.
    // PRR: half of the 3000 bytes delivered may go, the retransmission and a new segment.
    send(&mut t, ms(10), &Seg::ack(P, L).sack(&[(L + 1000, L + 4000)]));
    assert_eq!(briefs(&recv_all(&mut t, ms(10))), vec![b(L, P, "A", 1000), b(L + 10_000, P, "A", 1000)]);
    assert_eq!((t.counters().rack_losses, t.counters().fast_retransmits), (1, 1));
    // The rest of the flight arrives; the window (5000 after the reduction) has room
    // for new data beside the retransmission.
    send(&mut t, ms(11), &Seg::ack(P, L).sack(&[(L + 1000, L + 10_000)]));
    assert_eq!(
        briefs(&recv_all(&mut t, ms(11))),
        vec![b(L + 11_000, P, "A", 1000), b(L + 12_000, P, "A", 1000), b(L + 13_000, P, "PA", 1000)]
    );
    // The retransmission was lost too. New data sent after it (at 11 ms) is SACKed at
    // 21 ms: the retransmission (at 10 ms) should have been acknowledged by 10 + RACK.rtt
    // (10 ms) = 20 ms. It goes again, in the same recovery, long before any RTO.
    send(&mut t, ms(21), &Seg::ack(P, L).sack(&[(L + 1000, L + 11_000)]));
    assert_eq!(briefs(&recv_all(&mut t, ms(21))), vec![b(L, P, "A", 1000)]);
    let c = t.counters();
    assert_eq!((c.rack_losses, c.fast_retransmits, c.retransmits, c.timeouts), (2, 1, 2, 0));
    assert!(t.poll_timeout().unwrap() >= ms(200), "{:?}", t.poll_timeout());
    send(&mut t, ms(31), &Seg::ack(P, L + 14_000));
    recv_nothing(&mut t, ms(31));
    assert_eq!(t.poll_timeout(), None);
    assert_eq!(t.counters().timeouts, 0);
    t.check_invariants();
}

#[test]
fn tail_loss_repaired_by_probe_before_rto() {
    let mut t = sack_established();
    with_rtt_sample(&mut t);
    t.send(&pattern(5000));
    assert_eq!(recv_all(&mut t, ms(20)).len(), 5);
    // The first two segments arrive; the last three are lost, so nothing else comes back.
    send(&mut t, ms(30), &Seg::ack(P, L + 3000));
    recv_nothing(&mut t, ms(30));
    // PTO = 2 * SRTT + 8 ms (several segments in flight) = 28 ms; the RTO is 200 ms.
    assert_eq!(t.poll_timeout(), Some(ms(58)));
    assert_eq!(t.rto(), Duration::from_millis(200));
    tick(&mut t, ms(58));
    // No new data: the probe is the last segment again.
    assert_eq!(briefs(&recv_all(&mut t, ms(58))), vec![b(L + 5000, P, "PA", 1000)]);
    assert_eq!(t.counters().tlp_probes, 1);
    // The RTO is re-armed from the probe, not the PTO.
    assert_eq!(t.poll_timeout(), Some(ms(258)));
    // The probe's SACK shows the other two missing: RACK marks them lost, recovery
    // retransmits them.
    send(&mut t, ms(68), &Seg::ack(P, L + 3000).sack(&[(L + 5000, L + 6000)]));
    assert_eq!(briefs(&recv_all(&mut t, ms(68))), vec![b(L + 3000, P, "A", 1000), b(L + 4000, P, "A", 1000)]);
    send(&mut t, ms(78), &Seg::ack(P, L + 6000));
    let c = t.counters();
    assert_eq!((c.tlp_probes, c.tlp_recoveries, c.rack_losses, c.timeouts), (1, 1, 2, 0));
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn probe_sends_new_data_when_there_is_some() {
    // A window of two segments, data waiting behind it.
    let mut t = sack_established_with(&TcpConfig { initial_window: 2, ..cfg() });
    with_rtt_sample(&mut t);
    t.send(&pattern(6000));
    assert_eq!(recv_all(&mut t, ms(20)).len(), 3);
    // All three lost: the PTO (2 * 10 + 8 ms) sends the next new segment regardless of
    // the congestion window.
    assert_eq!(t.poll_timeout(), Some(ms(48)));
    tick(&mut t, ms(48));
    assert_eq!(briefs(&recv_all(&mut t, ms(48))), vec![b(L + 4000, P, "A", 1000)]);
    // Only one probe per episode: the next deadline is the RTO.
    assert_eq!(t.poll_timeout(), Some(ms(248)));
    // Its SACK: RACK repairs the three with fast recovery.
    send(&mut t, ms(52), &Seg::ack(P, L + 1000).sack(&[(L + 4000, L + 5000)]));
    let v = recv_all(&mut t, ms(52));
    assert_eq!(v[0].brief(), b(L + 1000, P, "A", 1000));
    assert_eq!(t.counters().rack_losses, 3);
    assert_eq!(t.counters().timeouts, 0);
}

#[test]
fn single_segment_probe_waits_for_delayed_ack_allowance() {
    let mut t = sack_established();
    with_rtt_sample(&mut t);
    t.send(&pattern(500));
    recv_one(&mut t, ms(20));
    // One segment in flight: PTO = 2 * SRTT + WCDelAckT (200 ms), beyond the RTO
    // (200 ms): the probe replaces the timeout.
    assert_eq!(t.poll_timeout(), Some(ms(220)));
    tick(&mut t, ms(220));
    assert_eq!(briefs(&recv_all(&mut t, ms(220))), vec![b(L + 1000, P, "PA", 500)]);
    let c = t.counters();
    assert_eq!((c.tlp_probes, c.timeouts), (1, 0));
    // No window collapse, no backoff.
    assert_eq!(t.rto(), Duration::from_millis(200));
    assert!(t.cwnd() >= 10_000);
}

#[test]
fn reordering_within_window_is_not_loss() {
    let mut t = sack_established();
    with_rtt_sample(&mut t);
    t.send(&pattern(10_000));
    assert_eq!(recv_all(&mut t, ms(20)).len(), 10);
    // Segment L+1000 is late: a SACK of the next one at 30 ms. Its reordering window is
    // min_RTT / 4 = 2.5 ms: the reorder timer waits until 20 + 10 + 2.5 ms.
    send(&mut t, ms(30), &Seg::ack(P, L + 1000).sack(&[(L + 2000, L + 3000)]));
    recv_nothing(&mut t, ms(30));
    assert_eq!(t.poll_timeout(), Some(us(32_500)));
    // It arrives in time: nothing is retransmitted, and RACK saw reordering.
    send(&mut t, ms(31), &Seg::ack(P, L + 3000));
    recv_nothing(&mut t, ms(31));
    // Now four SACKed segments above a late one no longer mean loss at once (the
    // DupAck threshold would have retransmitted it): the timer waits until
    // 20 + RACK.rtt (12) + 2.5 ms.
    send(&mut t, ms(32), &Seg::ack(P, L + 3000).sack(&[(L + 4000, L + 8000)]));
    recv_nothing(&mut t, ms(32));
    assert_eq!(t.poll_timeout(), Some(us(34_500)));
    send(&mut t, ms(33), &Seg::ack(P, L + 8000));
    recv_nothing(&mut t, ms(33));
    let c = t.counters();
    assert_eq!((c.retransmits, c.fast_retransmits, c.rack_losses), (0, 0, 0));
    // A segment that does not come: the reorder timer declares it lost at
    // 20 + RACK.rtt (14) + 2.5 ms.
    send(&mut t, ms(34), &Seg::ack(P, L + 8000).sack(&[(L + 9000, L + 11_000)]));
    recv_nothing(&mut t, ms(34));
    assert_eq!(t.poll_timeout(), Some(us(36_500)));
    tick(&mut t, us(36_500));
    assert_eq!(briefs(&recv_all(&mut t, us(36_500))), vec![b(L + 8000, P, "A", 1000)]);
    let c = t.counters();
    assert_eq!((c.retransmits, c.rack_losses, c.timeouts), (1, 1, 0));
}

#[test]
fn lost_retransmission_after_timeout_goes_again_without_another() {
    let mut t = sack_established();
    with_rtt_sample(&mut t);
    t.send(&pattern(4000));
    assert_eq!(recv_all(&mut t, ms(20)).len(), 4);
    // Everything and the probe lost: RTO at 20 + 200 ms (the probe re-armed it).
    let pto = t.poll_timeout().unwrap();
    tick(&mut t, pto);
    assert_eq!(recv_all(&mut t, pto).len(), 1);
    let rto = t.poll_timeout().unwrap();
    tick(&mut t, rto);
    assert_eq!(t.counters().timeouts, 1);
    // RFC 8985 §6.3: all four are lost; one goes (the loss window).
    assert_eq!(briefs(&recv_all(&mut t, rto)), vec![b(L + 1000, P, "A", 1000)]);
    let at = rto + Duration::from_millis(10);
    send(&mut t, at, &Seg::ack(P, L + 2000));
    assert_eq!(briefs(&recv_all(&mut t, at)), vec![b(L + 2000, P, "A", 1000), b(L + 3000, P, "A", 1000)]);
    // L+2000 is lost again; L+3000 arrives and is SACKed: RACK sends L+2000 again at
    // once instead of waiting for a second (backed-off) timeout; the window then has
    // room for the last lost one.
    let at2 = at + Duration::from_millis(10);
    send(&mut t, at2, &Seg::ack(P, L + 2000).sack(&[(L + 3000, L + 4000)]));
    assert_eq!(briefs(&recv_all(&mut t, at2)), vec![b(L + 2000, P, "A", 1000), b(L + 4000, P, "PA", 1000)]);
    send(&mut t, at2 + Duration::from_millis(10), &Seg::ack(P, L + 5000));
    assert_eq!(t.counters().timeouts, 1);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn dsack_for_a_probe_means_no_loss() {
    let mut t = sack_established();
    with_rtt_sample(&mut t);
    t.send(&pattern(4000));
    assert_eq!(recv_all(&mut t, ms(20)).len(), 4);
    send(&mut t, ms(30), &Seg::ack(P, L + 3000));
    tick(&mut t, ms(58));
    assert_eq!(briefs(&recv_all(&mut t, ms(58))), vec![b(L + 4000, P, "PA", 1000)]);
    let cwnd = t.cwnd();
    // The originals arrived (their ACK was lost): the peer reports the probe as a
    // duplicate. No loss, no window reduction, not a duplicate ACK.
    send(&mut t, ms(66), &Seg::ack(P, L + 5000).sack(&[(L + 4000, L + 5000)]));
    assert_eq!((t.counters().tlp_recoveries, t.cwnd()), (0, cwnd));
    assert_eq!(t.tlp_end, None);
    assert_eq!(t.counters().dup_acks, 0);
}

#[test]
fn probe_repairing_a_loss_reduces_the_window() {
    let mut t = sack_established_with(&TcpConfig { initial_window: 4, ..cfg() });
    with_rtt_sample(&mut t);
    t.send(&pattern(4000));
    assert_eq!(recv_all(&mut t, ms(20)).len(), 4);
    send(&mut t, ms(30), &Seg::ack(P, L + 3000));
    tick(&mut t, ms(58));
    assert_eq!(briefs(&recv_all(&mut t, ms(58))), vec![b(L + 4000, P, "PA", 1000)]);
    // The probe's ACK covers it without a D-SACK: the original may have been lost.
    send(&mut t, ms(68), &Seg::ack(P, L + 5000));
    assert!(t.tlp_end.is_some());
    // New data acknowledged beyond the probe, still no D-SACK: it was (RFC 8985 §7.4).
    let before = t.cwnd();
    t.send(&pattern(1000));
    recv_one(&mut t, ms(68));
    send(&mut t, ms(78), &Seg::ack(P, L + 6000));
    assert_eq!(t.counters().tlp_recoveries, 1);
    assert!(t.cwnd() < before, "{} !< {before}", t.cwnd());
    assert_eq!(t.tlp_end, None);
}

#[test]
fn duplicate_segments_are_reported_with_dsack() {
    let c = TcpConfig { sack: true, ..cfg() };
    let mut syn = Seg::new(PEER_ISS).syn().mss(1000);
    syn.options.sack_permitted = true;
    let mut t = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &c);
    recv_one(&mut t, ms(0));
    send(&mut t, ms(0), &Seg::ack(PEER_ISS + 1, ISS + 1));
    send(&mut t, ms(1), &Seg::ack(P, L).data(&pattern(1000)));
    send(&mut t, ms(2), &Seg::ack(P + 2000, L).data(&pattern(1000)));
    let ack = recv_one(&mut t, ms(2));
    assert_eq!(ack.repr.options.sack_blocks(), &[(SeqNumber(P + 2000), SeqNumber(P + 3000))]);
    // Old data again: reported first (RFC 2883), at once, then the SACK blocks.
    send(&mut t, ms(3), &Seg::ack(P, L).data(&pattern(1000)));
    let ack = recv_one(&mut t, ms(3));
    assert_eq!(
        ack.repr.options.sack_blocks(),
        &[(SeqNumber(P), SeqNumber(P + 1000)), (SeqNumber(P + 2000), SeqNumber(P + 3000))]
    );
    // Out-of-order data again: reported too. Only once.
    send(&mut t, ms(4), &Seg::ack(P + 2000, L).data(&pattern(1000)));
    let ack = recv_one(&mut t, ms(4));
    assert_eq!(
        ack.repr.options.sack_blocks(),
        &[(SeqNumber(P + 2000), SeqNumber(P + 3000)), (SeqNumber(P + 2000), SeqNumber(P + 3000))]
    );
    send(&mut t, ms(5), &Seg::ack(P + 1000, L).data(&pattern(1000)));
    let ack = recv_one(&mut t, ms(5));
    assert_eq!((ack.ack(), ack.repr.options.sack_blocks()), (P + 3000, &[][..]));
}

#[test]
fn no_rack_or_probes_without_sack() {
    let mut t = established();
    t.send(&pattern(3000));
    recv_all(&mut t, ms(0));
    send(&mut t, ms(10), &Seg::ack(P, L + 1000));
    // Only the RTO (200 ms after the ACK) is armed.
    assert_eq!(t.poll_timeout(), Some(ms(210)));
    assert_eq!(t.rack.records(), 0);
    // And with SACK, RACK can be turned off.
    let mut t = sack_established_with(&TcpConfig { rack: false, ..cfg() });
    t.send(&pattern(3000));
    recv_all(&mut t, ms(0));
    send(&mut t, ms(10), &Seg::ack(P, L + 1000));
    assert_eq!(t.poll_timeout(), Some(ms(210)));
    assert_eq!(t.rack.records(), 0);
}

#[test]
fn srtt_in_microseconds_from_send_times() {
    // A 50 us path with timestamps, which tick in milliseconds and would say 0 us: the
    // RFC 6298 estimator takes microsecond samples from the segments' send times.
    let c = TcpConfig { sack: true, timestamps: true, ..cfg() };
    let mut t = Tcb::connect(us(0), LOCAL, REMOTE, SeqNumber(ISS), &c);
    recv_one(&mut t, us(0));
    let mut sa = Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000).ts(7, 0);
    sa.options.sack_permitted = true;
    send(&mut t, us(80), &sa);
    recv_one(&mut t, us(80));
    assert!(t.negotiated().1);
    let samples = t.counters().rtt_samples;
    // Segments of 988 octets (MSS 1000 less the timestamp option).
    t.send(&pattern(3 * 988));
    assert_eq!(recv_all(&mut t, us(1000)).len(), 3);
    send(&mut t, us(1050), &Seg::ack(P, L + 2 * 988).ts(8, 1));
    assert_eq!(t.counters().rtt_samples, samples + 1);
    let srtt = t.srtt().unwrap();
    assert!(srtt > Duration::ZERO && srtt <= Duration::from_micros(80), "srtt {srtt:?}");
    // Karn: an ACK covering a retransmission gives no microsecond sample.
    let fire = us(1050) + t.rto();
    t.handle_timeout(fire);
    let rexmit = recv_all(&mut t, fire);
    assert_eq!(rexmit[0].seq(), L + 2 * 988);
    let before = t.srtt();
    send(&mut t, fire + Duration::from_micros(60), &Seg::ack(P, L + 3 * 988).ts(9, 1));
    // The timestamp echo (1, from before the retransmission) still gives its
    // millisecond sample, as Linux falls back to it; no 60 us one from the send time.
    assert_ne!(t.srtt(), before.map(|s| (s * 7 + Duration::from_micros(60)) / 8));
}
