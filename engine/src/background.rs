//! The engine in a background thread of this process, for programs that use the blocking
//! socket face ([`crate::api::blocking`]): started as `bypass run` would be, with the
//! blocking face's proxy on every worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::channel::bounded;

use crate::api::blocking::{self, Hub};
use crate::cli::RunArgs;
use crate::engine::{EngineError, Report};

/// An engine running in the background; derefs to the [`Hub`] the blocking handles use.
pub struct Engine {
    hub: Hub,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<Report, EngineError>>>,
}

impl Engine {
    /// Starts the engine described by `args` (as `bypass run` would) and waits until its
    /// datapath is up.
    pub fn start(args: RunArgs) -> Result<Engine, EngineError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = bounded::<(Vec<std::net::Ipv4Addr>, Option<crate::runtime::Wakers>)>(1);
        let (factory, proxies) = blocking::proxies();
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bypass-engine".into())
            .spawn(move || {
                crate::engine::run_with(&args, st, false, &[factory], |info| {
                    let _ = ready_tx.send((info.addrs.clone(), info.wakers.clone()));
                })
            })
            .map_err(|e| EngineError(format!("cannot start the engine thread: {e}")))?;
        match ready_rx.recv() {
            Ok((addrs, wakers)) => Ok(Engine { hub: proxies.connect(addrs, wakers), stop, thread: Some(thread) }),
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                _ => Err(EngineError("the engine stopped while starting".into())),
            },
        }
    }

    /// Stops the engine and returns its report. Handles still open fail from now on.
    pub fn stop(mut self) -> Result<Report, EngineError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            _ => Err(EngineError("the engine thread panicked".into())),
        }
    }
}

impl std::ops::Deref for Engine {
    type Target = Hub;
    fn deref(&self) -> &Hub {
        &self.hub
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
