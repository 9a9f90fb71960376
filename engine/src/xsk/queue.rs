//! One AF_XDP socket on one rx queue, with its own UMEM, fill/completion/RX/TX rings and
//! frame pool. Owned by exactly one worker thread; nothing here is shared.
//!
//! Frame life cycle (tracked by [`FrameLedger`]): free -> fill ring -> RX (the stack reads
//! it) -> free; free -> TX (the stack wrote it; pending, then on the TX ring) ->
//! completion ring -> free.

use std::ffi::CString;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, BorrowedFd};

use xsk_rs::config::{BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use super::pool::{FrameLedger, LedgerReport, Place};
use super::XskError;
use crate::phy::{Device, FrameSink, RxHandler, TxUser, FRAME_CAPACITY};
use crate::time::Instant;

/// Whether to ask the driver for zero-copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroCopy {
    /// Zero-copy if the driver supports it, copy mode otherwise.
    Auto,
    /// Zero-copy or fail.
    On,
    /// Always copy mode.
    Off,
}

/// Sizes of one queue's UMEM and rings.
#[derive(Debug, Clone, Copy)]
pub struct QueueConfig {
    /// Bytes per UMEM frame (power of two, 2048..=4096 in aligned mode).
    pub frame_size: u32,
    /// Frames in this queue's UMEM.
    pub frame_count: u32,
    /// Entries in each of the four rings (power of two).
    pub ring_size: u32,
    /// Frames taken from/put on a ring per call.
    pub batch: usize,
    pub zero_copy: ZeroCopy,
    /// Preferred busy polling (Linux 5.11+): the worker drives the driver's NAPI itself,
    /// `busy_poll_budget` packets per poll (`SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL`,
    /// `SO_BUSY_POLL_BUDGET`); 0 leaves it off.
    pub busy_poll_budget: u16,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { frame_size: 4096, frame_count: 4096, ring_size: 2048, batch: 64, zero_copy: ZeroCopy::Auto, busy_poll_budget: 0 }
    }
}

impl QueueConfig {
    fn validate(&self) -> Result<(), XskError> {
        let bad = |what: String| Err(XskError::Config(what));
        if !self.frame_size.is_power_of_two() || !(2048..=4096).contains(&self.frame_size) {
            return bad(format!("frame size {} must be 2048 or 4096", self.frame_size));
        }
        if !self.ring_size.is_power_of_two() || self.ring_size < 64 {
            return bad(format!("ring size {} must be a power of two >= 64", self.ring_size));
        }
        if self.frame_count < self.ring_size * 3 / 2 {
            return bad(format!(
                "{} frames cannot fill a {}-entry fill ring and still leave frames to send; use at least {}",
                self.frame_count,
                self.ring_size,
                self.ring_size * 3 / 2
            ));
        }
        if self.batch == 0 || self.batch > self.ring_size as usize {
            return bad(format!("batch {} must be 1..=ring size", self.batch));
        }
        Ok(())
    }
}

/// Per-queue datapath counters.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct QueueStats {
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Frames the stack wanted to send with no free UMEM frame left.
    pub tx_no_frame: u64,
    /// Times the TX ring had no room for everything pending.
    pub tx_ring_full: u64,
    /// sendto() kicks.
    pub tx_kicks: u64,
    /// Kicks for descriptors an earlier kick left on the TX ring (copy mode sends at most
    /// a budget of frames per sendto; the rest wait for the next kick).
    pub tx_rekicks: u64,
    /// Fill-ring wakeups (poll) the kernel asked for.
    pub fill_wakeups: u64,
    /// recvfrom() calls that drove the driver's NAPI (preferred busy polling only).
    pub busy_polls: u64,
}

/// Kernel-side AF_XDP statistics (XDP_STATISTICS).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct KernelStats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty: u64,
    pub tx_ring_empty: u64,
}

/// One AF_XDP socket and everything it owns.
pub struct XskQueue {
    queue_id: u32,
    zero_copy: bool,
    batch: usize,
    ring_size: u32,
    frame_shift: u32,
    umem: Umem,
    fq: FillQueue,
    cq: CompQueue,
    rx: RxQueue,
    tx: TxQueue,
    free: Vec<FrameDesc>,
    ledger: FrameLedger,
    rx_descs: Vec<FrameDesc>,
    cq_descs: Vec<FrameDesc>,
    tx_pending: Vec<FrameDesc>,
    stats: QueueStats,
    /// Why zero-copy was refused when `--zero-copy auto` fell back to copy mode.
    zero_copy_refusal: Option<String>,
    /// Preferred busy polling is on: the driver raises no interrupts for this queue while
    /// the worker polls, so every TX kick and an empty RX pass call into the kernel.
    busy_poll: bool,
    busy_poll_preferred: bool,
}

impl std::fmt::Debug for XskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskQueue").field("queue_id", &self.queue_id).field("zero_copy", &self.zero_copy).finish()
    }
}

impl XskQueue {
    /// Creates the UMEM and binds an AF_XDP socket to `ifname`'s rx queue `queue_id`.
    /// libxdp's own program load is inhibited: the caller puts [`XskQueue::fd`] into its
    /// own XSKMAP.
    pub fn open(ifname: &str, queue_id: u32, cfg: &QueueConfig) -> Result<XskQueue, XskError> {
        cfg.validate()?;
        let ring = QueueSize::new(cfg.ring_size).map_err(|e| XskError::Config(e.to_string()))?;
        let umem_cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(cfg.frame_size).map_err(|e| XskError::Config(e.to_string()))?)
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|e| XskError::Config(e.to_string()))?;
        let count = NonZeroU32::new(cfg.frame_count).ok_or_else(|| XskError::Config("frame count 0".into()))?;
        let (umem, descs) = Umem::new(umem_cfg, count, false)
            .map_err(|e| XskError::Umem(format!("{e}: {}", source_of(&e))))?;

        let iface = Interface::new(CString::new(ifname).map_err(|_| XskError::Config("bad interface name".into()))?);
        let attempts: &[(BindFlags, bool)] = match cfg.zero_copy {
            ZeroCopy::On => &[(BindFlags::XDP_ZEROCOPY, true)],
            ZeroCopy::Off => &[(BindFlags::XDP_COPY, false)],
            ZeroCopy::Auto => &[(BindFlags::XDP_ZEROCOPY, true), (BindFlags::XDP_COPY, false)],
        };
        let mut last_err = String::new();
        // A queue whose previous socket belonged to a process that just died (SIGKILL)
        // stays busy until the kernel has released that socket, which it does
        // asynchronously: retry EBUSY for a while, so a restart works at once.
        let deadline = std::time::Instant::now() + BUSY_RETRY_FOR;
        loop {
            if let Some(mut q) = Self::try_bind(cfg, attempts, &umem, &descs, &iface, queue_id, &mut last_err)? {
                if cfg.busy_poll_budget > 0 {
                    let prefer = !(q.zero_copy && super::ethtool::driver(ifname).is_some_and(|d| zc_tx_in_own_napi(&d)));
                    super::raw::set_busy_poll(q.fd(), BUSY_POLL_USECS, cfg.busy_poll_budget, prefer).map_err(|e| XskError::Socket {
                        queue_id,
                        reason: format!("cannot turn on busy polling ({e}; it needs Linux 5.11+): drop --busy-poll-budget"),
                    })?;
                    q.busy_poll = true;
                    q.busy_poll_preferred = prefer;
                }
                return Ok(q);
            }
            if !last_err.contains("os error 16") || std::time::Instant::now() >= deadline {
                return Err(XskError::Socket { queue_id, reason: with_hint(cfg.zero_copy, last_err) });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// One round of bind attempts (zero-copy and/or copy mode). Ok(None): every attempt
    /// failed, the last reason in `last_err`.
    fn try_bind(
        cfg: &QueueConfig,
        attempts: &[(BindFlags, bool)],
        umem: &Umem,
        descs: &[FrameDesc],
        iface: &Interface,
        queue_id: u32,
        last_err: &mut String,
    ) -> Result<Option<XskQueue>, XskError> {
        let ring = QueueSize::new(cfg.ring_size).map_err(|e| XskError::Config(e.to_string()))?;
        for &(mode, zc) in attempts {
            let sock_cfg = SocketConfig::builder()
                .rx_queue_size(ring)
                .tx_queue_size(ring)
                .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
                .bind_flags(mode | BindFlags::XDP_USE_NEED_WAKEUP)
                .build();
            // SAFETY: the program load is inhibited (required when sharing a UMEM; we do
            // not share, and we load our own program), and `umem` is the UMEM this socket
            // and its rings are tied to for their whole life (the socket holds a clone).
            match unsafe { Socket::new(sock_cfg, umem, iface, queue_id) } {
                Ok((tx, rx, Some((fq, cq)))) => {
                    let zero_copy_refusal = (!zc && cfg.zero_copy == ZeroCopy::Auto).then(|| last_err.clone());
                    let frames = cfg.frame_count as usize;
                    return Ok(Some(XskQueue {
                        queue_id,
                        zero_copy: zc,
                        batch: cfg.batch,
                        ring_size: cfg.ring_size,
                        frame_shift: cfg.frame_size.trailing_zeros(),
                        umem: umem.clone(),
                        fq,
                        cq,
                        rx,
                        tx,
                        free: descs.to_vec(),
                        ledger: FrameLedger::new(frames),
                        rx_descs: vec![FrameDesc::default(); cfg.batch],
                        cq_descs: vec![FrameDesc::default(); cfg.batch],
                        tx_pending: Vec::with_capacity(frames),
                        stats: QueueStats::default(),
                        zero_copy_refusal,
                        busy_poll: false,
                        busy_poll_preferred: false,
                    }));
                }
                Ok(_) => return Err(XskError::Socket { queue_id, reason: "UMEM already bound".into() }),
                Err(e) => *last_err = format!("{e}: {}", source_of(&e)),
            }
        }
        Ok(None)
    }

    pub fn queue_id(&self) -> u32 {
        self.queue_id
    }
    pub fn is_zero_copy(&self) -> bool {
        self.zero_copy
    }
    /// The driver's reason, when `--zero-copy auto` fell back to copy mode on this queue.
    pub fn zero_copy_refusal(&self) -> Option<&str> {
        self.zero_copy_refusal.as_deref()
    }
    /// The socket's descriptor, for the XSKMAP and for poll().
    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd is owned by the socket inside `self.rx`, which lives as long as
        // the returned borrow (tied to `&self`).
        unsafe { BorrowedFd::borrow_raw(self.rx.fd().as_raw_fd()) }
    }
    pub fn stats(&self) -> QueueStats {
        self.stats
    }
    pub fn ledger(&self) -> LedgerReport {
        self.ledger.check()
    }
    /// Frames the kernel may still hand back: in the fill ring or sent and not completed.
    pub fn frames_with_kernel(&self) -> u64 {
        self.ledger.count(Place::Fill) + self.ledger.count(Place::Tx)
    }

    /// Reads the kernel's XDP_STATISTICS for this socket.
    pub fn kernel_stats(&self) -> KernelStats {
        match self.rx.fd().xdp_statistics() {
            Ok(s) => KernelStats {
                rx_dropped: s.rx_dropped(),
                rx_invalid_descs: s.rx_invalid_descs(),
                tx_invalid_descs: s.tx_invalid_descs(),
                rx_ring_full: s.rx_ring_full(),
                rx_fill_ring_empty: s.rx_fill_ring_empty_descs(),
                tx_ring_empty: s.tx_ring_empty_descs(),
            },
            Err(_) => KernelStats::default(),
        }
    }

    #[inline]
    fn index(frame_shift: u32, d: &FrameDesc) -> usize {
        d.addr() >> frame_shift
    }

    /// Takes back every frame the kernel finished sending. Returns how many.
    pub fn reap_completions(&mut self) -> usize {
        reap(&mut self.cq, &mut self.cq_descs, &mut self.free, &mut self.ledger, self.frame_shift)
    }

    /// Tops the fill ring up with free frames. Returns how many were added.
    pub fn refill(&mut self) -> usize {
        let want = self.free.len() as u32;
        let room = self.fq.nb_free(want).min(want) as usize;
        if room == 0 {
            return 0;
        }
        let start = self.free.len() - room;
        // SAFETY: every frame in `free` belongs to this queue's UMEM and is owned by
        // nobody else (the ledger proves it); after this call the kernel owns them.
        let n = unsafe { self.fq.produce(&self.free[start..]) };
        for d in self.free.drain(start..start + n) {
            self.ledger.moved(Self::index(self.frame_shift, &d), Place::Free, Place::Fill);
        }
        if n > 0 && self.fq.needs_wakeup() {
            self.stats.fill_wakeups += 1;
            let _ = self.fq.wakeup(self.rx.fd_mut(), 0);
        }
        n
    }

    /// Receives up to one batch and hands each frame to `f` along with a sink for
    /// replies. Frames are back in the free pool when this returns. Returns how many.
    pub fn recv<F>(&mut self, mut f: F) -> usize
    where
        F: FnMut(&[u8], &mut TxWriter<'_>),
    {
        let batch = self.batch;
        // SAFETY: `rx_descs` are scratch descriptors; the ring fills them with frames of
        // this queue's UMEM, which the kernel hands over to us.
        let n = unsafe { self.rx.consume(&mut self.rx_descs[..batch]) };
        if n == 0 {
            return 0;
        }
        let shift = self.frame_shift;
        for d in &self.rx_descs[..n] {
            self.ledger.moved(Self::index(shift, d), Place::Fill, Place::Rx);
        }
        let mut w = TxWriter {
            umem: &self.umem,
            free: &mut self.free,
            ledger: &mut self.ledger,
            pending: &mut self.tx_pending,
            cq: &mut self.cq,
            cq_descs: &mut self.cq_descs,
            stats: &mut self.stats,
            frame_shift: shift,
        };
        for d in &self.rx_descs[..n] {
            // SAFETY: `d` came off the RX ring of this UMEM, so the kernel has finished
            // writing it and will not touch it until we put it back on the fill ring;
            // no TX writer can get it either, since it is not in the free pool.
            let data = unsafe { w.umem.data(d) };
            let frame = data.contents();
            w.stats.rx_frames += 1;
            w.stats.rx_bytes += frame.len() as u64;
            f(frame, &mut w);
        }
        for d in &self.rx_descs[..n] {
            self.ledger.moved(Self::index(shift, d), Place::Rx, Place::Free);
            self.free.push(*d);
        }
        n
    }

    /// A sink for frames the stack sends outside of `recv` (timers, hand-offs).
    pub fn writer(&mut self) -> TxWriter<'_> {
        TxWriter {
            umem: &self.umem,
            free: &mut self.free,
            ledger: &mut self.ledger,
            pending: &mut self.tx_pending,
            cq: &mut self.cq,
            cq_descs: &mut self.cq_descs,
            stats: &mut self.stats,
            frame_shift: self.frame_shift,
        }
    }

    /// Frames written and not yet on the TX ring.
    pub fn tx_pending(&self) -> usize {
        self.tx_pending.len()
    }

    /// Puts pending frames on the TX ring and kicks the kernel (sendto) if it asked for
    /// a wakeup, which in copy mode it always does. Copy mode sends at most a budget of
    /// frames per kick (32 on Linux) and leaves the rest on the ring, so this kicks again
    /// while the kernel keeps taking descriptors, and again on the next call while any
    /// are left: a frame the stack sent must not sit on the ring until something else
    /// happens to be sent. Returns frames submitted.
    pub fn flush(&mut self) -> usize {
        let mut n = 0;
        if !self.tx_pending.is_empty() {
            let want = self.tx_pending.len() as u32;
            let room = self.tx.nb_free(want).min(want) as usize;
            if room > 0 {
                // SAFETY: every pending frame belongs to this UMEM, was written by the
                // stack, and sits in no other ring (ledger place Tx, not yet submitted).
                n = unsafe { self.tx.produce(&self.tx_pending[..room]) };
                for d in &self.tx_pending[..n] {
                    self.stats.tx_frames += 1;
                    self.stats.tx_bytes += d.lengths().data() as u64;
                }
                self.tx_pending.drain(..n);
            }
            if n < want as usize {
                self.stats.tx_ring_full += 1;
            }
        }
        let mut left = self.tx_on_ring();
        if left == 0 || (self.zero_copy && !self.busy_poll && !self.tx.needs_wakeup()) {
            return n;
        }
        if n == 0 {
            self.stats.tx_rekicks += 1;
        }
        // Each kick in copy mode transmits synchronously; stop when one makes no progress.
        for _ in 0..MAX_KICKS {
            self.stats.tx_kicks += 1;
            let _ = self.tx.wakeup();
            let now_left = self.tx_on_ring();
            if now_left == 0 || now_left >= left || self.zero_copy {
                break;
            }
            left = now_left;
        }
        n
    }

    /// Descriptors on the TX ring the kernel has not taken yet.
    pub fn tx_on_ring(&mut self) -> u32 {
        self.ring_size.saturating_sub(self.tx.nb_free_exact())
    }

    /// Frames the stack wrote that the kernel has not taken yet (pending or on the ring):
    /// a worker with any must not go to sleep.
    pub fn tx_unsent(&mut self) -> usize {
        self.tx_pending.len() + self.tx_on_ring() as usize
    }

    /// With preferred busy polling, runs the driver's NAPI from this thread (a
    /// zero-length `recvfrom`, as the kernel's AF_XDP busy-poll sample does when a pass
    /// found nothing): interrupts stay off while the worker polls, so nothing else would.
    pub fn drive_napi(&mut self) {
        if self.busy_poll {
            self.stats.busy_polls += 1;
            super::raw::recv_nothing(self.fd());
        }
    }

    /// Busy polling is on for this queue.
    pub fn is_busy_polling(&self) -> bool {
        self.busy_poll
    }

    /// Busy polling with `SO_PREFER_BUSY_POLL` (the driver's interrupts stay off while
    /// the worker polls); false when busy polling is off or runs without it.
    pub fn is_busy_poll_preferred(&self) -> bool {
        self.busy_poll_preferred
    }

    /// Kicks TX again without new frames (when the ring had pending descs and the kernel
    /// stopped; e.g. after ENOBUFS).
    pub fn kick(&mut self) {
        if self.tx.needs_wakeup() {
            self.stats.tx_kicks += 1;
            let _ = self.tx.wakeup();
        }
    }
}

/// Whether `driver` transmits AF_XDP zero-copy frames from a NAPI of its own rather than
/// the RX queue's. Busy polling runs only the RX queue's NAPI, and with
/// `SO_PREFER_BUSY_POLL` the kernel skips the TX wakeup a zero-copy `sendto` otherwise
/// makes (net/xdp/xsk.c: `if (xs->zc && xsk_no_wakeup(sk)) return 0;`), so on such a
/// driver nothing would ever transmit: virtio_net sends zero-copy frames only from
/// `virtnet_poll_tx`. (igb, ixgbe, i40e, ice and mlx5 transmit from the RX queue's NAPI.)
/// Found in the NIC lab: preferred busy polling on virtio_net zero-copy received 33
/// frames and sent none.
pub fn zc_tx_in_own_napi(driver: &str) -> bool {
    driver == "virtio_net"
}

/// `SO_BUSY_POLL` with preferred busy polling: how long one poll may spin in the kernel.
const BUSY_POLL_USECS: u32 = 20;

/// How long a bind that finds the queue busy is retried.
const BUSY_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(3);

/// Kicks per flush at most (each sends up to the kernel's per-call budget).
const MAX_KICKS: usize = 8;

fn reap(cq: &mut CompQueue, scratch: &mut [FrameDesc], free: &mut Vec<FrameDesc>, ledger: &mut FrameLedger, shift: u32) -> usize {
    let mut total = 0;
    loop {
        // SAFETY: `scratch` are scratch descriptors; the completion ring fills them with
        // frames of this UMEM that the kernel finished transmitting and gives back.
        let n = unsafe { cq.consume(scratch) };
        for d in &scratch[..n] {
            ledger.moved(d.addr() >> shift, Place::Tx, Place::Free);
            free.push(*d);
        }
        total += n;
        if n < scratch.len() {
            return total;
        }
    }
}

/// A bind failure's reason, with what to do when it means the driver has no zero-copy
/// (EOPNOTSUPP, or EINVAL from a virtio device without VIRTIO_F_ACCESS_PLATFORM) and
/// zero-copy was demanded.
fn with_hint(zero_copy: ZeroCopy, reason: String) -> String {
    let refused = reason.contains("os error 95") || reason.contains("os error 22");
    if zero_copy == ZeroCopy::On && refused {
        format!("{reason} (zero-copy refused by the driver or device: use --zero-copy auto or off)")
    } else {
        reason
    }
}

fn source_of(e: &dyn std::error::Error) -> String {
    e.source().map(|s| s.to_string()).unwrap_or_else(|| "no detail".into())
}

/// Writes outgoing frames into free UMEM frames. Obtained from [`XskQueue::recv`]'s
/// callback or [`XskQueue::writer`].
pub struct TxWriter<'a> {
    umem: &'a Umem,
    free: &'a mut Vec<FrameDesc>,
    ledger: &'a mut FrameLedger,
    pending: &'a mut Vec<FrameDesc>,
    cq: &'a mut CompQueue,
    cq_descs: &'a mut Vec<FrameDesc>,
    stats: &'a mut QueueStats,
    frame_shift: u32,
}

impl FrameSink for TxWriter<'_> {
    fn ready(&mut self) -> bool {
        if self.free.is_empty() {
            reap(self.cq, self.cq_descs, self.free, self.ledger, self.frame_shift);
        }
        !self.free.is_empty()
    }

    #[inline]
    fn send<F: FnOnce(&mut [u8]) -> usize>(&mut self, f: F) -> bool {
        if self.free.is_empty() {
            reap(self.cq, self.cq_descs, self.free, self.ledger, self.frame_shift);
        }
        let Some(mut d) = self.free.pop() else {
            self.stats.tx_no_frame += 1;
            return false;
        };
        let idx = d.addr() >> self.frame_shift;
        // SAFETY: `d` came from the free pool, so neither the kernel nor any other
        // writer or reader holds it; this is the only live view of its bytes.
        let mut data = unsafe { self.umem.data_mut(&mut d) };
        // The view covers the frame's current length: open it to the whole frame first.
        data.cursor().set_pos(usize::MAX);
        let buf = data.contents_mut();
        debug_assert!(buf.len() >= FRAME_CAPACITY, "UMEM frames hold at least FRAME_CAPACITY bytes");
        let n = f(buf).min(buf.len());
        if n == 0 {
            self.free.push(d);
            return true;
        }
        data.cursor().set_pos(n);
        self.ledger.moved(idx, Place::Free, Place::Tx);
        self.pending.push(d);
        true
    }
}

impl Device for XskQueue {
    #[inline]
    fn receive<H: RxHandler>(&mut self, _now: Instant, h: &mut H) -> usize {
        self.recv(|frame, tx| h.frame(frame, tx))
    }
    #[inline]
    fn transmit<U: TxUser>(&mut self, _now: Instant, u: U) -> U::Out {
        u.run(&mut self.writer())
    }
}

#[cfg(test)]
mod tests {
    use super::{with_hint, ZeroCopy};

    #[test]
    fn zero_copy_refusal_says_what_to_do() {
        let r = with_hint(ZeroCopy::On, "bind: Operation not supported (os error 95)".into());
        assert!(r.ends_with("use --zero-copy auto or off)"), "{r}");
        assert!(with_hint(ZeroCopy::On, "Invalid argument (os error 22)".into()).contains("--zero-copy auto"));
        let busy = "Device or resource busy (os error 16)".to_string();
        assert_eq!(with_hint(ZeroCopy::On, busy.clone()), busy);
        let off = "Operation not supported (os error 95)".to_string();
        assert_eq!(with_hint(ZeroCopy::Off, off.clone()), off);
    }
}
