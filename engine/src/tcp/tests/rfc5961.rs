//! Resets and blind in-window attacks (RFC 5961), RSTs in each state, and keepalive.

use super::*;

const P: u32 = PEER_ISS + 1;
const L: u32 = ISS + 1;

#[test]
fn rst_exactly_at_rcv_nxt_resets() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).data(b"partial"));
    send(&mut t, ms(1), &Seg::new(P + 7).rst());
    assert_eq!(t.state(), State::Closed);
    assert_eq!(t.error(), Some(TcpError::Reset));
    // Data received before the reset can still be read.
    assert!(t.readable());
    assert_eq!(read_all(&mut t), b"partial");
    assert_eq!(t.counters().rst_received, 1);
    recv_nothing(&mut t, ms(1));
}

#[test]
fn rst_in_window_gets_challenge_ack() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::new(P + 1000).rst());
    assert_eq!(t.state(), State::Established);
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P, "A", 0));
    assert_eq!(t.counters().challenge_acks, 1);
    // The legitimate peer answers the challenge with an exact RST.
    send(&mut t, ms(1), &Seg::new(P).rst());
    assert_eq!(t.error(), Some(TcpError::Reset));
}

#[test]
fn rst_outside_window_ignored() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::new(P + 100_000).rst());
    send(&mut t, ms(0), &Seg::new(P - 1).rst());
    assert_eq!(t.state(), State::Established);
    recv_nothing(&mut t, ms(0));
    assert_eq!(t.counters().rst_ignored, 2);
}

#[test]
fn syn_in_synchronized_state_gets_challenge_ack() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::new(P + 10).syn());
    assert_eq!(t.state(), State::Established);
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P, "A", 0));
    assert_eq!(t.counters().challenge_acks, 1);
    // SYN-ACK repeated after the handshake (our ACK was lost): answered too.
    send(&mut t, ms(1), &Seg::ack(PEER_ISS, L).syn());
    assert_eq!(recv_one(&mut t, ms(1)).brief(), b(L, P, "A", 0));
}

#[test]
fn ack_of_unsent_data_is_dropped() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L + 5000).data(b"spoofed"));
    assert_eq!(t.recv_available(), 0);
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P, "A", 0));
    assert_eq!(t.counters().bad_ack, 1);
}

#[test]
fn ack_too_old_is_dropped() {
    let mut t = established();
    // MAX.SND.WND is 64000: an ACK more than that below SND.UNA is rejected.
    send(&mut t, ms(0), &Seg::ack(P, L.wrapping_sub(64_001)).data(b"spoofed"));
    assert_eq!(t.recv_available(), 0);
    assert_eq!(t.counters().challenge_acks, 1);
    // Within MAX.SND.WND below: an old duplicate ACK, the data counts.
    send(&mut t, ms(1), &Seg::ack(P, L.wrapping_sub(64_000)).data(b"fine"));
    assert_eq!(t.recv_available(), 4);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut t = established_with(&TcpConfig { challenge_ack_limit: 3, ..cfg() });
    let mut sent = 0;
    for i in 0..10 {
        send(&mut t, ms(i), &Seg::new(P + 500).rst());
        sent += recv_all(&mut t, ms(i)).len();
    }
    assert_eq!(sent, 3);
    assert_eq!(t.counters().challenge_acks_suppressed, 7);
    send(&mut t, ms(1500), &Seg::new(P + 500).rst());
    assert_eq!(recv_all(&mut t, ms(1500)).len(), 1);
}

#[test]
fn rst_in_closing_states_closes_without_error() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).fin());
    t.close();
    assert_eq!(t.state(), State::LastAck);
    recv_all(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::new(P + 1).rst());
    assert!(t.is_closed());
    assert_eq!(t.error(), None);

    let mut t = established();
    t.close();
    recv_all(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(P, L + 1).fin());
    assert_eq!(t.state(), State::TimeWait);
    send(&mut t, ms(2), &Seg::new(P + 1).rst());
    assert!(t.is_closed());
    assert_eq!(t.error(), None);
}

#[test]
fn rst_in_close_wait_is_a_reset() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).fin());
    assert_eq!(t.state(), State::CloseWait);
    send(&mut t, ms(1), &Seg::new(P + 1).rst());
    assert_eq!(t.error(), Some(TcpError::Reset));
}

#[test]
fn rst_in_syn_received_after_simultaneous_open_refuses() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    recv_one(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::new(PEER_ISS).syn());
    recv_one(&mut t, ms(1));
    send(&mut t, ms(2), &Seg::new(P).rst());
    assert_eq!(t.error(), Some(TcpError::Refused));
}

#[test]
fn segment_without_ack_is_dropped() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::new(P).data(b"noack"));
    assert_eq!(t.recv_available(), 0);
}

#[test]
fn wrong_ports_are_ignored() {
    let mut t = established();
    let s = Seg::ack(P, L).data(b"x");
    let mut r = s.repr();
    r.src_port = 1;
    t.handle_segment(ms(0), &r);
    assert_eq!(t.recv_available(), 0);
}

#[test]
fn keepalive_off_by_default() {
    let mut t = established();
    assert_eq!(t.poll_timeout(), None);
    tick(&mut t, ms(10_000_000));
    recv_nothing(&mut t, ms(10_000_000));
}

#[test]
fn keepalive_probes_and_timeout() {
    let ka = Keepalive { idle: Duration::from_secs(10), interval: Duration::from_secs(1), count: 3 };
    let mut t = established_with(&TcpConfig { keepalive: Some(ka), ..cfg() });
    assert_eq!(t.poll_timeout(), Some(ms(10_000)));
    tick(&mut t, ms(10_000));
    assert_eq!(recv_one(&mut t, ms(10_000)).brief(), b(L - 1, P, "A", 0));
    // Answered: idle again from the answer.
    send(&mut t, ms(10_050), &Seg::ack(P, L));
    assert_eq!(t.poll_timeout(), Some(ms(20_050)));
    // Unanswered: three probes a second apart, then the connection is dropped.
    for at in [20_050, 21_050, 22_050] {
        tick(&mut t, ms(at));
        assert_eq!(recv_one(&mut t, ms(at)).brief(), b(L - 1, P, "A", 0));
    }
    assert_eq!(t.poll_timeout(), Some(ms(23_050)));
    tick(&mut t, ms(23_050));
    assert_eq!(t.error(), Some(TcpError::TimedOut));
    assert_eq!(t.counters().keepalive_probes, 4);
}

#[test]
fn keepalive_waits_while_data_is_outstanding() {
    let ka = Keepalive { idle: Duration::from_secs(1), interval: Duration::from_secs(1), count: 1 };
    let mut t = established_with(&TcpConfig { keepalive: Some(ka), ..cfg() });
    t.send(b"x");
    recv_one(&mut t, ms(0));
    // The retransmission timer watches the peer meanwhile.
    assert_eq!(t.poll_timeout(), Some(ms(200)));
}
