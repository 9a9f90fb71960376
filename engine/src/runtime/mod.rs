//! Pinned per-queue workers and their poll loop.
//!
//! One worker thread per AF_XDP queue, pinned to its own core. Each owns its queue and
//! its stack outright (share-nothing); frames one worker must give another travel
//! through bounded lock-free queues ([`handoff`]). What runs on each pass is a
//! [`WorkerBody`] defined above this layer; the runtime only drives rings, hand-off and
//! sleeping, and composes the device a pass runs over (capture, reflection, faults).

pub mod fault;
mod faulty;
pub mod handoff;
pub mod pass;
mod reflect;
mod worker;

pub use faulty::Faulty;
pub use handoff::{Handoff, HandoffKind, Mesh, Wake, Wakers};
pub use pass::{Alone, Exchange, PassStats, WorkerBody};
pub use reflect::{Reflect, ReflectCounters};
pub use worker::{spawn, PollMode, SnapshotRequest, WorkerHandle, WorkerReport, WorkerSetup};
