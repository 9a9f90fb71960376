//! Closed-loop load generators on kernel sockets, and their common result type.
//!
//! Every time-based generator takes a `duration` (the measured window) and a
//! `warmup` that precedes it. Operations are counted, and latencies recorded,
//! only when they start at or after the end of warmup and complete before the
//! end of the window; errors are counted over the whole run, warmup included,
//! so a misbehaving server is never hidden.
//!
//! Latency histograms hold **nanoseconds** (see [`new_histogram`]).

mod bulk;
mod http;
mod http_parse;
mod idle;
mod pingpong;
mod udp;
mod window;

pub use bulk::{bulk_recv, bulk_send, chargen_byte, BulkLimit};
pub use http::{connect_rate, http_keepalive, http_keepalive_threads, HTTP_CLOSE_REQUEST, HTTP_REQUEST};
pub use http_parse::{parse_head, ResponseHead};
pub use idle::{idle_connections, IdleConnections};
pub use pingpong::tcp_pingpong;
pub use udp::{udp_echo, udp_pingpong, UDP_LOSS_TIMEOUT};

use hdrhistogram::Histogram;
use std::time::Duration;

/// Largest latency a histogram can hold: 60 s in nanoseconds (larger values saturate).
pub const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds, 1 ns .. 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).expect("valid histogram bounds")
}

/// Records `d` (as nanoseconds, at least 1) into `h`, saturating at 60 s.
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
    h.saturating_record(ns);
}

/// What one load generator measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Completed operations in the measured window (round trips, requests,
    /// connections, datagrams echoed, or 1 for a bulk transfer).
    pub ops: u64,
    /// Payload bytes moved in the measured window (received bytes for
    /// request/response cases, sent bytes for `bulk_send`).
    pub bytes: u64,
    /// Length of the measured window in seconds.
    pub seconds: f64,
    /// Failures over the whole run: connect failures, resets, early EOF,
    /// bad HTTP status or framing, corrupted echoes / chargen bytes.
    pub errors: u64,
    /// UDP datagrams never answered within [`UDP_LOSS_TIMEOUT`] (0 for TCP).
    pub lost: u64,
    /// The first error seen, for diagnostics.
    pub first_error: Option<String>,
    /// Per-operation latency in **nanoseconds**, when latency applies.
    pub histogram: Option<Histogram<u64>>,
}

impl LoadResult {
    /// An empty result for a window of `seconds`.
    pub fn empty(seconds: f64) -> Self {
        LoadResult { ops: 0, bytes: 0, seconds, errors: 0, lost: 0, first_error: None, histogram: None }
    }

    /// Completed operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        per_sec(self.ops as f64, self.seconds)
    }

    /// Payload bytes per second.
    pub fn bytes_per_sec(&self) -> f64 {
        per_sec(self.bytes as f64, self.seconds)
    }

    /// Payload throughput in Gbit/s (10^9 bits per second).
    pub fn gbit_per_sec(&self) -> f64 {
        self.bytes_per_sec() * 8.0 / 1e9
    }

    /// Latency percentiles in microseconds, if a non-empty histogram was kept.
    pub fn percentiles(&self) -> Option<crate::stats::Percentiles> {
        self.histogram.as_ref().and_then(crate::stats::Percentiles::from_histogram)
    }

    /// Counts one error, keeping the first message.
    pub fn error(&mut self, what: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what.to_string());
        }
    }

    /// Adds another partial result of the same window (one thread's share).
    pub fn merge(&mut self, other: LoadResult) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.lost += other.lost;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        match (&mut self.histogram, other.histogram) {
            (Some(h), Some(o)) => h.add(&o).expect("histograms share bounds"),
            (h @ None, Some(o)) => *h = Some(o),
            _ => {}
        }
    }
}

fn per_sec(n: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n / seconds
    } else {
        0.0
    }
}

/// How long one operation may wait for the peer before it counts as an error.
pub const OP_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a connect may take: long enough for two SYN retransmissions
/// (1 s, then 2 s later), which happen when a server's accept queue is full.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3500);

/// Connects with a timeout of [`CONNECT_TIMEOUT`] and sets `TCP_NODELAY`.
pub(crate) fn connect(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpStream> {
    let s = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    s.set_nodelay(true)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_merge() {
        let mut a = LoadResult { ops: 100, bytes: 125_000_000, seconds: 2.0, ..LoadResult::empty(2.0) };
        let mut h = new_histogram();
        record(&mut h, Duration::from_micros(10));
        a.histogram = Some(h);
        assert_eq!(a.ops_per_sec(), 50.0);
        assert_eq!(a.gbit_per_sec(), 0.5);
        let mut b = LoadResult::empty(2.0);
        b.ops = 50;
        b.error("first");
        b.error("second");
        let mut h = new_histogram();
        record(&mut h, Duration::from_micros(30));
        record(&mut h, Duration::ZERO);
        b.histogram = Some(h);
        a.merge(b);
        assert_eq!((a.ops, a.errors, a.first_error.as_deref()), (150, 2, Some("first")));
        assert_eq!(a.histogram.as_ref().unwrap().len(), 3);
        assert_eq!(a.histogram.as_ref().unwrap().min(), 1, "zero durations record as 1 ns");
        assert_eq!(LoadResult::empty(0.0).ops_per_sec(), 0.0);
    }
}
