//! `--pcap FILE`: what the engine sends and receives, in a pcap file Wireshark opens.
//!
//! Workers copy frames into a bounded lock-free queue (a full queue drops the copy and
//! counts it, never blocking a worker); one writer thread drains it into the file until
//! the size limit. [`Capture`] is the tap as a device wrapper: around a worker's device it
//! copies what passes each way. With no `--pcap`, workers hold no tap and pay one
//! `Option` check per frame.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam::queue::ArrayQueue;

use crate::phy::{Device, FrameSink, RxHandler, TxUser};
use crate::time::Instant;

/// Frames longer than this are truncated in the capture.
const SNAPLEN: usize = 4096;

struct Shared {
    queue: ArrayQueue<(u64, Box<[u8]>, u32)>,
    dropped: AtomicU64,
    written: AtomicU64,
    full: AtomicBool,
}

/// A handle workers use to capture frames. Cheap to clone.
#[derive(Clone)]
pub struct PcapTap {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PcapTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcapTap")
    }
}

impl PcapTap {
    /// Queues a copy of `frame` for the file.
    #[inline]
    pub fn capture(&self, frame: &[u8]) {
        if self.shared.full.load(Ordering::Relaxed) {
            return;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let keep = frame.len().min(SNAPLEN);
        if self.shared.queue.push((now, frame[..keep].into(), frame.len() as u32)).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The writer thread and its file.
pub struct PcapWriter {
    tap: PcapTap,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    stop: Arc<AtomicBool>,
}

/// What a capture recorded.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PcapStats {
    pub frames: u64,
    pub dropped: u64,
    pub truncated_file: bool,
}

impl PcapWriter {
    /// Creates `path` and starts writing; stops adding frames after `max_bytes`.
    pub fn start(path: &Path, max_bytes: u64) -> std::io::Result<PcapWriter> {
        let file = std::fs::File::create(path)?;
        let shared = Arc::new(Shared { queue: ArrayQueue::new(65536), dropped: AtomicU64::new(0), written: AtomicU64::new(0), full: AtomicBool::new(false) });
        let stop = Arc::new(AtomicBool::new(false));
        let (sh, st) = (shared.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("bypass-pcap".into()).spawn(move || write_loop(file, sh, st, max_bytes))?;
        Ok(PcapWriter { tap: PcapTap { shared }, thread: Some(thread), stop })
    }

    pub fn tap(&self) -> PcapTap {
        self.tap.clone()
    }

    /// Drains what is queued, closes the file.
    pub fn finish(mut self) -> std::io::Result<PcapStats> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().map_err(|_| std::io::Error::other("pcap writer panicked"))??;
        }
        let s = &self.tap.shared;
        Ok(PcapStats { frames: s.written.load(Ordering::Relaxed), dropped: s.dropped.load(Ordering::Relaxed), truncated_file: s.full.load(Ordering::Relaxed) })
    }
}

fn write_loop(file: std::fs::File, s: Arc<Shared>, stop: Arc<AtomicBool>, max_bytes: u64) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, file);
    // Global header: magic (microsecond timestamps), version 2.4, GMT 0, sigfigs 0,
    // snaplen, linktype 1 (Ethernet).
    w.write_all(&0xa1b2c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&0i32.to_le_bytes())?;
    w.write_all(&0u32.to_le_bytes())?;
    w.write_all(&(SNAPLEN as u32).to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())?;
    let mut size = 24u64;
    loop {
        let mut idle = true;
        while let Some((ts, data, orig)) = s.queue.pop() {
            idle = false;
            if size + 16 + data.len() as u64 > max_bytes {
                s.full.store(true, Ordering::Relaxed);
                continue;
            }
            w.write_all(&((ts / 1_000_000) as u32).to_le_bytes())?;
            w.write_all(&((ts % 1_000_000) as u32).to_le_bytes())?;
            w.write_all(&(data.len() as u32).to_le_bytes())?;
            w.write_all(&orig.to_le_bytes())?;
            w.write_all(&data)?;
            size += 16 + data.len() as u64;
            s.written.fetch_add(1, Ordering::Relaxed);
        }
        if idle {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            w.flush()?;
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    w.flush()
}

/// A device whose frames, both ways, are copied to a capture (when `tap` is set).
pub struct Capture<'t, D> {
    pub inner: D,
    pub tap: Option<&'t PcapTap>,
}

impl<D: Device> Device for Capture<'_, D> {
    #[inline]
    fn receive<H: RxHandler>(&mut self, now: Instant, h: &mut H) -> usize {
        match self.tap {
            None => self.inner.receive(now, h),
            Some(tap) => self.inner.receive(now, &mut CaptureRx { tap, h }),
        }
    }
    #[inline]
    fn transmit<U: TxUser>(&mut self, now: Instant, u: U) -> U::Out {
        let tap = self.tap;
        self.inner.transmit(now, CaptureTx { tap, u })
    }
    fn end_pass(&mut self, now: Instant) {
        self.inner.end_pass(now)
    }
    fn holding(&self) -> bool {
        self.inner.holding()
    }
}

struct CaptureRx<'a, H> {
    tap: &'a PcapTap,
    h: &'a mut H,
}

impl<H: RxHandler> RxHandler for CaptureRx<'_, H> {
    #[inline]
    fn frame<S: FrameSink>(&mut self, frame: &[u8], tx: &mut S) {
        self.tap.capture(frame);
        self.h.frame(frame, &mut CaptureSink { tap: Some(self.tap), inner: tx })
    }
}

struct CaptureTx<'a, U> {
    tap: Option<&'a PcapTap>,
    u: U,
}

impl<U: TxUser> TxUser for CaptureTx<'_, U> {
    type Out = U::Out;
    #[inline]
    fn run<S: FrameSink>(self, tx: &mut S) -> U::Out {
        match self.tap {
            None => self.u.run(tx),
            Some(tap) => self.u.run(&mut CaptureSink { tap: Some(tap), inner: tx }),
        }
    }
}

/// A sink that copies each frame sent to the tap.
struct CaptureSink<'a, S> {
    tap: Option<&'a PcapTap>,
    inner: &'a mut S,
}

impl<S: FrameSink> FrameSink for CaptureSink<'_, S> {
    #[inline]
    fn send<F: FnOnce(&mut [u8]) -> usize>(&mut self, f: F) -> bool {
        let tap = self.tap;
        self.inner.send(|buf| {
            let n = f(buf).min(buf.len());
            if let (Some(t), true) = (tap, n > 0) {
                t.capture(&buf[..n]);
            }
            n
        })
    }
    fn ready(&mut self) -> bool {
        self.inner.ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_valid_pcap_and_respects_the_limit() {
        let path = std::env::temp_dir().join(format!("bypass-pcap-test-{}.pcap", std::process::id()));
        let w = PcapWriter::start(&path, 24 + 3 * (16 + 60)).unwrap();
        let tap = w.tap();
        for i in 0..5u8 {
            tap.capture(&[i; 60]);
        }
        let stats = w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(&bytes[0..4], &0xa1b2c3d4u32.to_le_bytes());
        assert_eq!(stats.frames, 3, "the size limit stops the capture");
        assert!(stats.truncated_file);
        assert_eq!(bytes.len(), 24 + 3 * 76);
        // Records in order, with their lengths.
        for k in 0..3 {
            let r = 24 + k * 76;
            assert_eq!(u32::from_le_bytes(bytes[r + 8..r + 12].try_into().unwrap()), 60);
            assert_eq!(bytes[r + 16], k as u8);
        }
    }
}
