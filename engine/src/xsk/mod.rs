//! AF_XDP: the XDP steering program, UMEM, rings and sockets. With `sys`, the only module
//! allowed `unsafe`.
mod skel {
    #![allow(clippy::all, unsafe_op_in_unsafe_fn, dead_code, non_camel_case_types)]
    include!(concat!(env!("OUT_DIR"), "/steer.skel.rs"));
}

pub mod ethtool;
mod pool;
mod program;
mod queue;
mod raw;

pub use pool::{FrameLedger, LedgerReport, Place};
pub use program::{Attached, QueueCounters, SteerProgram, XdpMode, MAX_QUEUES};
pub use queue::{KernelStats, QueueConfig, QueueStats, TxWriter, XskQueue, ZeroCopy};
pub use raw::AttachMode;

/// Why the datapath could not be set up. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum XskError {
    #[error("invalid AF_XDP configuration: {0}")]
    Config(String),
    #[error("cannot create UMEM: {0} (is RLIMIT_MEMLOCK raised and are you root?)")]
    Umem(String),
    #[error("cannot bind AF_XDP socket on rx queue {queue_id}: {reason}")]
    Socket { queue_id: u32, reason: String },
    #[error("cannot load the XDP program: {0} (are you root, with BPF enabled in the kernel?)")]
    Load(String),
    #[error("cannot attach XDP to {iface} in {mode} mode: {reason}")]
    Attach { iface: String, mode: String, reason: String },
    #[error("BPF map update failed: {0}")]
    Map(String),
}
