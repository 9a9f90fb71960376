//! Pinned per-queue workers and their poll loop.
//!
//! One worker thread per AF_XDP queue, pinned to its own core. Each owns its queue and
//! its stack outright (share-nothing); frames one worker must give another travel
//! through bounded lock-free queues ([`handoff`]).

pub mod fault;
pub mod handoff;
pub mod kernel_worker;
mod worker;

pub use handoff::{Handoff, HandoffKind, Mesh, Wake, Wakers};
pub use worker::{spawn, PollMode, SnapshotRequest, WorkerHandle, WorkerReport, WorkerSetup};
