//! Loss: retransmission timer and backoff, giving up, the user timeout, Karn's rule,
//! NewReno fast retransmit and recovery, limited transmit, SACK-based recovery and
//! SACK-aware go-back-N after a timeout.

use super::*;

const P: u32 = PEER_ISS + 1;
const L: u32 = ISS + 1;

/// Connection with SACK negotiated (the peer's SYN-ACK offers it).
fn sack_established() -> Tcb {
    let c = TcpConfig { sack: true, ..cfg() };
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &c);
    let syn = recv_one(&mut t, ms(0));
    assert!(syn.repr.options.sack_permitted);
    let mut sa = Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000);
    sa.options.sack_permitted = true;
    send(&mut t, ms(0), &sa);
    recv_one(&mut t, ms(0));
    assert!(t.negotiated().1);
    t
}

fn briefs(v: &[Out]) -> Vec<(u32, u32, String, usize)> {
    v.iter().map(Out::brief).collect()
}

#[test]
fn rto_backoff_and_give_up() {
    let mut t = established_with(&TcpConfig { max_retransmits: 3, ..cfg() });
    t.send(&[7; 100]);
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P, "PA", 100));
    // RTO 200 ms (floor), doubling on each expiry.
    let mut at = 0;
    for gap in [200, 400, 800] {
        at += gap;
        assert_eq!(t.poll_timeout(), Some(ms(at)));
        tick(&mut t, ms(at));
        assert_eq!(recv_one(&mut t, ms(at)).brief(), b(L, P, "PA", 100));
    }
    at += 1600;
    assert_eq!(t.poll_timeout(), Some(ms(at)));
    tick(&mut t, ms(at));
    assert_eq!(t.state(), State::Closed);
    assert_eq!(t.error(), Some(TcpError::TimedOut));
    assert!(t.readable());
    recv_nothing(&mut t, ms(at));
    let c = t.counters();
    assert_eq!((c.timeouts, c.retransmits, c.retransmitted_bytes), (3, 3, 300));
}

#[test]
fn karn_keeps_backoff_until_a_clean_sample() {
    let mut t = established();
    t.send(&[1; 100]);
    recv_one(&mut t, ms(0));
    tick(&mut t, ms(200));
    recv_one(&mut t, ms(200));
    assert_eq!(t.rto(), Duration::from_millis(400));
    // The ACK of retransmitted data gives no sample: the backoff stays.
    send(&mut t, ms(300), &Seg::ack(P, L + 100));
    assert_eq!(t.rto(), Duration::from_millis(400));
    t.send(&[2; 100]);
    recv_one(&mut t, ms(300));
    assert_eq!(t.poll_timeout(), Some(ms(700)));
    send(&mut t, ms(330), &Seg::ack(P, L + 200));
    // A fresh sample (30 ms) ends the backoff.
    assert_eq!(t.rto(), Duration::from_millis(200));
}

#[test]
fn go_back_n_in_slow_start_after_timeout() {
    let mut t = established();
    t.send(&pattern(5000));
    assert_eq!(recv_all(&mut t, ms(0)).len(), 5);
    tick(&mut t, ms(200));
    // One segment: the loss window.
    assert_eq!(briefs(&recv_all(&mut t, ms(200))), vec![b(L, P, "A", 1000)]);
    assert_eq!((t.cwnd(), t.ssthresh()), (1000, 2500));
    send(&mut t, ms(250), &Seg::ack(P, L + 1000));
    // Slow start: two more.
    assert_eq!(briefs(&recv_all(&mut t, ms(250))), vec![b(L + 1000, P, "A", 1000), b(L + 2000, P, "A", 1000)]);
    // The peer had the rest all along.
    send(&mut t, ms(300), &Seg::ack(P, L + 5000));
    recv_nothing(&mut t, ms(300));
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn user_timeout() {
    let mut t = established_with(&TcpConfig { user_timeout: Some(Duration::from_millis(1000)), ..cfg() });
    t.send(b"x");
    recv_one(&mut t, ms(0));
    tick(&mut t, ms(200));
    recv_one(&mut t, ms(200));
    tick(&mut t, ms(600));
    recv_one(&mut t, ms(600));
    assert_eq!(t.poll_timeout(), Some(ms(1000)));
    tick(&mut t, ms(1000));
    assert_eq!(t.error(), Some(TcpError::TimedOut));
}

#[test]
fn newreno_fast_retransmit_and_recovery() {
    let mut t = established();
    t.send(&pattern(20_000));
    assert_eq!(recv_all(&mut t, ms(0)).len(), 10);
    // Segment 2 (L+1000) and segment 5 (L+4000) are lost.
    send(&mut t, ms(20), &Seg::ack(P, L + 1000));
    // The ACK opened cwnd by one segment and freed one: two new segments.
    assert_eq!(recv_all(&mut t, ms(20)).len(), 2);
    // Limited transmit (RFC 3042) on the first two duplicates: one new segment each.
    send(&mut t, ms(21), &Seg::ack(P, L + 1000));
    assert_eq!(briefs(&recv_all(&mut t, ms(21))), vec![b(L + 12_000, P, "A", 1000)]);
    send(&mut t, ms(22), &Seg::ack(P, L + 1000));
    assert_eq!(briefs(&recv_all(&mut t, ms(22))), vec![b(L + 13_000, P, "A", 1000)]);
    // Third duplicate: fast retransmit; ssthresh = FlightSize / 2.
    send(&mut t, ms(23), &Seg::ack(P, L + 1000));
    assert_eq!(briefs(&recv_all(&mut t, ms(23))), vec![b(L + 1000, P, "A", 1000)]);
    assert_eq!(t.ssthresh(), 6500);
    assert_eq!(t.counters().fast_retransmits, 1);
    // Each further duplicate inflates the window by one segment: flight 13000 against
    // 6500 + 3000 + n * 1000 sends new data after four more.
    for i in 0..4 {
        send(&mut t, ms(24 + i), &Seg::ack(P, L + 1000));
        recv_nothing(&mut t, ms(24 + i));
    }
    send(&mut t, ms(28), &Seg::ack(P, L + 1000));
    assert_eq!(briefs(&recv_all(&mut t, ms(28))), vec![b(L + 14_000, P, "A", 1000)]);
    // Partial ACK up to the second hole: it is retransmitted at once; the deflated
    // window (inflation 8000 - 3000 acked + 1000) still has room for one new segment.
    send(&mut t, ms(40), &Seg::ack(P, L + 4000));
    assert_eq!(briefs(&recv_all(&mut t, ms(40))), vec![b(L + 4000, P, "A", 1000), b(L + 15_000, P, "A", 1000)]);
    // Full ACK (everything sent before recovery): recovery ends, the window deflates
    // to min(ssthresh, FlightSize + MSS).
    send(&mut t, ms(60), &Seg::ack(P, L + 14_000));
    assert_eq!(t.cwnd(), 3000);
    assert_eq!(t.counters().fast_retransmits, 1);
    assert_eq!(t.counters().retransmits, 2);
    assert_eq!(t.counters().timeouts, 0);
}

#[test]
fn duplicate_acks_need_outstanding_data_and_same_window() {
    let mut t = established();
    for _ in 0..5 {
        send(&mut t, ms(1), &Seg::ack(P, L));
    }
    assert_eq!(t.counters().dup_acks, 0);
    t.send(&pattern(3000));
    recv_all(&mut t, ms(1));
    for w in [1000, 2000, 3000] {
        send(&mut t, ms(2), &Seg::ack(P, L).win(w));
    }
    assert_eq!(t.counters().fast_retransmits, 0);
}

#[test]
fn sack_recovery_retransmits_holes_then_new_data() {
    let mut t = sack_established();
    t.send(&pattern(20_000));
    assert_eq!(recv_all(&mut t, ms(0)).len(), 10);
    // Segments 1 and 5 lost. The first SACK already shows 3000 bytes above SND.UNA:
    // IsLost(SND.UNA), recovery starts on the first duplicate ACK.
    // PRR (RFC 6937): the ACK delivered 3000 bytes, so ssthresh / RecoverFS = 1/2 of
    // that (1500) may go: the fast retransmission and one new segment.
    send(&mut t, ms(20), &Seg::ack(P, L).sack(&[(L + 1000, L + 4000)]));
    assert_eq!(briefs(&recv_all(&mut t, ms(20))), vec![b(L, P, "A", 1000), b(L + 10_000, P, "A", 1000)]);
    assert_eq!((t.cwnd(), t.ssthresh()), (5000, 5000));
    // More SACKs: the second hole is lost too; pipe leaves room for it and new data.
    send(&mut t, ms(21), &Seg::ack(P, L).sack(&[(L + 5000, L + 10_000), (L + 1000, L + 4000)]));
    assert_eq!(
        briefs(&recv_all(&mut t, ms(21))),
        vec![b(L + 4000, P, "A", 1000), b(L + 11_000, P, "A", 1000), b(L + 12_000, P, "A", 1000)]
    );
    // The first retransmission arrives: partial ACK, nothing new to send (pipe full).
    send(&mut t, ms(40), &Seg::ack(P, L + 4000).sack(&[(L + 5000, L + 10_000)]));
    let v = recv_all(&mut t, ms(40));
    assert!(v.iter().all(|o| o.seq() >= L + 13_000), "{:?}", briefs(&v));
    // Everything up to the recovery point: recovery ends.
    send(&mut t, ms(41), &Seg::ack(P, L + 10_000));
    assert_eq!(t.counters().fast_retransmits, 1);
    assert_eq!(t.counters().retransmits, 2);
    assert_eq!(t.counters().timeouts, 0);
}

#[test]
fn sack_recovery_starts_on_three_duplicates_without_blocks() {
    let mut t = sack_established();
    t.send(&pattern(5000));
    recv_all(&mut t, ms(0));
    for i in 0..2 {
        send(&mut t, ms(10 + i), &Seg::ack(P, L));
        recv_nothing(&mut t, ms(10 + i));
    }
    send(&mut t, ms(12), &Seg::ack(P, L));
    // A whole segment from SND.UNA, not a one-byte sliver.
    assert_eq!(briefs(&recv_all(&mut t, ms(12))), vec![b(L, P, "A", 1000)]);
}

#[test]
fn timeout_go_back_skips_sacked_data() {
    let mut t = sack_established();
    t.send(&pattern(4000));
    recv_all(&mut t, ms(0));
    // The peer holds segment 3 only.
    send(&mut t, ms(10), &Seg::ack(P, L).sack(&[(L + 2000, L + 3000)]));
    recv_nothing(&mut t, ms(10));
    let at = t.poll_timeout().unwrap();
    tick(&mut t, at);
    assert_eq!(briefs(&recv_all(&mut t, at)), vec![b(L, P, "A", 1000)]);
    send(&mut t, at + Duration::from_millis(10), &Seg::ack(P, L + 1000).sack(&[(L + 2000, L + 3000)]));
    assert_eq!(
        briefs(&recv_all(&mut t, at + Duration::from_millis(10))),
        vec![b(L + 1000, P, "A", 1000), b(L + 3000, P, "PA", 1000)]
    );
}

#[test]
fn sack_blocks_ignored_when_not_negotiated() {
    let mut t = established();
    t.send(&pattern(5000));
    recv_all(&mut t, ms(0));
    send(&mut t, ms(10), &Seg::ack(P, L).sack(&[(L + 1000, L + 5000)]));
    assert_eq!(t.counters().fast_retransmits, 0);
}

#[test]
fn bogus_sack_blocks_are_ignored() {
    let mut t = sack_established();
    t.send(&pattern(5000));
    recv_all(&mut t, ms(0));
    // Beyond SND.MAX, inverted, below SND.UNA: none of them counts.
    send(&mut t, ms(10), &Seg::ack(P, L).sack(&[(L + 4000, L + 90_000), (L + 3000, L + 2000), (L - 500, L)]));
    assert_eq!(t.counters().dup_acks, 1);
    assert_eq!(t.counters().fast_retransmits, 0);
    recv_nothing(&mut t, ms(10));
}
