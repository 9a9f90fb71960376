//! The test harness: workers in virtual time over in-memory devices, each running the
//! engine's own pass ([`WorkerCore::run_pass`]), so what a test sees is what a worker
//! does. Used by the socket API's, the services' and the stack's end-to-end tests.

use std::collections::VecDeque;

use crate::api::Application;
use crate::phy::VecDevice;
use crate::runtime::{Alone, WorkerBody};
use crate::stack::Stack;
use crate::time::{Duration, Instant};
use crate::worker_core::WorkerCore;

/// One worker: its core over a device in memory.
pub struct Node {
    pub core: WorkerCore,
    pub dev: VecDevice,
}

impl Node {
    pub fn new(stack: Stack, apps: Vec<Box<dyn Application>>) -> Node {
        Node { core: WorkerCore::new(stack, apps), dev: VecDevice::default() }
    }

    /// Starts the stack and the applications, as a worker does before its first pass.
    /// What they send leaves with the next pass.
    pub fn start(&mut self, now: Instant) {
        self.core.start(now, &mut self.dev);
    }

    /// One worker pass over `inbox`; returns every frame sent since the last pass.
    pub fn pass(&mut self, now: Instant, inbox: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
        self.dev.rx.extend(inbox);
        self.core.run_pass(now, &mut self.dev, &mut Alone);
        std::mem::take(&mut self.dev.tx.frames)
    }
}

impl std::ops::Deref for Node {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.core.stack
    }
}

impl std::ops::DerefMut for Node {
    fn deref_mut(&mut self) -> &mut Stack {
        &mut self.core.stack
    }
}

/// Two workers on a wire, stepped together in virtual time: each step is one pass of
/// each over what the other sent in the previous step.
pub struct Wire {
    pub now: Instant,
    pub to_a: VecDeque<Vec<u8>>,
    pub to_b: VecDeque<Vec<u8>>,
}

impl Wire {
    /// Starts both workers at `now`.
    pub fn start(a: &mut Node, b: &mut Node, now: Instant) -> Wire {
        a.start(now);
        b.start(now);
        Wire { now, to_a: VecDeque::new(), to_b: VecDeque::new() }
    }

    /// One pass of each, then time moves on by `tick`.
    pub fn step(&mut self, a: &mut Node, b: &mut Node, tick: Duration) {
        let out_a = a.pass(self.now, self.to_a.drain(..));
        let out_b = b.pass(self.now, self.to_b.drain(..));
        self.to_b.extend(out_a);
        self.to_a.extend(out_b);
        self.now += tick;
    }

    /// Steps until `done` (asked before each step) or `steps` steps; returns `done()`.
    pub fn run(&mut self, a: &mut Node, b: &mut Node, tick: Duration, steps: usize, mut done: impl FnMut(&Node, &Node) -> bool) -> bool {
        for _ in 0..steps {
            if done(a, b) {
                return true;
            }
            self.step(a, b, tick);
        }
        done(a, b)
    }
}
