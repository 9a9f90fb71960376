//! Cross-worker frame hand-off: one bounded lock-free inbox per worker.
//!
//! A worker that receives a frame another worker must see (ARP, which every worker's
//! cache learns from; later, TCP segments of flows owned elsewhere) copies it into a
//! [`Handoff`] and pushes it into the owner's inbox. A full inbox drops the frame and
//! counts it: back-pressure never blocks a poll loop.

use crossbeam::queue::ArrayQueue;
use std::sync::Arc;

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
}

impl Mesh {
    pub fn new(workers: usize, capacity: usize) -> Mesh {
        Mesh { inboxes: Arc::new((0..workers).map(|_| ArrayQueue::new(capacity.max(1))).collect()) }
    }
    pub fn workers(&self) -> usize {
        self.inboxes.len()
    }
    /// Queues `frame` for worker `to`. Returns false (the frame is dropped) when its
    /// inbox is full or `to` does not exist.
    pub fn send(&self, to: usize, kind: HandoffKind, frame: &[u8]) -> bool {
        match self.inboxes.get(to) {
            Some(q) => q.push(Handoff { kind, frame: frame.into() }).is_ok(),
            None => false,
        }
    }
    /// Takes the next frame handed to worker `me`.
    pub fn recv(&self, me: usize) -> Option<Handoff> {
        self.inboxes.get(me)?.pop()
    }
    pub fn pending(&self, me: usize) -> usize {
        self.inboxes.get(me).map_or(0, |q| q.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
