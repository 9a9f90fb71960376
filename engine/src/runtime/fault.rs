//! Seeded fault injection between the rings and the stack, both directions, because
//! this kernel has no netem: `--fault drop=3,dup=1,reorder=10,corrupt=0.1,seed=7`
//! (percentages of frames). Reordering holds a frame back behind the next 1..=3 frames
//! in the same direction (or at most [`HOLD_LIMIT`] when traffic stops). Corruption flips
//! one random bit past the Ethernet header, so checksums must catch it. Same seed and
//! same frames, same faults: runs are reproducible.

use std::collections::VecDeque;

use serde::Serialize;

use crate::phy::{FrameSink, FRAME_CAPACITY};
use crate::time::{Duration, Instant};

/// Longest a reordered frame is held when no later frame comes to overtake it.
pub const HOLD_LIMIT: Duration = Duration::from_millis(2);
/// Frames held at once per direction; beyond it, frames pass unreordered.
const MAX_HELD: usize = 64;

/// Fault rates in percent, and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultConfig {
    pub drop: f64,
    pub dup: f64,
    pub reorder: f64,
    pub corrupt: f64,
    pub seed: u64,
}

impl std::str::FromStr for FaultConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut c = FaultConfig { seed: 1, ..Default::default() };
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| format!("'{part}' is not KEY=VALUE"))?;
            if k == "seed" {
                c.seed = v.parse().map_err(|_| format!("seed '{v}' is not a number"))?;
                continue;
            }
            let pct: f64 = v.parse().ok().filter(|p: &f64| (0.0..=100.0).contains(p)).ok_or_else(|| format!("{k}={v}: want a percentage 0..100"))?;
            match k {
                "drop" => c.drop = pct,
                "dup" => c.dup = pct,
                "reorder" => c.reorder = pct,
                "corrupt" => c.corrupt = pct,
                _ => return Err(format!("unknown fault '{k}' (drop, dup, reorder, corrupt, seed)")),
            }
        }
        Ok(c)
    }
}

/// What the injector did, per direction.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct FaultCounters {
    pub rx_dropped: u64,
    pub rx_duplicated: u64,
    pub rx_reordered: u64,
    pub rx_corrupted: u64,
    pub tx_dropped: u64,
    pub tx_duplicated: u64,
    pub tx_reordered: u64,
    pub tx_corrupted: u64,
}

/// SplitMix64: tiny, seedable, good enough for fault decisions.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: f64) -> bool {
        pct > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 100.0 < pct
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug)]
struct Held {
    frame: Vec<u8>,
    /// Released once this many later frames went by.
    behind: u32,
    since: Instant,
}

#[derive(Debug, Default)]
struct Direction {
    held: VecDeque<Held>,
}

impl Direction {
    /// One more frame went by: returns the held frames whose turn came.
    fn passed(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for h in self.held.iter_mut() {
            h.behind = h.behind.saturating_sub(1);
        }
        while self.held.front().is_some_and(|h| h.behind == 0) {
            out.push(self.held.pop_front().unwrap().frame);
        }
        out
    }
    fn expired(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while self.held.front().is_some_and(|h| now.saturating_since(h.since) >= HOLD_LIMIT) {
            out.push(self.held.pop_front().unwrap().frame);
        }
        out
    }
}

/// The injector for one worker.
#[derive(Debug)]
pub struct FaultInjector {
    cfg: FaultConfig,
    rng: Rng,
    rx: Direction,
    tx: Direction,
    counters: FaultCounters,
}

/// What to do with one frame.
enum Fate {
    Drop,
    Hold(u32),
    Deliver { copies: u32, corrupt: bool },
}

impl FaultInjector {
    /// `worker` perturbs the seed so workers do not make identical decisions.
    pub fn new(cfg: FaultConfig, worker: usize) -> Self {
        FaultInjector { cfg, rng: Rng(cfg.seed ^ (worker as u64).wrapping_mul(0x9e37_79b9)), rx: Direction::default(), tx: Direction::default(), counters: FaultCounters::default() }
    }

    pub fn counters(&self) -> FaultCounters {
        self.counters
    }

    fn fate(&mut self, held: usize) -> Fate {
        if self.rng.chance(self.cfg.drop) {
            return Fate::Drop;
        }
        if held < MAX_HELD && self.rng.chance(self.cfg.reorder) {
            return Fate::Hold(1 + self.rng.below(3) as u32);
        }
        let copies = if self.rng.chance(self.cfg.dup) { 2 } else { 1 };
        Fate::Deliver { copies, corrupt: self.rng.chance(self.cfg.corrupt) }
    }

    fn corrupt(&mut self, frame: &mut [u8]) {
        if frame.len() > 14 {
            let bit = 14 * 8 + self.rng.below(((frame.len() - 14) * 8) as u64) as usize;
            frame[bit / 8] ^= 1 << (bit % 8);
        }
    }

    /// Passes one received frame through the injector: `deliver` is called for it zero,
    /// one or two times (possibly on a corrupted copy), then for held frames whose turn
    /// came.
    pub fn rx<F: FnMut(&[u8])>(&mut self, now: Instant, frame: &[u8], mut deliver: F) {
        match self.fate(self.rx.held.len()) {
            Fate::Drop => self.counters.rx_dropped += 1,
            Fate::Hold(n) => {
                self.counters.rx_reordered += 1;
                self.rx.held.push_back(Held { frame: frame.to_vec(), behind: n + 1, since: now });
            }
            Fate::Deliver { copies, corrupt } => {
                if corrupt {
                    self.counters.rx_corrupted += 1;
                    let mut c = frame.to_vec();
                    self.corrupt(&mut c);
                    deliver(&c);
                } else {
                    deliver(frame);
                }
                if copies > 1 {
                    self.counters.rx_duplicated += 1;
                    deliver(frame);
                }
            }
        }
        for f in self.rx.passed() {
            deliver(&f);
        }
    }

    /// Received frames held too long: deliver them now.
    pub fn rx_expired<F: FnMut(&[u8])>(&mut self, now: Instant, mut deliver: F) {
        for f in self.rx.expired(now) {
            deliver(&f);
        }
    }

    /// Wraps a sink so frames the stack sends go through the injector.
    pub fn tx<'a, S: FrameSink>(&'a mut self, now: Instant, inner: &'a mut S) -> FaultySink<'a, S> {
        FaultySink { inj: self, inner, now }
    }

    /// Sent frames held too long: send them now.
    pub fn tx_expired<S: FrameSink>(&mut self, now: Instant, sink: &mut S) {
        for f in self.tx.expired(now) {
            send_copy(sink, &f);
        }
    }

    /// Whether frames are held (the worker must keep polling to release them).
    pub fn holding(&self) -> bool {
        !self.rx.held.is_empty() || !self.tx.held.is_empty()
    }
}

fn send_copy<S: FrameSink>(sink: &mut S, frame: &[u8]) -> bool {
    sink.send(|buf| {
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        n
    })
}

/// A [`FrameSink`] that applies the injector's faults to outgoing frames.
pub struct FaultySink<'a, S: FrameSink> {
    inj: &'a mut FaultInjector,
    inner: &'a mut S,
    now: Instant,
}

impl<S: FrameSink> FrameSink for FaultySink<'_, S> {
    fn ready(&mut self) -> bool {
        self.inner.ready()
    }

    fn send<F: FnOnce(&mut [u8]) -> usize>(&mut self, f: F) -> bool {
        let fate = self.inj.fate(self.inj.tx.held.len());
        let sent = match fate {
            Fate::Deliver { copies: 1, corrupt: false } => self.inner.send(f),
            Fate::Drop => {
                self.inj.counters.tx_dropped += 1;
                true
            }
            fate => {
                let mut scratch = vec![0u8; FRAME_CAPACITY];
                let n = f(&mut scratch).min(FRAME_CAPACITY);
                scratch.truncate(n);
                match fate {
                    Fate::Hold(k) => {
                        self.inj.counters.tx_reordered += 1;
                        self.inj.tx.held.push_back(Held { frame: scratch, behind: k + 1, since: self.now });
                        true
                    }
                    Fate::Deliver { copies, corrupt } => {
                        let original = scratch.clone();
                        if corrupt {
                            self.inj.counters.tx_corrupted += 1;
                            self.inj.corrupt(&mut scratch);
                        }
                        let ok = send_copy(self.inner, &scratch);
                        if copies > 1 {
                            self.inj.counters.tx_duplicated += 1;
                            send_copy(self.inner, &original);
                        }
                        ok
                    }
                    Fate::Drop => unreachable!(),
                }
            }
        };
        for held in self.inj.tx.passed() {
            send_copy(self.inner, &held);
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phy::VecSink;

    fn frame(i: u32) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[14..18].copy_from_slice(&i.to_be_bytes());
        f
    }

    #[test]
    fn parses_spec() {
        let c: FaultConfig = "drop=3,dup=1,reorder=10,corrupt=0.1,seed=7".parse().unwrap();
        assert_eq!(c, FaultConfig { drop: 3.0, dup: 1.0, reorder: 10.0, corrupt: 0.1, seed: 7 });
        assert!("drop=120".parse::<FaultConfig>().is_err());
        assert!("jitter=1".parse::<FaultConfig>().is_err());
        assert!("drop".parse::<FaultConfig>().is_err());
    }

    fn run_rx(cfg: FaultConfig, n: u32) -> (Vec<Vec<u8>>, FaultCounters) {
        let mut inj = FaultInjector::new(cfg, 0);
        let mut out = Vec::new();
        let t = Instant::from_secs(1);
        for i in 0..n {
            inj.rx(t, &frame(i), |f| out.push(f.to_vec()));
        }
        inj.rx_expired(t + HOLD_LIMIT, |f| out.push(f.to_vec()));
        (out, inj.counters())
    }

    #[test]
    fn rates_are_roughly_honoured_and_accounted() {
        let cfg = FaultConfig { drop: 5.0, dup: 2.0, reorder: 10.0, corrupt: 1.0, seed: 42 };
        let (out, c) = run_rx(cfg, 20_000);
        let pct = |x: u64| x as f64 / 200.0;
        assert!((4.0..6.0).contains(&pct(c.rx_dropped)), "{c:?}");
        assert!((8.0..12.0).contains(&pct(c.rx_reordered)), "{c:?}");
        assert!((1.2..2.8).contains(&pct(c.rx_duplicated)), "{c:?}");
        assert!((0.5..1.5).contains(&pct(c.rx_corrupted)), "{c:?}");
        assert_eq!(out.len() as u64, 20_000 - c.rx_dropped + c.rx_duplicated, "every frame delivered, dropped or duplicated");
        let in_order = out.windows(2).filter(|w| w[0][14..18] < w[1][14..18]).count();
        assert!(in_order < out.len() - 1, "some frames were reordered");
    }

    #[test]
    fn same_seed_same_faults() {
        let cfg = FaultConfig { drop: 10.0, dup: 10.0, reorder: 10.0, corrupt: 10.0, seed: 9 };
        assert_eq!(run_rx(cfg, 2000).0, run_rx(cfg, 2000).0);
        let other = FaultConfig { seed: 10, ..cfg };
        assert_ne!(run_rx(cfg, 2000).0, run_rx(other, 2000).0);
    }

    #[test]
    fn off_is_transparent() {
        let (out, _) = run_rx(FaultConfig::default(), 100);
        assert_eq!(out, (0..100).map(frame).collect::<Vec<_>>());
    }

    #[test]
    fn corruption_flips_one_bit_after_ethernet() {
        let (out, c) = run_rx(FaultConfig { corrupt: 100.0, seed: 3, ..Default::default() }, 50);
        assert_eq!(c.rx_corrupted, 50);
        for (i, f) in out.iter().enumerate() {
            let diff: u32 = f.iter().zip(frame(i as u32)).map(|(a, b)| (a ^ b).count_ones()).sum();
            assert_eq!(diff, 1);
            assert_eq!(&f[..14], &frame(i as u32)[..14]);
        }
    }

    #[test]
    fn tx_faults_apply_and_held_frames_are_released() {
        let mut inj = FaultInjector::new(FaultConfig { reorder: 50.0, drop: 10.0, dup: 10.0, seed: 5, ..Default::default() }, 1);
        let mut sink = VecSink::default();
        let t = Instant::from_secs(1);
        for i in 0..1000u32 {
            let f = frame(i);
            let mut s = inj.tx(t, &mut sink);
            s.send(|buf| {
                buf[..60].copy_from_slice(&f);
                60
            });
        }
        inj.tx_expired(t + HOLD_LIMIT, &mut sink);
        assert!(!inj.holding());
        let c = inj.counters();
        assert!(c.tx_reordered > 0 && c.tx_dropped > 0 && c.tx_duplicated > 0);
        assert_eq!(sink.frames.len() as u64, 1000 - c.tx_dropped + c.tx_duplicated);
    }
}
