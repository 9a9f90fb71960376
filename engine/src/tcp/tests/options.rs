//! Options: negotiation on both opens, window scaling applied both ways, timestamps
//! (RTTM, PAWS, the TS.Recent rule), SACK blocks we generate, effective MSS.

use super::*;

const P: u32 = PEER_ISS + 1;
const L: u32 = ISS + 1;

fn full() -> TcpConfig {
    TcpConfig { window_scaling: true, timestamps: true, sack: true, recv_buffer: 256 * 1024, ..cfg() }
}

/// Active open with every option; the peer's TSval starts at 500. Returns the
/// connection and our timestamp clock offset (TSval at t = 0).
fn open_full(peer_shift: u8) -> (Tcb, u32) {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &full());
    let syn = recv_one(&mut t, ms(0));
    let o = syn.repr.options;
    assert_eq!((o.mss, o.window_scale, o.sack_permitted), (Some(1000), Some(3), true));
    let (ts0, ecr) = o.timestamps.unwrap();
    assert_eq!(ecr, 0);
    let mut sa = Seg::ack(PEER_ISS, ISS + 1).syn().mss(1460).ts(500, ts0);
    sa.options.window_scale = Some(peer_shift);
    sa.options.sack_permitted = true;
    send(&mut t, ms(20), &sa);
    (t, ts0)
}

#[test]
fn negotiation_active() {
    let (mut t, ts0) = open_full(7);
    assert_eq!(t.negotiated(), (true, true, 3, 7));
    // min(1460, 1000) - 12 bytes of timestamps.
    assert_eq!(t.effective_mss(), 988);
    // RTT from the timestamp echo.
    assert_eq!(t.srtt(), Some(Duration::from_millis(20)));
    let ack = recv_one(&mut t, ms(20));
    assert_eq!(ack.repr.options.timestamps, Some((ts0 + 20, 500)));
    // 256 KiB >> 3.
    assert_eq!(ack.repr.window, 32_768);
    assert_eq!(ack.repr.options.window_scale, None);
    // The peer's windows are scaled by 7 from now on (not in its SYN-ACK).
    assert_eq!(t.peer_window(), 64_000);
    send(&mut t, ms(30), &Seg::ack(P, L).win(100).ts(510, ts0 + 20));
    assert_eq!(t.peer_window(), 12_800);
    t.set_nodelay(true);
    t.send(&pattern(3000));
    let segs = recv_all(&mut t, ms(30));
    assert_eq!(segs.iter().map(Out::len).collect::<Vec<_>>(), vec![988, 988, 988, 36]);
    assert!(segs.iter().all(|s| s.repr.options.timestamps == Some((ts0 + 30, 510))));
}

#[test]
fn peer_without_options() {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &full());
    recv_one(&mut t, ms(0));
    send(&mut t, ms(1), &Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000).win(65_535));
    assert_eq!(t.negotiated(), (false, false, 0, 0));
    assert_eq!(t.effective_mss(), 1000);
    let ack = recv_one(&mut t, ms(1));
    assert_eq!(ack.repr.options, TcpOptions::default());
    // No scaling: the field caps at 65535.
    assert_eq!(ack.repr.window, 65_535);
    // The peer's window is taken as is.
    send(&mut t, ms(2), &Seg::ack(P, L).win(100));
    assert_eq!(t.peer_window(), 100);
}

#[test]
fn negotiation_passive() {
    let mut syn = Seg::new(PEER_ISS).syn().mss(1460).ts(777, 0);
    syn.options.window_scale = Some(2);
    syn.options.sack_permitted = true;
    let mut t = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &full());
    let sa = recv_one(&mut t, ms(0));
    let o = sa.repr.options;
    assert_eq!((o.mss, o.window_scale, o.sack_permitted), (Some(1000), Some(3), true));
    let (ts0, ecr) = o.timestamps.unwrap();
    assert_eq!(ecr, 777);
    // The SYN-ACK window is not scaled.
    assert_eq!(sa.repr.window, 65_535);
    send(&mut t, ms(15), &Seg::ack(P, L).ts(790, ts0).win(1000));
    assert_eq!(t.state(), State::Established);
    assert_eq!(t.peer_window(), 4000);
    assert_eq!(t.srtt(), Some(Duration::from_millis(15)));

    // Only what the SYN offered is echoed.
    let plain = Seg::new(PEER_ISS).syn().ts(1, 0);
    let mut t = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &plain.repr(), SeqNumber(ISS), &full());
    let o = recv_one(&mut t, ms(0)).repr.options;
    assert_eq!((o.window_scale, o.sack_permitted, o.timestamps.is_some()), (None, false, true));
    assert_eq!(t.effective_mss(), 536 - 12);
}

#[test]
fn window_scale_zero_is_still_negotiated() {
    let (t, _) = open_full(0);
    assert_eq!(t.negotiated(), (true, true, 3, 0));
}

#[test]
fn paws_drops_old_timestamps() {
    let (mut t, ts0) = open_full(0);
    recv_one(&mut t, ms(20));
    send(&mut t, ms(30), &Seg::ack(P, L).ts(600, ts0).data(b"new"));
    assert_eq!(t.recv_available(), 3);
    // An old duplicate from a previous incarnation of the sequence space.
    send(&mut t, ms(31), &Seg::ack(P + 3, L).ts(550, ts0).data(b"old"));
    assert_eq!(t.recv_available(), 3);
    assert_eq!(t.counters().paws_dropped, 1);
    let a = recv_one(&mut t, ms(31));
    assert_eq!((a.ack(), a.repr.options.timestamps.unwrap().1), (P + 3, 600));
    // RSTs are exempt from PAWS.
    send(&mut t, ms(32), &Seg::new(P + 3).rst().ts(1, 0));
    assert_eq!(t.error(), Some(TcpError::Reset));
}

#[test]
fn paws_tolerates_one_tick_and_disordered_acks() {
    // Segments swapped on the way (two NIC queues, a hand-off between workers) carry
    // timestamps one tick apart: not an old duplicate (Linux TCP_PAWS_WINDOW).
    let (mut t, ts0) = open_full(0);
    recv_one(&mut t, ms(20));
    send(&mut t, ms(30), &Seg::ack(P, L).ts(600, ts0).data(b"new"));
    send(&mut t, ms(30), &Seg::ack(P + 3, L).ts(599, ts0).data(b"one"));
    assert_eq!(t.recv_available(), 6);
    recv_all(&mut t, ms(30));
    // A pure ACK overtaken by newer segments is no reason for PAWS to answer.
    send(&mut t, ms(31), &Seg::ack(P + 6, L).ts(590, ts0));
    recv_nothing(&mut t, ms(31));
    assert_eq!(t.counters().paws_dropped, 0);
    // Two ticks behind with data: dropped.
    send(&mut t, ms(32), &Seg::ack(P + 6, L).ts(598, ts0).data(b"old"));
    assert_eq!(t.counters().paws_dropped, 1);
}

#[test]
fn ts_recent_only_from_the_left_edge() {
    let (mut t, ts0) = open_full(0);
    recv_one(&mut t, ms(20));
    // Out of order with a newer TSval: not taken (SEG.SEQ > Last.ACK.sent).
    send(&mut t, ms(30), &Seg::ack(P + 100, L).ts(900, ts0).data(b"later"));
    let a = recv_one(&mut t, ms(30));
    assert_eq!(a.repr.options.timestamps.unwrap().1, 500);
    send(&mut t, ms(31), &Seg::ack(P, L).ts(800, ts0).data(&[0; 100]));
    let a = recv_one(&mut t, ms(31));
    assert_eq!((a.ack(), a.repr.options.timestamps.unwrap().1), (P + 105, 800));
}

#[test]
fn sack_blocks_most_recent_first() {
    let (mut t, ts0) = open_full(0);
    recv_one(&mut t, ms(20));
    for (i, off) in [100u32, 300, 500, 700].iter().enumerate() {
        send(&mut t, ms(30 + i as u64), &Seg::ack(P + off, L).ts(600, ts0).data(&[1; 50]));
    }
    let acks = recv_all(&mut t, ms(34));
    let last = acks.last().unwrap();
    let blocks: Vec<_> = last.repr.options.sack_blocks().iter().map(|b| (b.0 .0, b.1 .0)).collect();
    // Three blocks fit beside the timestamps.
    assert_eq!(blocks, vec![(P + 700, P + 750), (P + 500, P + 550), (P + 300, P + 350)]);
    // Extending an old range puts it first.
    send(&mut t, ms(35), &Seg::ack(P + 150, L).ts(600, ts0).data(&[1; 50]));
    let a = recv_one(&mut t, ms(35));
    let blocks: Vec<_> = a.repr.options.sack_blocks().iter().map(|b| (b.0 .0, b.1 .0)).collect();
    assert_eq!(blocks, vec![(P + 100, P + 200), (P + 700, P + 750), (P + 500, P + 550)]);
    // Data segments shrink to make room for the blocks: 1000 - 12 - (4 + 3 * 8).
    t.set_nodelay(true);
    t.send(&pattern(2000));
    let s = recv_all(&mut t, ms(36));
    assert_eq!(s[0].len(), 1000 - 12 - 28);
    assert_eq!(s[0].repr.options.sack_blocks().len(), 3);
}

#[test]
fn four_sack_blocks_without_timestamps() {
    let c = TcpConfig { sack: true, ..cfg() };
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &c);
    recv_one(&mut t, ms(0));
    let mut sa = Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000);
    sa.options.sack_permitted = true;
    send(&mut t, ms(0), &sa);
    recv_one(&mut t, ms(0));
    for off in [100u32, 300, 500, 700, 900] {
        send(&mut t, ms(1), &Seg::ack(P + off, L).data(&[1; 10]));
    }
    let a = recv_one(&mut t, ms(1));
    assert_eq!(a.repr.options.sack_blocks().len(), 4);
    assert_eq!(a.repr.options.sack_blocks()[0], (SeqNumber(P + 900), SeqNumber(P + 910)));
}

#[test]
fn scaled_window_edge_never_retracts() {
    let c = TcpConfig { window_scaling: true, recv_buffer: 100_000, ..cfg() };
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &c);
    recv_one(&mut t, ms(0));
    let mut sa = Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000);
    sa.options.window_scale = Some(0);
    send(&mut t, ms(0), &sa);
    assert_eq!(t.negotiated().2, 1);
    let mut edge = P + u32::from(recv_one(&mut t, ms(0)).repr.window) * 2;
    let mut rcv = P;
    for i in 0..60u32 {
        let n = 1 + (i * 37) % 1000;
        send(&mut t, ms(1), &Seg::ack(rcv, L).data(&vec![0; n as usize]));
        rcv += n;
        if i % 7 == 0 {
            read_all(&mut t);
        }
        t.handle_timeout(ms(100));
        for a in recv_all(&mut t, ms(1)) {
            let e = a.ack() + u32::from(a.repr.window) * 2;
            assert!(SeqNumber(e) >= SeqNumber(edge), "edge moved left: {e} < {edge}");
            edge = e;
        }
    }
}

/// RFC 6191 in TIME-WAIT with timestamps: a SYN whose TSval equals TS.Recent (the peer
/// reconnected within its clock tick) is accepted when its sequence number is higher, as
/// Linux does; an older TSval never is. Before: refused, and the client's SYN waited
/// out its 1 s retransmission (e2e fresh downloads with 2 queues, p99 1 s).
#[test]
fn time_wait_accepts_same_tick_syn_with_higher_sequence() {
    let (mut t, ts0) = open_full(0);
    recv_all(&mut t, ms(20));
    t.close();
    recv_all(&mut t, ms(21));
    send(&mut t, ms(22), &Seg::ack(P, L + 1).fin().ts(510, ts0 + 21));
    recv_all(&mut t, ms(22));
    assert_eq!(t.state(), State::TimeWait);
    let syn = |seq: u32, tsval: u32| Seg::new(seq).syn().ts(tsval, 0);
    assert!(t.time_wait_accepts_syn(&syn(P + 100_000, 510).repr()));
    assert!(t.time_wait_accepts_syn(&syn(P + 100_000, 511).repr()));
    assert!(!t.time_wait_accepts_syn(&syn(P - 10, 510).repr()));
    assert!(!t.time_wait_accepts_syn(&syn(P + 100_000, 509).repr()));
}
