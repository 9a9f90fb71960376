//! Cross-worker frame hand-off: one bounded lock-free inbox per worker.
//!
//! A worker that receives a frame another worker must see (ARP, which every worker's
//! cache learns from; later, TCP segments of flows owned elsewhere) copies it into a
//! [`Handoff`] and pushes it into the owner's inbox. A full inbox drops the frame and
//! counts it: back-pressure never blocks a poll loop.

use crossbeam::queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::sys::EventFd;

/// Wakes one worker out of an adaptive sleep. Senders call [`Wake::wake`] after queueing
/// work for it; it costs a syscall only while the worker is actually asleep.
#[derive(Debug)]
pub struct Wake {
    efd: Option<EventFd>,
    sleeping: AtomicBool,
}

impl Wake {
    fn new() -> Wake {
        // Without an eventfd (descriptor limit hit) the worker still wakes at its sleep cap.
        Wake { efd: EventFd::new().ok(), sleeping: AtomicBool::new(false) }
    }

    pub fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            if let Some(e) = &self.efd {
                e.notify();
            }
        }
    }

    /// The worker is about to sleep: from now on wakes are delivered. The worker must
    /// look for work once more after this and before sleeping.
    pub fn sleep_begins(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
    }

    /// The worker is awake again.
    pub fn sleep_ends(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
        if let Some(e) = &self.efd {
            e.drain();
        }
    }

    pub fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.efd.as_ref().map(EventFd::as_fd)
    }
}

/// One [`Wake`] per worker, shared with whoever queues work for the workers.
pub type Wakers = Arc<Vec<Wake>>;

/// Why a frame was handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffKind {
    /// A copy of an ARP frame for the receiver's cache; never answered.
    ArpShare,
    /// A frame the receiving worker owns and must process as if it had received it.
    Owned,
}

/// A frame in flight between workers.
#[derive(Debug)]
pub struct Handoff {
    pub kind: HandoffKind,
    pub frame: Box<[u8]>,
}

/// The set of inboxes, one per worker, shared by all workers.
#[derive(Debug, Clone)]
pub struct Mesh {
    inboxes: Arc<Vec<ArrayQueue<Handoff>>>,
    wakers: Wakers,
}

impl Mesh {
    pub fn new(workers: usize, capacity: usize) -> Mesh {
        Mesh {
            inboxes: Arc::new((0..workers).map(|_| ArrayQueue::new(capacity.max(1))).collect()),
            wakers: Arc::new((0..workers).map(|_| Wake::new()).collect()),
        }
    }
    pub fn workers(&self) -> usize {
        self.inboxes.len()
    }
    /// Queues `frame` for worker `to`. Returns false (the frame is dropped) when its
    /// inbox is full or `to` does not exist.
    pub fn send(&self, to: usize, kind: HandoffKind, frame: &[u8]) -> bool {
        match self.inboxes.get(to) {
            Some(q) => {
                let ok = q.push(Handoff { kind, frame: frame.into() }).is_ok();
                self.wakers[to].wake();
                ok
            }
            None => false,
        }
    }
    /// Takes the next frame handed to worker `me`.
    pub fn recv(&self, me: usize) -> Option<Handoff> {
        self.inboxes.get(me)?.pop()
    }
    /// The workers' wakers (for other producers of work, e.g. the blocking API).
    pub fn wakers(&self) -> Wakers {
        self.wakers.clone()
    }
    pub fn pending(&self, me: usize) -> usize {
        self.inboxes.get(me).map_or(0, |q| q.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_off_wakes_a_sleeping_worker_and_only_then() {
        use crate::sys::poll_readable;
        let m = Mesh::new(2, 4);
        let w = m.wakers();
        let readable = |ms| poll_readable(w[1].fd().expect("eventfd"), ms).unwrap();
        // Awake: queueing costs no wake-up.
        assert!(m.send(1, HandoffKind::Owned, b"a"));
        assert!(!readable(0));
        // Asleep: the send makes its eventfd readable at once.
        w[1].sleep_begins();
        assert!(m.send(1, HandoffKind::Owned, b"b"));
        assert!(readable(1000));
        w[1].sleep_ends();
        assert!(!readable(0), "drained on waking");
        assert!(!poll_readable(w[0].fd().unwrap(), 0).unwrap(), "other workers untouched");
        assert_eq!(m.pending(1), 2);
    }

    #[test]
    fn bounded_fifo_per_worker() {
        let m = Mesh::new(2, 2);
        assert!(m.send(1, HandoffKind::Owned, b"a"));
        assert!(m.send(1, HandoffKind::ArpShare, b"b"));
        assert!(!m.send(1, HandoffKind::Owned, b"c"), "full inbox refuses");
        assert!(!m.send(5, HandoffKind::Owned, b"x"), "no such worker");
        assert!(m.recv(0).is_none());
        let h = m.recv(1).unwrap();
        assert_eq!((h.kind, &*h.frame), (HandoffKind::Owned, &b"a"[..]));
        assert_eq!(&*m.recv(1).unwrap().frame, b"b");
        assert!(m.recv(1).is_none());
    }

    #[test]
    fn crosses_threads() {
        let m = Mesh::new(2, 1024);
        let tx = m.clone();
        let t = std::thread::spawn(move || {
            for i in 0..1000u32 {
                while !tx.send(0, HandoffKind::Owned, &i.to_be_bytes()) {
                    std::hint::spin_loop();
                }
            }
        });
        let mut next = 0u32;
        while next < 1000 {
            if let Some(h) = m.recv(0) {
                assert_eq!(&*h.frame, &next.to_be_bytes());
                next += 1;
            }
        }
        t.join().unwrap();
    }
}
