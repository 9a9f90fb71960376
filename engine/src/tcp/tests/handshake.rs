//! Opening: active, passive, simultaneous; retransmission and failure of the SYN and
//! SYN-ACK; resets and bad ACKs in SYN-SENT and SYN-RECEIVED.

use super::*;

#[test]
fn active_open() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    assert_eq!(t.state(), State::SynSent);
    let syn = recv_one(&mut t, ms(0));
    assert_eq!(syn.brief(), b(ISS, 0, "S", 0));
    assert_eq!(syn.repr.options.mss, Some(1000));
    assert_eq!(syn.repr.options.window_scale, None);
    assert_eq!(syn.repr.window, 64_000);
    assert_eq!(t.poll_timeout(), Some(ms(1000)));
    send(&mut t, ms(10), &Seg::ack(PEER_ISS, ISS + 1).syn().mss(1200));
    assert_eq!(t.state(), State::Established);
    assert_eq!(recv_one(&mut t, ms(10)).brief(), b(ISS + 1, PEER_ISS + 1, "A", 0));
    // RTT from the SYN: 10 ms.
    assert_eq!(t.srtt(), Some(Duration::from_millis(10)));
    assert_eq!(t.effective_mss(), 1000);
    assert_eq!(t.peer_window(), 64_000);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn passive_open() {
    let syn = Seg::new(PEER_ISS).syn().mss(1400);
    let mut t = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &cfg());
    assert_eq!(t.state(), State::SynReceived);
    let sa = recv_one(&mut t, ms(0));
    assert_eq!(sa.brief(), b(ISS, PEER_ISS + 1, "SA", 0));
    assert_eq!(sa.repr.options.mss, Some(1000));
    // Nothing offered that the SYN did not carry.
    assert_eq!((sa.repr.options.window_scale, sa.repr.options.timestamps, sa.repr.options.sack_permitted), (None, None, false));
    // The handshake's ACK carries data.
    send(&mut t, ms(5), &Seg::ack(PEER_ISS + 1, ISS + 1).data(b"hello"));
    assert_eq!(t.state(), State::Established);
    assert_eq!(read_all(&mut t), b"hello");
    assert_eq!(t.srtt(), Some(Duration::from_millis(5)));
}

#[test]
fn accept_non_syn_is_closed() {
    let s = Seg::ack(PEER_ISS, 1).syn();
    let t = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &s.repr(), SeqNumber(ISS), &cfg());
    assert!(t.is_closed());
}

#[test]
fn peer_without_mss_option_gets_536() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    recv_one(&mut t, ms(0));
    send(&mut t, ms(0), &Seg::ack(PEER_ISS, ISS + 1).syn());
    recv_one(&mut t, ms(0));
    assert_eq!(t.effective_mss(), 536);
    t.set_nodelay(true);
    t.send(&pattern(2000));
    let segs = recv_all(&mut t, ms(0));
    assert_eq!(segs.iter().map(Out::len).collect::<Vec<_>>(), vec![536, 536, 536, 392]);
}

#[test]
fn simultaneous_open() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    recv_one(&mut t, ms(0));
    // The peer's SYN crosses ours.
    send(&mut t, ms(1), &Seg::new(PEER_ISS).syn().mss(1000));
    assert_eq!(t.state(), State::SynReceived);
    let sa = recv_one(&mut t, ms(1));
    assert_eq!(sa.brief(), b(ISS, PEER_ISS + 1, "SA", 0));
    // Its SYN-ACK (answering our SYN) completes the handshake.
    send(&mut t, ms(2), &Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000));
    assert_eq!(t.state(), State::Established);
    recv_nothing(&mut t, ms(2));
    t.send(b"x");
    assert_eq!(recv_one(&mut t, ms(2)).brief(), b(ISS + 1, PEER_ISS + 1, "PA", 1));
}

#[test]
fn simultaneous_open_completed_by_ack() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    recv_one(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::new(PEER_ISS).syn().mss(1000));
    recv_one(&mut t, ms(1));
    send(&mut t, ms(2), &Seg::ack(PEER_ISS + 1, ISS + 1));
    assert_eq!(t.state(), State::Established);
}

#[test]
fn syn_retransmission_and_give_up() {
    let c = TcpConfig { syn_retries: 3, ..cfg() };
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &c);
    recv_one(&mut t, ms(0));
    // 1 s, then 2 s, 4 s: backoff doubles.
    let mut at = 0;
    for gap in [1000, 2000, 4000] {
        at += gap;
        assert_eq!(t.poll_timeout(), Some(ms(at)));
        tick(&mut t, ms(at - 1));
        recv_nothing(&mut t, ms(at - 1));
        tick(&mut t, ms(at));
        assert_eq!(recv_one(&mut t, ms(at)).brief(), b(ISS, 0, "S", 0));
    }
    at += 8000;
    assert_eq!(t.poll_timeout(), Some(ms(at)));
    tick(&mut t, ms(at));
    assert_eq!(t.state(), State::Closed);
    assert_eq!(t.error(), Some(TcpError::TimedOut));
    assert!(t.is_closed());
    assert_eq!(t.counters().timeouts, 3);
    assert_eq!(t.counters().retransmits, 3);
}

#[test]
fn syn_loss_gives_three_second_rto() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    recv_one(&mut t, ms(0));
    tick(&mut t, ms(1000));
    recv_one(&mut t, ms(1000));
    // Karn: no sample from the retransmitted SYN; RFC 6298 §5.7: RTO 3 s.
    send(&mut t, ms(1100), &Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000));
    recv_one(&mut t, ms(1100));
    assert_eq!(t.srtt(), None);
    assert_eq!(t.rto(), Duration::from_secs(3));
    t.send(b"data");
    recv_one(&mut t, ms(1100));
    assert_eq!(t.poll_timeout(), Some(ms(4100)));
}

#[test]
fn rst_in_syn_sent_refuses() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    recv_one(&mut t, ms(0));
    // Without an acceptable ACK the RST is ignored (RFC 5961 §3.2 / RFC 9293).
    send(&mut t, ms(1), &Seg::new(0).rst());
    send(&mut t, ms(1), &Seg::ack(0, ISS + 5).rst());
    assert_eq!(t.state(), State::SynSent);
    send(&mut t, ms(1), &Seg::ack(0, ISS + 1).rst());
    assert_eq!(t.state(), State::Closed);
    assert_eq!(t.error(), Some(TcpError::Refused));
    assert!(!t.writable());
    assert!(t.readable());
    recv_nothing(&mut t, ms(1));
}

#[test]
fn bad_ack_in_syn_sent_gets_rst() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    recv_one(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(PEER_ISS, 777).syn());
    assert_eq!(recv_one(&mut t, ms(1)).brief(), b(777, 0, "R", 0));
    assert_eq!(t.state(), State::SynSent);
    // A segment without SYN or RST is dropped.
    send(&mut t, ms(1), &Seg::ack(PEER_ISS, ISS + 1));
    recv_nothing(&mut t, ms(1));
    assert_eq!(t.state(), State::SynSent);
}

#[test]
fn syn_received_retransmits_syn_ack() {
    let c = TcpConfig { synack_retries: 2, ..cfg() };
    let syn = Seg::new(PEER_ISS).syn();
    let mut t = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &c);
    recv_one(&mut t, ms(0));
    // The peer repeats its SYN: the SYN-ACK goes again at once.
    send(&mut t, ms(300), &syn);
    assert_eq!(recv_one(&mut t, ms(300)).brief(), b(ISS, PEER_ISS + 1, "SA", 0));
    tick(&mut t, ms(1000));
    assert_eq!(recv_one(&mut t, ms(1000)).brief(), b(ISS, PEER_ISS + 1, "SA", 0));
    tick(&mut t, ms(3000));
    assert_eq!(recv_one(&mut t, ms(3000)).brief(), b(ISS, PEER_ISS + 1, "SA", 0));
    tick(&mut t, ms(7000));
    assert_eq!(t.state(), State::Closed);
    assert_eq!(t.error(), Some(TcpError::TimedOut));
}

#[test]
fn syn_received_bad_ack_gets_rst() {
    let syn = Seg::new(PEER_ISS).syn();
    let mut t = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &cfg());
    recv_one(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(PEER_ISS + 1, ISS + 100));
    assert_eq!(recv_one(&mut t, ms(1)).brief(), b(ISS + 100, 0, "R", 0));
    assert_eq!(t.state(), State::SynReceived);
    // An exact RST ends it.
    send(&mut t, ms(2), &Seg::new(PEER_ISS + 1).rst());
    assert_eq!(t.state(), State::Closed);
}

#[test]
fn data_queued_before_established_and_fin_queued() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    assert_eq!(t.send(b"early"), 5);
    t.shutdown_write();
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(ISS, 0, "S", 0));
    send(&mut t, ms(1), &Seg::ack(PEER_ISS, ISS + 1).syn());
    assert_eq!(t.state(), State::FinWait1);
    let o = recv_one(&mut t, ms(1));
    assert_eq!(o.brief(), b(ISS + 1, PEER_ISS + 1, "FPA", 5));
    assert_eq!(o.payload, b"early");
}

#[test]
fn close_in_syn_sent_just_drops() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    recv_one(&mut t, ms(0));
    t.close();
    assert!(t.is_closed());
    assert_eq!(t.error(), None);
    recv_nothing(&mut t, ms(0));
}

#[test]
fn syn_cookie_completion() {
    let mut syn = Seg::new(PEER_ISS).syn().mss(1000).ts(100, 0);
    syn.options.sack_permitted = true;
    let c = TcpConfig { timestamps: true, sack: true, ..cfg() };
    // The stack's stateless SYN-ACK, built by a throwaway connection.
    let mut throwaway = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &c);
    let sa = recv_one(&mut throwaway, ms(0));
    let tsval = sa.repr.options.timestamps.unwrap().0;
    // The ACK arrives; the connection is rebuilt from the cookie.
    let ack = Seg::ack(PEER_ISS + 1, ISS + 1).ts(110, tsval).data(b"GET /");
    let mut t = Tcb::accept_syn(ms(10), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &c);
    send(&mut t, ms(10), &ack);
    assert_eq!(t.state(), State::Established);
    assert_eq!(read_all(&mut t), b"GET /");
    assert_eq!(t.srtt(), Some(Duration::from_millis(10)));
    // Any other ACK still gets a reset.
    let mut t = Tcb::accept_syn(ms(10), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &c);
    send(&mut t, ms(10), &Seg::ack(PEER_ISS + 1, ISS + 2).ts(110, tsval));
    assert_eq!(recv(&mut t, ms(10)).unwrap().brief(), b(ISS + 2, 0, "R", 0));
    assert_eq!(t.state(), State::SynReceived);
}

#[test]
fn handshake_rtt_in_microseconds_with_timestamps() {
    // A 50 us path: the timestamp echo ticks in milliseconds and would time the handshake
    // as 0 (then RACK's reordering window and the TLP timeout start from nothing). The
    // SYN-ACK's send time gives the sample, as Linux's `snt_synack`.
    let c = TcpConfig { timestamps: true, ..cfg() };
    let syn = Seg::new(PEER_ISS).syn().mss(1000).ts(100, 0);
    let mut t = Tcb::accept_syn(us(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &c);
    let tsval = recv_one(&mut t, us(0)).repr.options.timestamps.unwrap().0;
    send(&mut t, us(50), &Seg::ack(PEER_ISS + 1, ISS + 1).ts(100, tsval));
    assert_eq!(t.state(), State::Established);
    assert_eq!(t.srtt(), Some(Duration::from_micros(50)));

    // Active open: from the SYN's send time.
    let mut t = Tcb::connect(us(0), LOCAL, REMOTE, SeqNumber(ISS), &c);
    let tsval = recv_one(&mut t, us(0)).repr.options.timestamps.unwrap().0;
    send(&mut t, us(80), &Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000).ts(7, tsval));
    assert_eq!(t.state(), State::Established);
    assert_eq!(t.srtt(), Some(Duration::from_micros(80)));
}

#[test]
fn retransmitted_syn_ack_is_timed_by_the_echo_at_least_one_millisecond() {
    // Karn: after a retransmitted SYN-ACK the send time is ambiguous; the timestamp echo
    // from the same millisecond counts as 1 ms (Linux `tcp_rtt_tsopt_us`), not 0.
    let c = TcpConfig { timestamps: true, ..cfg() };
    let syn = Seg::new(PEER_ISS).syn().mss(1000).ts(100, 0);
    let mut t = Tcb::accept_syn(us(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &c);
    recv_one(&mut t, us(0));
    let fire = t.poll_timeout().unwrap();
    t.handle_timeout(fire);
    let tsval = recv_one(&mut t, fire).repr.options.timestamps.unwrap().0;
    send(&mut t, fire + Duration::from_micros(50), &Seg::ack(PEER_ISS + 1, ISS + 1).ts(100, tsval));
    assert_eq!(t.state(), State::Established);
    assert_eq!(t.srtt(), Some(Duration::from_millis(1)));
}
