//! The server's side of the control connection, without I/O: bytes from the client go
//! in ([`Control::input`]), state bytes and JSON to send come out ([`Control::output`]),
//! and [`Control::tick`] moves the test on as its streams join and finish (they may be
//! on other workers). Follows `iperf_run_server` and `iperf_handle_message_server` in
//! `iperf_server_api.c`.

use std::sync::Arc;

use super::proto::{self, Fault, Params, MAX_JSON};
use super::registry::Test;
use crate::time::{Duration, Instant};

/// Time for a new test to exchange parameters and connect its streams.
pub const SETUP_LIMIT: Duration = Duration::from_secs(30);
/// Added to a test's `-t` and `-O` before it is given up (`create_server_timers`: 4 s
/// round trip times 10 state transitions).
pub const GRACE: Duration = Duration::from_secs(40);
/// The limit for a test without `-t` (`-n`/`-k`).
pub const UNTIMED_LIMIT: Duration = Duration::from_secs(3600);
/// How long the results wait for the streams' owners to count their last bytes.
pub const SETTLE_LIMIT: Duration = Duration::from_millis(500);
/// How long the server waits for IPERF_DONE after DISPLAY_RESULTS.
pub const DONE_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The client's parameters (length-prefixed JSON).
    Params,
    /// Waiting for the streams to connect.
    Streams,
    /// The test runs until the client's TEST_END.
    Running,
    /// The client's results (length-prefixed JSON).
    ClientResults,
    /// Waiting for the streams' last counts, then the server's results go out.
    Settling,
    /// Results sent; waiting for IPERF_DONE.
    Display,
    /// Finished cleanly.
    Done,
}

/// One test's control connection.
pub struct Control {
    pub test: Arc<Test>,
    step: Step,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    deadline: Instant,
    /// When counting began (after the omitted seconds) and ended.
    counted_from: Instant,
    omit_pending: bool,
    ended: Instant,
}

impl Control {
    /// A control connection whose cookie started `test`: asks for the parameters.
    pub fn new(test: Arc<Test>, now: Instant) -> Control {
        Control { test, step: Step::Params, inbuf: Vec::new(), out: vec![proto::PARAM_EXCHANGE as u8], out_pos: 0, deadline: now + SETUP_LIMIT, counted_from: now, omit_pending: false, ended: now }
    }

    pub fn step(&self) -> Step {
        self.step
    }

    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// Whether progress depends on other workers (the owner should not sleep).
    pub fn waiting_on_streams(&self) -> bool {
        matches!(self.step, Step::Streams | Step::Settling) || self.omit_pending
    }

    /// How many bytes the next read may bring: the input held is bounded by one JSON
    /// message and its length.
    pub fn room(&self) -> usize {
        (MAX_JSON + 4).saturating_sub(self.inbuf.len()).max(1)
    }

    /// Bytes waiting to be sent.
    pub fn output(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// `n` bytes of [`Control::output`] were sent.
    pub fn consume(&mut self, n: usize) {
        self.out_pos += n;
        if self.out_pos >= self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
    }

    fn say(&mut self, state: i8) {
        self.out.push(state as u8);
    }

    /// Bytes from the client.
    pub fn input(&mut self, data: &[u8], now: Instant) -> Result<(), Fault> {
        if self.inbuf.len() + data.len() > MAX_JSON + 4 + 64 {
            // Only a client pipelining far ahead of the protocol gets here.
            return Err(Fault::JsonTooLong(data.len() as u32));
        }
        self.inbuf.extend_from_slice(data);
        self.advance(now)
    }

    /// The client closed its side.
    pub fn eof(&mut self) -> Result<(), Fault> {
        match self.step {
            // It may close right after IPERF_DONE, or without it.
            Step::Display | Step::Done => {
                self.step = Step::Done;
                Ok(())
            }
            _ => Err(Fault::ClientGone),
        }
    }

    fn advance(&mut self, now: Instant) -> Result<(), Fault> {
        loop {
            match self.step {
                Step::Params => {
                    let Some(v) = proto::take_json(&mut self.inbuf)? else { return Ok(()) };
                    match Params::from_json(&v) {
                        Ok(p) => self.test.set_params(p),
                        Err(Fault::Refused(code, why)) => {
                            // `iperf_exchange_parameters`: SERVER_ERROR, then i_errno and
                            // errno as 32-bit big-endian numbers.
                            self.say(proto::SERVER_ERROR);
                            self.out.extend_from_slice(&code.to_be_bytes());
                            self.out.extend_from_slice(&0i32.to_be_bytes());
                            return Err(Fault::Refused(code, why));
                        }
                        Err(e) => return Err(e),
                    }
                    self.test.set_state(proto::CREATE_STREAMS);
                    self.say(proto::CREATE_STREAMS);
                    self.step = Step::Streams;
                    self.tick(now)?;
                }
                Step::ClientResults => {
                    // The client's own results: read (they are part of the exchange),
                    // not used.
                    if proto::take_json(&mut self.inbuf)?.is_none() {
                        return Ok(());
                    }
                    self.step = Step::Settling;
                    self.deadline = now + SETTLE_LIMIT;
                    self.tick(now)?;
                }
                Step::Streams | Step::Running | Step::Settling | Step::Display | Step::Done => {
                    if self.inbuf.is_empty() {
                        return Ok(());
                    }
                    let s = self.inbuf.remove(0) as i8;
                    self.state_byte(s, now)?;
                }
            }
        }
    }

    fn state_byte(&mut self, s: i8, now: Instant) -> Result<(), Fault> {
        match (s, self.step) {
            (proto::TEST_END, Step::Running) => {
                self.ended = now;
                self.omit_pending = false;
                self.test.set_state(proto::TEST_END);
                self.test.set_state(proto::EXCHANGE_RESULTS);
                self.say(proto::EXCHANGE_RESULTS);
                self.step = Step::ClientResults;
                Ok(())
            }
            (proto::IPERF_DONE, _) => {
                self.step = Step::Done;
                Ok(())
            }
            // `iperf_handle_message_server` ignores TEST_START.
            (proto::TEST_START, _) => Ok(()),
            (proto::CLIENT_TERMINATE, _) => Err(Fault::ClientGone),
            _ => Err(Fault::UnknownState(s)),
        }
    }

    /// Moves the test on: starts it when all its streams have joined, ends the omitted
    /// seconds, sends the results once the streams are counted. Errors when a time
    /// limit has passed.
    pub fn tick(&mut self, now: Instant) -> Result<(), Fault> {
        match self.step {
            Step::Streams => {
                let t = &self.test;
                if t.expected() > 0 && t.connected() >= t.expected() {
                    let p = t.params().cloned().unwrap_or_else(unreachable_params);
                    // Counting starts before the client hears TEST_RUNNING.
                    t.set_state(proto::TEST_START);
                    t.set_state(proto::TEST_RUNNING);
                    self.say(proto::TEST_START);
                    self.say(proto::TEST_RUNNING);
                    self.step = Step::Running;
                    let omit = Duration::from_secs(p.omit);
                    self.counted_from = now + omit;
                    self.omit_pending = p.omit > 0;
                    let run = if p.time == 0 { UNTIMED_LIMIT } else { Duration::from_secs(p.time) + omit + GRACE };
                    self.deadline = now + run;
                }
            }
            Step::Running if self.omit_pending && now >= self.counted_from => {
                self.omit_pending = false;
                self.test.omit_done();
            }
            Step::Settling if self.test.all_finished() || now >= self.deadline => {
                let p = self.test.params().cloned().unwrap_or_else(unreachable_params);
                let secs = self.ended.saturating_since(self.counted_from).as_secs_f64();
                let streams = self.test.results(secs);
                let total: u64 = streams.iter().map(|s| s.bytes).sum();
                tracing::info!(
                    "iperf3: test {}: {:?}, {} stream(s){}{}, {total} bytes in {secs:.2} s ({:.3} Gbit/s){}",
                    self.test.cookie.as_str(),
                    p.protocol,
                    p.parallel,
                    if p.reverse { ", reverse" } else { "" },
                    if p.bidirectional { ", bidirectional" } else { "" },
                    if secs > 0.0 { total as f64 * 8.0 / secs / 1e9 } else { 0.0 },
                    if p.ignored.is_empty() { String::new() } else { format!("; not applied: {}", p.ignored.join(", ")) }
                );
                let server_output = p.get_server_output.then(|| proto::server_output_json(&p, &self.test.cookie, &streams));
                let j = proto::results_json(&p, &streams, server_output);
                self.out.extend_from_slice(&proto::frame_json(&j));
                self.test.set_state(proto::DISPLAY_RESULTS);
                self.say(proto::DISPLAY_RESULTS);
                self.step = Step::Display;
                self.deadline = now + DONE_LIMIT;
                return Ok(());
            }
            _ => {}
        }
        if now >= self.deadline && !matches!(self.step, Step::Settling | Step::Done) {
            return Err(Fault::Timeout);
        }
        Ok(())
    }
}

/// Parameters are set before the test leaves [`Step::Params`]; a default keeps the
/// server up should that ever not hold.
fn unreachable_params() -> Params {
    Params::from_json(&serde_json::json!({"tcp": true})).expect("default parameters")
}
