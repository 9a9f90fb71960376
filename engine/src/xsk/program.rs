//! Loading the XDP steering program (`bpf/steer.bpf.c`), filling its maps, and
//! attaching it through a BPF link.

use std::mem::MaybeUninit;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags};

use super::skel::{SteerSkel, SteerSkelBuilder};
use super::raw::{self, AttachMode};
use super::XskError;

/// Queues the program's maps can address (MAX_QUEUES in the C source).
pub const MAX_QUEUES: u32 = 64;

/// Requested XDP attach mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// Native if the driver supports it, generic otherwise (with a warning).
    Auto,
    Native,
    Generic,
}

/// Per-queue counters kept by the XDP program, summed over CPUs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct QueueCounters {
    /// Redirected into the queue's AF_XDP socket.
    pub steered: u64,
    /// Not for the engine: passed to the kernel.
    pub passed: u64,
    /// For the engine, but no socket was bound on that queue: dropped.
    pub no_socket: u64,
}

/// The loaded steering program and its maps. Not attached until [`SteerProgram::attach`].
pub struct SteerProgram {
    skel: SteerSkel<'static>,
}

/// An attached program. Dropping it (or the process dying) detaches it.
#[derive(Debug)]
pub struct Attached {
    _link: OwnedFd,
    pub mode: AttachMode,
}

impl SteerProgram {
    /// Opens and loads the embedded BPF object into the kernel.
    pub fn load() -> Result<SteerProgram, XskError> {
        // The skeleton borrows its object storage for as long as it lives; the engine
        // loads one program per process, so the (small) storage is leaked deliberately.
        let storage: &'static mut MaybeUninit<libbpf_rs::OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let open = SteerSkelBuilder::default().open(storage).map_err(|e| XskError::Load(e.to_string()))?;
        let skel = open.load().map_err(|e| XskError::Load(e.to_string()))?;
        Ok(SteerProgram { skel })
    }

    /// Replaces the set of addresses steered to the engine. Takes effect immediately,
    /// without reloading the program.
    pub fn set_addresses(&self, addrs: &[Ipv4Addr]) -> Result<(), XskError> {
        let map = &self.skel.maps.addrs;
        let wanted: Vec<[u8; 4]> = addrs.iter().map(|a| a.octets()).collect();
        for a in &wanted {
            map.update(a, &[1u8], MapFlags::ANY).map_err(|e| XskError::Map(format!("addrs: {e}")))?;
        }
        let stale: Vec<Vec<u8>> = map.keys().filter(|k| !wanted.iter().any(|w| w[..] == k[..])).collect();
        for k in stale {
            map.delete(&k).map_err(|e| XskError::Map(format!("addrs: {e}")))?;
        }
        Ok(())
    }

    /// Puts an AF_XDP socket into the XSKMAP slot of `queue_id`.
    pub fn register_socket(&self, queue_id: u32, fd: BorrowedFd<'_>) -> Result<(), XskError> {
        if queue_id >= MAX_QUEUES {
            return Err(XskError::Config(format!("queue {queue_id} beyond the program's {MAX_QUEUES} queues")));
        }
        let value = (fd.as_raw_fd() as u32).to_ne_bytes();
        self.skel
            .maps
            .xsks
            .update(&queue_id.to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|e| XskError::Map(format!("xsks[{queue_id}]: {e}")))
    }

    /// Removes `queue_id`'s socket from the XSKMAP (its frames then count as no_socket).
    pub fn unregister_socket(&self, queue_id: u32) {
        let _ = self.skel.maps.xsks.delete(&queue_id.to_ne_bytes());
    }

    /// Reads the program's counters for `queue_id`, summed over CPUs.
    pub fn counters(&self, queue_id: u32) -> QueueCounters {
        let mut c = QueueCounters::default();
        if let Ok(Some(per_cpu)) = self.skel.maps.stats.lookup_percpu(&queue_id.to_ne_bytes(), MapFlags::ANY) {
            for v in per_cpu {
                if v.len() >= 24 {
                    let word = |i: usize| u64::from_ne_bytes(v[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
                    c.steered += word(0);
                    c.passed += word(1);
                    c.no_socket += word(2);
                }
            }
        }
        c
    }

    /// Attaches to `ifindex` through a BPF link. `Auto` tries native first and falls back
    /// to generic with a warning.
    pub fn attach(&self, iface: &str, ifindex: u32, mode: XdpMode) -> Result<Attached, XskError> {
        let prog = self.skel.progs.bypass_steer.as_fd();
        let try_mode = |m: AttachMode| {
            raw::xdp_link_create(prog, ifindex, m).map(|fd| Attached { _link: fd, mode: m }).map_err(|e| {
                let hint = match e.raw_os_error() {
                    Some(libc::EBUSY) | Some(libc::EEXIST) => {
                        format!(" (another XDP program is attached: `ip link set dev {iface} xdp off`)")
                    }
                    Some(libc::EOPNOTSUPP) if m == AttachMode::Native => {
                        " (the driver has no native XDP: use --xdp-mode generic or auto)".to_string()
                    }
                    _ => String::new(),
                };
                XskError::Attach { iface: iface.into(), mode: format!("{m:?}").to_lowercase(), reason: format!("{e}{hint}") }
            })
        };
        match mode {
            XdpMode::Native => try_mode(AttachMode::Native),
            XdpMode::Generic => try_mode(AttachMode::Generic),
            XdpMode::Auto => try_mode(AttachMode::Native).or_else(|e| {
                tracing::warn!("native XDP failed ({e}); falling back to generic mode");
                try_mode(AttachMode::Generic)
            }),
        }
    }
}
