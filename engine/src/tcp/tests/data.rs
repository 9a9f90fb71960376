//! Data transfer: segmentation, windows, Nagle and push, delayed ACKs, out-of-order
//! reception, window updates, zero window and the persist timer.

use super::*;

const P: u32 = PEER_ISS + 1;
const L: u32 = ISS + 1;

#[test]
fn send_segments_within_initial_window() {
    let mut t = established();
    let data = pattern(20_000);
    assert_eq!(t.send(&data), 20_000);
    let segs = recv_all(&mut t, ms(0));
    // IW = 10 segments of 1000.
    assert_eq!(segs.len(), 10);
    for (i, s) in segs.iter().enumerate() {
        assert_eq!(s.brief(), b(L + 1000 * i as u32, P, "A", 1000));
        assert_eq!(s.payload, &data[1000 * i..1000 * (i + 1)]);
    }
    assert_eq!(t.bytes_in_flight(), 10_000);
    // The handshake's RTT sample was ~0: RTO at the 200 ms floor.
    assert_eq!(t.poll_timeout(), Some(ms(200)));
    // Two segments acknowledged: slow start opens the window by two more, plus the two freed.
    send(&mut t, ms(50), &Seg::ack(P, L + 2000));
    let segs = recv_all(&mut t, ms(50));
    assert_eq!(segs.len(), 4);
    assert_eq!(segs[0].seq(), L + 10_000);
    assert_eq!(t.cwnd(), 12_000);
    // The timer restarted with an RTO from the 50 ms sample: 50 + 4*25 = 150 -> min 200.
    assert_eq!(t.rto(), Duration::from_millis(200));
    assert_eq!(t.poll_timeout(), Some(ms(250)));
    send(&mut t, ms(100), &Seg::ack(P, L + 14_000));
    assert_eq!(recv_all(&mut t, ms(100)).len(), 6);
    send(&mut t, ms(150), &Seg::ack(P, L + 20_000));
    recv_nothing(&mut t, ms(150));
    assert_eq!(t.poll_timeout(), None);
    assert_eq!(t.send_queued(), 0);
}

#[test]
fn peer_window_limits_sending() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).win(2500));
    t.send(&pattern(10_000));
    let segs = recv_all(&mut t, ms(0));
    // 1000 + 1000, then 500 is less than half the largest window seen (64000): wait.
    assert_eq!(segs.iter().map(Out::len).collect::<Vec<_>>(), vec![1000, 1000]);
    send(&mut t, ms(10), &Seg::ack(P, L + 2000).win(2500));
    assert_eq!(recv_all(&mut t, ms(10)).iter().map(Out::len).collect::<Vec<_>>(), vec![1000, 1000]);
}

#[test]
fn send_buffer_is_bounded() {
    let mut t = established();
    assert_eq!(t.send_capacity(), 64_000);
    assert_eq!(t.send(&pattern(100_000)), 64_000);
    assert_eq!(t.send(b"x"), 0);
    assert!(!t.writable());
    recv_all(&mut t, ms(0));
    send(&mut t, ms(10), &Seg::ack(P, L + 3000));
    assert_eq!(t.send_capacity(), 3000);
    assert!(t.buffer_memory() <= 64_000 + 64_000);
}

#[test]
fn nagle_holds_small_segments() {
    let mut t = established();
    t.send(b"a");
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P, "PA", 1));
    t.send(b"b");
    t.send(b"c");
    recv_nothing(&mut t, ms(0));
    send(&mut t, ms(10), &Seg::ack(P, L + 1));
    let o = recv_one(&mut t, ms(10));
    assert_eq!(o.brief(), b(L + 1, P, "PA", 2));
    assert_eq!(o.payload, b"bc");
}

#[test]
fn nodelay_and_push() {
    let mut t = established();
    t.set_nodelay(true);
    t.send(b"a");
    recv_one(&mut t, ms(0));
    t.send(b"b");
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L + 1, P, "PA", 1));

    let mut t = established();
    t.send(b"a");
    recv_one(&mut t, ms(0));
    t.send(b"bc");
    recv_nothing(&mut t, ms(0));
    t.push();
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L + 1, P, "PA", 2));
    t.send(b"d");
    recv_nothing(&mut t, ms(0));
}

#[test]
fn full_segments_are_not_held_by_nagle() {
    let mut t = established();
    t.send(b"a");
    recv_one(&mut t, ms(0));
    t.send(&pattern(2500));
    let segs = recv_all(&mut t, ms(0));
    assert_eq!(segs.iter().map(Out::len).collect::<Vec<_>>(), vec![1000, 1000]);
    assert_eq!(segs[1].flags(), "A");
}

#[test]
fn nagle_minshall_sends_the_tail_behind_full_segments() {
    // Linux's Nagle (Minshall): the short tail of a write goes at once while only full
    // segments are unacknowledged; a peer delaying its ACK of those must not hold it.
    let mut t = established();
    t.send(&pattern(2500));
    let segs = recv_all(&mut t, ms(0));
    assert_eq!(segs.iter().map(Out::len).collect::<Vec<_>>(), vec![1000, 1000, 500]);
    // Now a short segment is in flight: the next short one waits for its ACK.
    t.send(&pattern(300));
    recv_nothing(&mut t, ms(0));
    send(&mut t, ms(5), &Seg::ack(P, L + 2000));
    recv_nothing(&mut t, ms(5));
    send(&mut t, ms(6), &Seg::ack(P, L + 2500));
    assert_eq!(recv_one(&mut t, ms(6)).brief(), b(L + 2500, P, "PA", 300));
}

/// A connection past quick-ACK mode (its first data long acknowledged, not idle).
fn past_quickack(t: &mut Tcb, now: Instant) {
    t.quickacks = 0;
    t.last_data_rx = Some(now);
}

#[test]
fn receive_in_order_with_delayed_ack() {
    let mut t = established();
    past_quickack(&mut t, ms(10));
    send(&mut t, ms(10), &Seg::ack(P, L).data(&pattern(500)));
    recv_nothing(&mut t, ms(10));
    assert_eq!(t.poll_timeout(), Some(ms(50)));
    assert_eq!(t.recv_available(), 500);
    tick(&mut t, ms(49));
    recv_nothing(&mut t, ms(49));
    tick(&mut t, ms(50));
    let a = recv_one(&mut t, ms(50));
    assert_eq!(a.brief(), b(L, P + 500, "A", 0));
    assert_eq!(a.repr.window, 64_000 - 500);
    assert_eq!(t.counters().delayed_acks, 1);
    assert_eq!(read_all(&mut t), pattern(500));
}

#[test]
fn ack_every_second_full_segment() {
    let mut t = established();
    past_quickack(&mut t, ms(0));
    let d = pattern(1000);
    send(&mut t, ms(0), &Seg::ack(P, L).data(&d));
    recv_nothing(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(P + 1000, L).data(&d));
    assert_eq!(recv_one(&mut t, ms(1)).brief(), b(L, P + 2000, "A", 0));
    assert_eq!(t.poll_timeout(), None);
    send(&mut t, ms(2), &Seg::ack(P + 2000, L).data(&d));
    recv_nothing(&mut t, ms(2));
    assert_eq!(t.poll_timeout(), Some(ms(42)));
    // A full segment and a short one: more than one full segment waits (Linux acks
    // when more than rcv_mss is unacknowledged).
    send(&mut t, ms(3), &Seg::ack(P + 3000, L).data(&d[..200]));
    assert_eq!(recv_one(&mut t, ms(3)).brief(), b(L, P + 3200, "A", 0));
}

#[test]
fn quick_acks_at_start_and_after_idle() {
    // Linux quick-ACK mode: the first segments of a connection are acknowledged at
    // once, so the sender's slow start is not paced by our delayed-ACK timer.
    let mut t = established();
    let d = pattern(100);
    let mut seq = P;
    for i in 0..16u64 {
        send(&mut t, ms(i), &Seg::ack(seq, L).data(&d));
        seq += 100;
        assert_eq!(recv_one(&mut t, ms(i)).brief(), b(L, seq, "A", 0), "quick ack {i}");
    }
    // Quick-ACK mode spent: the next short segment waits for the timer.
    send(&mut t, ms(20), &Seg::ack(seq, L).data(&d));
    seq += 100;
    recv_nothing(&mut t, ms(20));
    tick(&mut t, ms(60));
    assert_eq!(recv_one(&mut t, ms(60)).brief(), b(L, seq, "A", 0));
    // Idle longer than the RTO (200 ms floor): quick again.
    send(&mut t, ms(400), &Seg::ack(seq, L).data(&d));
    seq += 100;
    assert_eq!(recv_one(&mut t, ms(400)).brief(), b(L, seq, "A", 0));
}

#[test]
fn pushed_segment_acked_once_read_unless_a_reply_is_expected() {
    // Linux ICSK_ACK_PUSHED: a short segment is acknowledged as soon as the application
    // has read everything, instead of after the delayed-ACK timer (an upload's tail).
    let mut t = established();
    past_quickack(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(P, L).data(&pattern(300)));
    recv_nothing(&mut t, ms(1));
    assert_eq!(read_all(&mut t).len(), 300);
    assert_eq!(recv_one(&mut t, ms(1)).brief(), b(L, P + 300, "A", 0));
    assert_eq!(t.counters().pushed_acks, 1);
    // Interactive: we answer soon after each request, so the ACK rides on the reply.
    t.send(b"reply");
    assert_eq!(recv_one(&mut t, ms(2)).brief(), b(L, P + 300, "PA", 5));
    assert!(t.pingpong);
    send(&mut t, ms(3), &Seg::ack(P + 300, L + 5).data(&pattern(300)));
    recv_nothing(&mut t, ms(3));
    read_all(&mut t);
    recv_nothing(&mut t, ms(3));
    t.send(b"reply");
    assert_eq!(recv_one(&mut t, ms(3)).brief(), b(L + 5, P + 600, "PA", 5));
    // No reply within the delayed-ACK timeout: the timer acks and the connection
    // stops counting as interactive.
    send(&mut t, ms(4), &Seg::ack(P + 600, L + 10).data(&pattern(300)));
    read_all(&mut t);
    tick(&mut t, ms(44));
    assert_eq!(recv_one(&mut t, ms(44)).brief(), b(L + 10, P + 900, "A", 0));
    assert!(!t.pingpong);
}

#[test]
fn ack_delay_zero_acks_every_segment() {
    let mut t = established_with(&TcpConfig { ack_delay: Duration::ZERO, ..cfg() });
    send(&mut t, ms(0), &Seg::ack(P, L).data(b"x"));
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P + 1, "A", 0));
}

#[test]
fn data_piggybacks_the_ack() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).data(b"ping"));
    t.send(b"pong");
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P + 4, "PA", 4));
    assert_eq!(t.poll_timeout(), Some(ms(200)));
}

#[test]
fn out_of_order_acked_at_once_and_reassembled() {
    let mut t = established();
    let d = pattern(3000);
    send(&mut t, ms(0), &Seg::ack(P + 2000, L).data(&d[2000..]));
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P, "A", 0));
    send(&mut t, ms(1), &Seg::ack(P + 1000, L).data(&d[1000..2000]));
    assert_eq!(recv_one(&mut t, ms(1)).brief(), b(L, P, "A", 0));
    assert_eq!(t.recv_available(), 0);
    // The gap fill is acknowledged at once.
    send(&mut t, ms(2), &Seg::ack(P, L).data(&d[..1000]));
    let a = recv_one(&mut t, ms(2));
    assert_eq!(a.brief(), b(L, P + 3000, "A", 0));
    assert_eq!(read_all(&mut t), d);
    assert_eq!(t.counters().ooo_segments, 2);
}

#[test]
fn out_of_order_range_limit_drops() {
    let mut t = established_with(&TcpConfig { max_ooo_ranges: 2, ..cfg() });
    for i in 1..=3u32 {
        send(&mut t, ms(0), &Seg::ack(P + 200 * i, L).data(&[1; 100]));
    }
    recv_all(&mut t, ms(0));
    assert_eq!(t.counters().ooo_segments, 2);
    assert_eq!(t.counters().ooo_dropped, 1);
}

#[test]
fn duplicate_and_overlapping_data() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).data(b"hello"));
    // Entirely old: unacceptable, acknowledged at once.
    send(&mut t, ms(1), &Seg::ack(P, L).data(b"hello"));
    assert_eq!(recv_one(&mut t, ms(1)).brief(), b(L, P + 5, "A", 0));
    // Overlapping: the new part is taken.
    send(&mut t, ms(2), &Seg::ack(P + 3, L).data(b"lo world"));
    assert_eq!(read_all(&mut t), b"hello world");
}

#[test]
fn receive_window_closes_and_reopens() {
    let c = TcpConfig { recv_buffer: 4000, ..cfg() };
    let mut t = established_with(&c);
    let d = pattern(5000);
    for i in 0..4usize {
        send(&mut t, ms(i as u64), &Seg::ack(P + 1000 * i as u32, L).data(&d[1000 * i..1000 * (i + 1)]));
    }
    let acks = recv_all(&mut t, ms(4));
    assert_eq!(acks.last().unwrap().repr.window, 0);
    assert_eq!(acks.last().unwrap().ack(), P + 4000);
    // Beyond the window: dropped, acknowledged.
    send(&mut t, ms(5), &Seg::ack(P + 4000, L).data(&d[4000..]));
    let a = recv_one(&mut t, ms(5));
    assert_eq!((a.ack(), a.repr.window), (P + 4000, 0));
    assert_eq!(t.counters().out_of_window_bytes, 1000);
    // Reading a little does not reopen (SWS avoidance: less than min(buffer/2, MSS)).
    let mut buf = [0; 500];
    t.recv(&mut buf);
    recv_nothing(&mut t, ms(6));
    // Reading enough sends a window update.
    let mut buf = [0; 3500];
    t.recv(&mut buf);
    let u = recv_one(&mut t, ms(7));
    assert_eq!((u.ack(), u.repr.window), (P + 4000, 4000));
    assert_eq!(t.counters().window_updates, 1);
}

#[test]
fn zero_window_persist_probes_with_backoff() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).win(0));
    t.send(b"data");
    recv_nothing(&mut t, ms(0));
    // Persist timer: the RTO (200 ms), then doubling.
    let mut at = 0;
    for gap in [200, 400, 800] {
        at += gap;
        assert_eq!(t.poll_timeout(), Some(ms(at)));
        tick(&mut t, ms(at));
        let probe = recv_one(&mut t, ms(at));
        assert_eq!(probe.brief(), b(L - 1, P, "A", 0));
        // Answered with the window still closed.
        send(&mut t, ms(at + 1), &Seg::ack(P, L).win(0));
        recv_nothing(&mut t, ms(at + 1));
    }
    assert_eq!(t.counters().persist_probes, 3);
    assert_eq!(t.state(), State::Established);
    // The window opens: data flows.
    send(&mut t, ms(at + 2), &Seg::ack(P, L).win(1000));
    assert_eq!(recv_one(&mut t, ms(at + 2)).brief(), b(L, P, "PA", 4));
}

#[test]
fn unanswered_persist_probes_time_out() {
    let mut t = established_with(&TcpConfig { max_retransmits: 3, ..cfg() });
    send(&mut t, ms(0), &Seg::ack(P, L).win(0));
    t.send(b"data");
    recv_nothing(&mut t, ms(0));
    for _ in 0..3 {
        let at = t.poll_timeout().unwrap();
        tick(&mut t, at);
        recv_one(&mut t, at);
    }
    let at = t.poll_timeout().unwrap();
    tick(&mut t, at);
    assert_eq!(t.error(), Some(TcpError::TimedOut));
}

#[test]
fn small_window_sent_on_persist_override() {
    let mut t = established();
    // Window 300 with 64000 seen before: below half, hold; the persist timer sends it.
    send(&mut t, ms(0), &Seg::ack(P, L).win(300));
    t.send(&pattern(2000));
    recv_nothing(&mut t, ms(0));
    tick(&mut t, ms(200));
    assert_eq!(recv_one(&mut t, ms(200)).brief(), b(L, P, "A", 300));
}

#[test]
fn window_shrinking_to_zero_with_data_in_flight() {
    let mut t = established();
    t.send(&pattern(3000));
    assert_eq!(recv_all(&mut t, ms(0)).len(), 3);
    // The peer takes the first segment and closes its window.
    send(&mut t, ms(10), &Seg::ack(P, L + 1000).win(0));
    recv_nothing(&mut t, ms(10));
    // RTO: the window is closed, so probe rather than retransmit.
    let at = t.poll_timeout().unwrap();
    tick(&mut t, at);
    recv_nothing(&mut t, at);
    let at = t.poll_timeout().unwrap();
    tick(&mut t, at);
    assert_eq!(recv_one(&mut t, at).brief(), b(L + 999, P, "A", 0));
    send(&mut t, at, &Seg::ack(P, L + 1000).win(5000));
    let segs = recv_all(&mut t, at);
    assert_eq!(segs.iter().map(Out::brief).collect::<Vec<_>>(), vec![b(L + 1000, P, "A", 1000), b(L + 2000, P, "PA", 1000)]);
    assert_eq!(t.counters().timeouts, 0);
}

#[test]
fn recv_slices_and_consume() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).data(b"abcdef"));
    let (a, b2) = t.recv_slices();
    assert_eq!([a, b2].concat(), b"abcdef");
    t.recv_consume(4);
    assert_eq!(read_all(&mut t), b"ef");
}

#[test]
fn application_limited_sender_does_not_grow_cwnd() {
    let mut t = established();
    for i in 0..50u32 {
        t.send(&[1; 100]);
        recv_one(&mut t, ms(i as u64 * 10));
        send(&mut t, ms(i as u64 * 10 + 5), &Seg::ack(P, L + 100 * (i + 1)));
    }
    assert_eq!(t.cwnd(), 10_000);
}

#[test]
fn sequence_numbers_wrap() {
    let iss = u32::MAX - 1500;
    let peer = u32::MAX - 700;
    let c = TcpConfig { sack: true, ..cfg() };
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(iss), &c);
    recv_one(&mut t, ms(0));
    let mut sa = Seg::ack(peer, iss.wrapping_add(1)).syn().mss(1000);
    sa.options.sack_permitted = true;
    send(&mut t, ms(1), &sa);
    recv_one(&mut t, ms(1));
    let l = iss.wrapping_add(1);
    let p = peer.wrapping_add(1);
    // Out: 5000 bytes across the wrap, the second segment lost and SACK-recovered.
    let out = pattern(5000);
    t.send(&out);
    let segs = recv_all(&mut t, ms(2));
    assert_eq!(segs.len(), 5);
    let s = |n: u32| l.wrapping_add(n);
    send(&mut t, ms(10), &Seg::ack(p, s(1000)).sack(&[(s(2000), s(5000))]));
    let r = recv_all(&mut t, ms(10));
    assert_eq!(r[0].brief(), b(s(1000), p, "A", 1000));
    assert_eq!(r[0].payload, &out[1000..2000]);
    send(&mut t, ms(20), &Seg::ack(p, s(5000)));
    assert_eq!(t.bytes_in_flight(), 0);
    // In: 3000 bytes across the wrap, out of order.
    let inb = pattern(3000);
    let q = |n: u32| p.wrapping_add(n);
    send(&mut t, ms(21), &Seg::ack(q(1000), s(5000)).data(&inb[1000..]));
    send(&mut t, ms(22), &Seg::ack(q(0), s(5000)).data(&inb[..1000]));
    assert_eq!(read_all(&mut t), inb);
    send(&mut t, ms(23), &Seg::ack(q(3000), s(5000)).fin());
    assert_eq!(t.state(), State::CloseWait);
    t.close();
    let f = recv_all(&mut t, ms(23));
    assert_eq!(f.last().unwrap().brief(), b(s(5000), q(3001), "FA", 0));
    send(&mut t, ms(24), &Seg::ack(q(3001), s(5001)));
    assert!(t.is_closed());
}

#[test]
fn restart_window_after_idle() {
    let mut t = established();
    t.send(&pattern(10_000));
    assert_eq!(recv_all(&mut t, ms(0)).len(), 10);
    send(&mut t, ms(10), &Seg::ack(P, L + 10_000));
    assert_eq!(t.cwnd(), 12_000);
    // Shortly after: the whole window goes out.
    t.send(&pattern(12_000));
    assert_eq!(recv_all(&mut t, ms(20)).len(), 12);
    send(&mut t, ms(30), &Seg::ack(P, L + 22_000));
    let grown = t.cwnd();
    assert!(grown > 12_000);
    // Idle for longer than an RTO: back to the initial window (RFC 5681 §4.1).
    t.send(&pattern(30_000));
    assert_eq!(recv_all(&mut t, ms(2000)).len(), 10);
    assert_eq!(t.cwnd(), 10_000);
}

#[test]
fn caller_payload_budget() {
    let mut t = established();
    t.send(&pattern(1500));
    let s = t.poll_transmit(ms(0), 600).unwrap();
    assert_eq!(s.payload_len, 600);
    let (a, b2) = t.payload_for(&s);
    assert_eq!([a, b2].concat(), &pattern(1500)[..600]);
    let s = t.poll_transmit(ms(0), 600).unwrap();
    assert_eq!((s.repr.seq.0, s.payload_len), (L + 600, 600));
    // A zero budget still lets control segments out: an ACK, a FIN.
    let mut t = established();
    send(&mut t, ms(1), &Seg::ack(P, L).data(b"x"));
    assert_eq!(read_all(&mut t), b"x");
    tick(&mut t, ms(41));
    let s = t.poll_transmit(ms(41), 0).unwrap();
    assert_eq!((s.payload_len, s.repr.flags.fin, s.repr.ack.0), (0, false, P + 1));
    t.close();
    let s = t.poll_transmit(ms(42), 0).unwrap();
    assert_eq!((s.payload_len, s.repr.flags.fin, s.repr.flags.rst), (0, true, false));
}

#[test]
fn a_writer_refilling_a_full_buffer_sends_no_runts() {
    // An echo-like writer tops the buffer up whenever an ACK makes room; the buffer's size
    // is not a multiple of the MSS, so while it is full its unsent tail is short. That
    // tail waits for the next room instead of leaving as a runt behind which the next
    // short tail waits (Minshall) for the peer's delayed ACK. Only the last segment of
    // the stream is short.
    let c = TcpConfig { send_buffer: 30_500, ..cfg() };
    let mut t = established_with(&c);
    let total = 200_300;
    let data = pattern(total);
    let mut written = t.send(&data);
    let mut sizes = Vec::new();
    let mut acked = L;
    for round in 0..200u64 {
        let segs = recv_all(&mut t, ms(round));
        if segs.is_empty() && written == total {
            break;
        }
        // Each segment acknowledged on its own (as a quick-ACKing peer does), the writer
        // topping up after each ACK.
        for s in &segs {
            sizes.push(s.len());
            acked += s.len() as u32;
            send(&mut t, ms(round), &Seg::ack(P, acked));
            written += t.send(&data[written..]);
        }
    }
    assert_eq!(sizes.iter().sum::<usize>(), total);
    let short: Vec<(usize, usize)> = sizes.iter().copied().enumerate().filter(|&(_, n)| n < 1000).collect();
    assert_eq!(short, vec![(sizes.len() - 1, 300)], "short segments (index, length)");
}

/// An idle connection holds no heap memory: the buffers, the out-of-order and SACK
/// range lists are allocated on first use (a million idle connections must fit in a
/// couple of GiB; each list allocated up front cost 264 bytes per connection). Both
/// ends of the handshake, with SACK negotiated.
#[test]
fn idle_connections_hold_no_heap() {
    let c = TcpConfig { sack: true, ..cfg() };
    let mut active = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &c);
    recv_one(&mut active, ms(0));
    let mut sa = Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000);
    sa.options.sack_permitted = true;
    send(&mut active, ms(0), &sa);
    assert!(active.is_established());
    let mut syn = Seg::new(PEER_ISS).syn().mss(1000);
    syn.options.sack_permitted = true;
    let mut passive = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &c);
    recv_one(&mut passive, ms(0));
    send(&mut passive, ms(1), &Seg::ack(PEER_ISS + 1, ISS + 1));
    assert!(passive.is_established());
    for t in [&mut active, &mut passive] {
        recv_all(t, ms(1));
        assert_eq!(t.poll_timeout(), None, "no timer runs on an idle connection");
        assert_eq!(t.heap_memory(), 0);
    }
    // Out-of-order data takes the range list (and the ring), counted.
    send(&mut passive, ms(2), &Seg::ack(P + 1000, L).data(&pattern(100)));
    assert!(passive.heap_memory() >= 4096 + 33 * 8, "{}", passive.heap_memory());
}
