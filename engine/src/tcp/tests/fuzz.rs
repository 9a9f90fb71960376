//! Robustness: random peer segments, application calls and time steps against
//! connections in every opening configuration. Nothing may panic, internal invariants
//! hold, and timers always move forward.

use proptest::prelude::*;

use super::*;

#[derive(Clone, Debug)]
enum Op {
    Segment {
        /// Near RCV.NXT (or anywhere, when `wild`).
        seq_off: i32,
        ack_off: i32,
        wild: Option<(u32, u32)>,
        flags: u8,
        window: u16,
        len: usize,
        ts: Option<(u32, u32)>,
        sack: Vec<(i32, i32)>,
        syn_opts: Option<(u16, u8)>,
    },
    Advance(u64),
    Send(usize),
    Recv(usize),
    Push,
    Shutdown,
    Close,
    Abort,
}

fn op() -> impl Strategy<Value = Op> {
    let flags = (
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.04),
        prop::bool::weighted(0.04),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(ack, fin, syn, rst, psh)| TcpFlags { ack, fin, syn, rst, psh, ..TcpFlags::default() }.bits());
    let seg = (
        prop_oneof![3 => Just(0i32), 2 => -3000i32..3000, 2 => -3000i32..70_000],
        prop_oneof![2 => Just(0i32), 2 => Just(i32::MIN), 3 => 0i32..20_000, 1 => -70_000i32..70_000],
        prop::option::weighted(0.05, (any::<u32>(), any::<u32>())),
        flags,
        prop_oneof![3 => Just(64_000u16), 1 => any::<u16>()],
        prop_oneof![Just(0usize), 1usize..1500, 1500usize..4000],
        prop::option::of((any::<u32>(), any::<u32>())),
        prop::collection::vec((-5000i32..70_000, -5000i32..70_000), 0..4),
        prop::option::weighted(0.1, (any::<u16>(), any::<u8>())),
    )
        .prop_map(|(seq_off, ack_off, wild, flags, window, len, ts, sack, syn_opts)| Op::Segment {
            seq_off,
            ack_off,
            wild,
            flags,
            window,
            len,
            ts,
            sack,
            syn_opts,
        });
    prop_oneof![
        16 => seg,
        3 => (0u64..3000).prop_map(Op::Advance),
        2 => (0usize..20_000).prop_map(Op::Send),
        2 => (0usize..20_000).prop_map(Op::Recv),
        1 => Just(Op::Push),
        1 => Just(Op::Shutdown),
        1 => Just(Op::Close),
        1 => Just(Op::Abort),
    ]
}

fn start(kind: u8) -> Tcb {
    let opts = TcpConfig { window_scaling: true, timestamps: true, sack: true, ..cfg() };
    match kind % 5 {
        0 => established(),
        1 => {
            let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &opts);
            recv_one(&mut t, ms(0));
            let mut sa = Seg::ack(PEER_ISS, ISS + 1).syn().mss(1200).ts(1, 1);
            sa.options.window_scale = Some(5);
            sa.options.sack_permitted = true;
            send(&mut t, ms(0), &sa);
            t
        }
        2 => Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), &opts),
        3 => {
            let mut syn = Seg::new(PEER_ISS).syn().mss(900).ts(5, 0);
            syn.options.sack_permitted = true;
            syn.options.window_scale = Some(14);
            Tcb::accept_syn(ms(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), &opts)
        }
        _ => accepted_with(&TcpConfig { recv_buffer: 3000, send_buffer: 2000, max_ooo_ranges: 2, ..cfg() }),
    }
}

fn drain(t: &mut Tcb, now: Instant) {
    for _ in 0..1000 {
        let Some(s) = t.poll_transmit(now, usize::MAX) else { return };
        let (a, b) = t.payload_for(&s);
        assert_eq!(a.len() + b.len(), s.payload_len);
        assert!(s.payload_len <= 65_535);
        assert!(s.repr.options.buffer_len() <= 40);
    }
    panic!("poll_transmit does not stop: {t:?}");
}

fn run(kind: u8, ops: Vec<Op>) {
    let mut t = start(kind);
    let mut now = ms(0);
    let mut buf = vec![0u8; 20_000];
    let data = pattern(20_000);
    for op in ops {
        match op {
            Op::Segment { seq_off, ack_off, wild, flags, window, len, ts, sack, syn_opts } => {
                let (seq, ack) = match wild {
                    Some(w) => w,
                    None if ack_off == i32::MIN => (t.rcv_nxt.0.wrapping_add(seq_off as u32), t.snd_max.0),
                    None => (t.rcv_nxt.0.wrapping_add(seq_off as u32), t.snd_una.0.wrapping_add(ack_off as u32)),
                };
                let mut s = Seg::new(seq).win(window).data(&data[..len]);
                s.flags = TcpFlags::from_bits(flags);
                s.ack = s.flags.ack.then_some(ack);
                s.options.timestamps = ts;
                let una = t.snd_una.0;
                let blocks: Vec<(u32, u32)> =
                    sack.iter().map(|&(l, r)| (una.wrapping_add(l as u32), una.wrapping_add(r as u32))).collect();
                s = s.sack(&blocks);
                if let Some((mss, ws)) = syn_opts {
                    s.options.mss = Some(mss);
                    s.options.window_scale = Some(ws);
                    s.options.sack_permitted = true;
                }
                send(&mut t, now, &s);
            }
            Op::Advance(d) => {
                now += Duration::from_millis(d);
                // Run every timer due by now, as the stack would.
                for _ in 0..100 {
                    match t.poll_timeout() {
                        Some(at) if at <= now => {
                            t.handle_timeout(now);
                            assert!(t.poll_timeout().is_none_or(|n| n > now), "timer not consumed: {t:?}");
                            drain(&mut t, now);
                        }
                        _ => break,
                    }
                }
            }
            Op::Send(n) => {
                let k = t.send(&data[..n]);
                assert!(k <= n);
            }
            Op::Recv(n) => {
                let k = t.recv(&mut buf[..n]);
                assert!(k <= n);
            }
            Op::Push => t.push(),
            Op::Shutdown => t.shutdown_write(),
            Op::Close => t.close(),
            Op::Abort => t.abort(),
        }
        drain(&mut t, now);
        t.check_invariants();
        if t.state() == State::Closed {
            assert_eq!(t.poll_timeout(), None);
        }
        if std::env::var("FUZZ_STATS").is_ok() {
            let c = t.counters();
            eprintln!(
                "FUZZ {:?} ooo={} fr={} rto={} chal={} paws={} bytes_in={}",
                t.state(),
                c.ooo_segments > 0,
                c.fast_retransmits > 0,
                c.timeouts > 0,
                c.challenge_acks > 0,
                c.paws_dropped > 0,
                c.bytes_in > 0
            );
        }
    }
}

proptest! {
    // Failures print the shrunk case; nothing is written to the source tree.
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_input_never_breaks_a_connection(kind in any::<u8>(), ops in prop::collection::vec(op(), 1..60)) {
        run(kind, ops);
    }
}

#[test]
fn bare_segment_without_ack_is_dropped() {
    run(0, vec![Op::Segment { seq_off: 0, ack_off: 0, wild: None, flags: 0, window: 0, len: 0, ts: None, sack: vec![], syn_opts: None }]);
}
