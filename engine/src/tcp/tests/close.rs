//! Closing: active, passive, simultaneous; half-close; TIME-WAIT; FIN-WAIT-2 timeout;
//! the RFC 1122 resets for data nobody will read.

use super::*;

const P: u32 = PEER_ISS + 1;
const L: u32 = ISS + 1;

#[test]
fn active_close() {
    let mut t = established();
    t.close();
    assert_eq!(t.state(), State::FinWait1);
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P, "FA", 0));
    send(&mut t, ms(10), &Seg::ack(P, L + 1));
    assert_eq!(t.state(), State::FinWait2);
    // close() bounds FIN-WAIT-2.
    assert_eq!(t.poll_timeout(), Some(ms(60_010)));
    send(&mut t, ms(20), &Seg::ack(P, L + 1).fin());
    assert_eq!(t.state(), State::TimeWait);
    assert_eq!(recv_one(&mut t, ms(20)).brief(), b(L + 1, P + 1, "A", 0));
    assert!(t.recv_eof());
    assert_eq!(t.poll_timeout(), Some(ms(60_020)));
    tick(&mut t, ms(60_019));
    assert_eq!(t.state(), State::TimeWait);
    tick(&mut t, ms(60_020));
    assert!(t.is_closed());
    assert_eq!(t.error(), None);
}

#[test]
fn time_wait_acks_retransmitted_fin_and_restarts() {
    let c = TcpConfig { time_wait: Duration::from_secs(10), ..cfg() };
    let mut t = established_with(&c);
    t.shutdown_write();
    recv_one(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(P, L + 1).fin());
    assert_eq!(t.state(), State::TimeWait);
    recv_one(&mut t, ms(1));
    send(&mut t, ms(5000), &Seg::ack(P, L + 1).fin());
    assert_eq!(recv_one(&mut t, ms(5000)).brief(), b(L + 1, P + 1, "A", 0));
    assert_eq!(t.poll_timeout(), Some(ms(15_000)));
}

#[test]
fn fin_and_ack_in_one_segment() {
    let mut t = established();
    t.close();
    recv_one(&mut t, ms(0));
    send(&mut t, ms(5), &Seg::ack(P, L + 1).fin());
    assert_eq!(t.state(), State::TimeWait);
}

#[test]
fn passive_close() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).data(b"bye").fin());
    assert_eq!(t.state(), State::CloseWait);
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P + 4, "A", 0));
    assert!(t.readable());
    assert!(!t.recv_eof());
    assert_eq!(read_all(&mut t), b"bye");
    assert!(t.recv_eof());
    // Still sending in CLOSE-WAIT.
    t.send(b"last words");
    t.close();
    assert_eq!(t.state(), State::LastAck);
    assert_eq!(recv_one(&mut t, ms(1)).brief(), b(L, P + 4, "FPA", 10));
    send(&mut t, ms(2), &Seg::ack(P + 4, L + 11));
    assert!(t.is_closed());
    assert_eq!(t.error(), None);
}

#[test]
fn simultaneous_close() {
    let mut t = established();
    t.close();
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P, "FA", 0));
    // The peer's FIN crosses ours, without acknowledging it.
    send(&mut t, ms(1), &Seg::ack(P, L).fin());
    assert_eq!(t.state(), State::Closing);
    assert_eq!(recv_one(&mut t, ms(1)).brief(), b(L + 1, P + 1, "A", 0));
    send(&mut t, ms(2), &Seg::ack(P + 1, L + 1));
    assert_eq!(t.state(), State::TimeWait);
}

#[test]
fn half_close_keeps_receiving() {
    let mut t = established();
    t.send(b"request");
    t.shutdown_write();
    assert_eq!(t.send(b"more"), 0);
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P, "FPA", 7));
    send(&mut t, ms(1), &Seg::ack(P, L + 8));
    assert_eq!(t.state(), State::FinWait2);
    // No FIN-WAIT-2 timeout after a half-close.
    assert_eq!(t.poll_timeout(), None);
    let reply = pattern(5000);
    for i in 0..5 {
        send(&mut t, ms(2), &Seg::ack(P + 1000 * i as u32, L + 8).data(&reply[1000 * i..1000 * (i + 1)]));
    }
    send(&mut t, ms(3), &Seg::ack(P + 5000, L + 8).fin());
    assert_eq!(t.state(), State::TimeWait);
    assert_eq!(read_all(&mut t), reply);
    assert!(t.recv_eof());
}

#[test]
fn fin_before_missing_data_waits() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P + 3, L).data(b"def").fin());
    assert_eq!(t.state(), State::Established);
    assert_eq!(recv_one(&mut t, ms(0)).ack(), P);
    send(&mut t, ms(1), &Seg::ack(P, L).data(b"abc"));
    assert_eq!(t.state(), State::CloseWait);
    assert_eq!(recv_one(&mut t, ms(1)).ack(), P + 7);
    assert_eq!(read_all(&mut t), b"abcdef");
    assert!(t.recv_eof());
}

#[test]
fn fin_retransmitted_until_acked() {
    let mut t = established();
    t.close();
    recv_one(&mut t, ms(0));
    let at = t.poll_timeout().unwrap();
    tick(&mut t, at);
    assert_eq!(recv_one(&mut t, at).brief(), b(L, P, "FA", 0));
    send(&mut t, at, &Seg::ack(P, L + 1));
    assert_eq!(t.state(), State::FinWait2);
}

#[test]
fn fin_wait2_timeout_after_close() {
    let c = TcpConfig { fin_wait2_timeout: Duration::from_secs(5), ..cfg() };
    let mut t = established_with(&c);
    t.close();
    recv_one(&mut t, ms(0));
    send(&mut t, ms(100), &Seg::ack(P, L + 1));
    assert_eq!(t.poll_timeout(), Some(ms(5100)));
    tick(&mut t, ms(5100));
    assert!(t.is_closed());
}

#[test]
fn close_with_unread_data_resets() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).data(b"unread"));
    t.close();
    assert_eq!(t.state(), State::Closed);
    assert!(!t.is_closed());
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P + 6, "RA", 0));
    assert!(t.is_closed());
    assert_eq!(t.counters().rst_sent, 1);
}

#[test]
fn data_after_close_resets() {
    let mut t = established();
    t.close();
    recv_one(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(P, L + 1));
    send(&mut t, ms(2), &Seg::ack(P, L + 1).data(b"too late"));
    assert_eq!(recv_one(&mut t, ms(2)).brief(), b(L + 1, P, "RA", 0));
    assert!(t.is_closed());
}

#[test]
fn abort_sends_rst() {
    let mut t = established();
    t.send(b"queued");
    recv_one(&mut t, ms(0));
    t.abort();
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L + 6, P, "RA", 0));
    assert!(t.is_closed());
    assert_eq!(t.send(b"x"), 0);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn segments_after_close_are_ignored() {
    let mut t = established();
    t.abort();
    recv_one(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(P, L).data(b"x"));
    recv_nothing(&mut t, ms(1));
}

#[test]
fn time_wait_reuse_by_new_syn() {
    let mut t = established();
    t.close();
    recv_one(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(P, L + 1).fin());
    assert_eq!(t.state(), State::TimeWait);
    assert!(t.time_wait_accepts_syn(&Seg::new(P + 100_000).syn().repr()));
    assert!(!t.time_wait_accepts_syn(&Seg::new(P - 10).syn().repr()));
    assert!(!t.time_wait_accepts_syn(&Seg::ack(P + 100_000, 1).syn().repr()));
    // Without that check the SYN only gets an ACK.
    send(&mut t, ms(2), &Seg::new(P + 100_000).syn());
    assert_eq!(recv_one(&mut t, ms(2)).brief(), b(L + 1, P + 1, "A", 0));
    assert_eq!(t.state(), State::TimeWait);
}

#[test]
fn close_in_syn_received_sends_fin_once_established() {
    let syn = Seg::new(PEER_ISS).syn();
    let mut t = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &cfg());
    recv_one(&mut t, ms(0));
    t.close();
    assert_eq!(t.state(), State::SynReceived);
    send(&mut t, ms(1), &Seg::ack(P, L));
    assert_eq!(t.state(), State::FinWait1);
    assert_eq!(recv_one(&mut t, ms(1)).brief(), b(L, P, "FA", 0));
}

#[test]
fn last_ack_gives_up_after_retries() {
    let mut t = established_with(&TcpConfig { max_retransmits: 2, ..cfg() });
    send(&mut t, ms(0), &Seg::ack(P, L).fin());
    recv_all(&mut t, ms(0));
    t.close();
    assert_eq!(recv_one(&mut t, ms(0)).brief(), b(L, P + 1, "FA", 0));
    for _ in 0..2 {
        let at = t.poll_timeout().unwrap();
        tick(&mut t, at);
        assert_eq!(recv_one(&mut t, at).brief(), b(L, P + 1, "FA", 0));
    }
    let at = t.poll_timeout().unwrap();
    tick(&mut t, at);
    assert_eq!(t.error(), Some(TcpError::TimedOut));
}

#[test]
fn writable_only_once_connected() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &cfg());
    assert!(!t.writable());
    assert!(t.send_capacity() > 0);
    recv_one(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(PEER_ISS, ISS + 1).syn());
    assert!(t.writable() && t.is_established());
    t.shutdown_write();
    assert!(!t.writable());
}

#[test]
fn time_wait_frees_the_buffers() {
    // A server's connection that sent a reply, read the request and closed first: its
    // TIME-WAIT lingers 2*MSL and must not hold the storage of the transfer.
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).data(b"request"));
    assert_eq!(read_all(&mut t), b"request");
    t.send(&pattern(20_000));
    t.close();
    let sent: usize = recv_all(&mut t, ms(1)).iter().map(Out::len).sum();
    assert!(t.buffer_memory() >= 20_000, "held {}", t.buffer_memory());
    send(&mut t, ms(2), &Seg::ack(P + 7, L + sent as u32));
    let rest: usize = recv_all(&mut t, ms(2)).iter().map(Out::len).sum();
    send(&mut t, ms(3), &Seg::ack(P + 7, L + 20_001).fin());
    assert_eq!(sent + rest, 20_000);
    assert_eq!(t.state(), State::TimeWait);
    assert_eq!(t.buffer_memory(), 0);
}

#[test]
fn closed_connection_frees_the_receive_buffer_once_read() {
    let mut t = established();
    send(&mut t, ms(0), &Seg::ack(P, L).data(&pattern(5000)).fin());
    // Half-close: closing with unread data would reset (RFC 1122).
    t.shutdown_write();
    recv_all(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(P + 5001, L + 1));
    assert!(t.is_closed());
    // Unread data stays readable after the close handshake...
    assert!(t.buffer_memory() >= 5000);
    assert_eq!(read_all(&mut t), pattern(5000));
    // ...and its storage goes once it has been read.
    assert_eq!(t.buffer_memory(), 0);
}
