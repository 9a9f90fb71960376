//! Workers for `--backend kernel`: the same applications over Linux sockets, one mio
//! event loop per thread, pinned like the engine's workers. Exists so the benchmark can
//! run identical application code on both stacks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::kernel::{KernelNet, KernelTcp};
use super::{AppFactory, Io};
use crate::runtime::PollMode;
use crate::time::Clock;

/// Runs one kernel-backend worker until `stop`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    index: usize,
    addr: std::net::Ipv4Addr,
    core: Option<core_affinity::CoreId>,
    poll: PollMode,
    tcp: KernelTcp,
    apps: Vec<AppFactory>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    if let Some(c) = core {
        core_affinity::set_for_current(c);
    }
    let clock = Clock::new();
    let mut net = KernelNet::new(addr, index, tcp)?;
    let mut apps: Vec<_> = apps.iter().map(|f| f(index)).collect();
    for (i, app) in apps.iter_mut().enumerate() {
        app.on_start(&mut Io::kernel(&mut net, i, clock.now()));
    }
    let timeout = match poll {
        PollMode::Busy => Duration::ZERO,
        PollMode::Adaptive => Duration::from_millis(5),
    };
    let mut events = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        net.poll_events(Some(timeout), &mut events)?;
        let now = clock.now();
        for (owner, ev) in events.drain(..) {
            if let Some(app) = apps.get_mut(owner) {
                app.on_event(&mut Io::kernel(&mut net, owner, now), ev);
            }
        }
        for (i, app) in apps.iter_mut().enumerate() {
            app.on_poll(&mut Io::kernel(&mut net, i, now));
        }
    }
    Ok(())
}
