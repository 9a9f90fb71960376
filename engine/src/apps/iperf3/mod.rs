//! An iperf3 server (`--serve iperf3:PORT`) on the fast-path socket API, for the stock
//! `iperf3 -c` client (tested against Debian's iperf 3.12). Written from esnet/iperf's
//! sources at 3.12: `src/iperf_server_api.c` (`iperf_accept`, `iperf_run_server`,
//! `iperf_handle_message_server`), `src/iperf_api.c` (`iperf_set_send_state`,
//! `send_parameters`/`get_parameters`, `send_results`/`get_results`, `JSON_write`/
//! `JSON_read`, `iperf_add_stream`), `src/iperf_tcp.c` (`iperf_tcp_accept`),
//! `src/iperf_udp.c` (`iperf_udp_accept`, `iperf_udp_recv`, `iperf_udp_send`),
//! `src/iperf.h` (`COOKIE_SIZE`, `UDP_CONNECT_*`, limits) and `src/iperf_api.h` (state
//! numbers, `i_errno` values).
//!
//! # The protocol as implemented
//!
//! Everything starts with a TCP connection to PORT that sends a 37-byte cookie: 36
//! characters from `a-z2-7` and a NUL. Bytes that are not a cookie reset the connection.
//! With no test running, the connection becomes the test's control connection; with a
//! test taking streams and the same cookie, one of its streams; otherwise it gets
//! ACCESS_DENIED (the byte `-1`) and is closed (a second client while one is being
//! served; iperf3 serves one test at a time, and so does this server).
//!
//! On the control connection each state is one signed byte (`iperf_api.h`): the server
//! sends PARAM_EXCHANGE (9); the client sends its parameters as JSON, framed as a
//! 4-byte big-endian length and the text (lengths over 64 KiB reset the connection);
//! the server answers CREATE_STREAMS (10), or SERVER_ERROR (-2) followed by `i_errno`
//! and `errno` as 32-bit big-endian numbers for a test it does not run (SCTP, more
//! than 128 streams, a block size out of range). The client opens its streams; once
//! all have joined the server sends TEST_START (1) and TEST_RUNNING (2), and data
//! flows until the client sends TEST_END (4). The server answers EXCHANGE_RESULTS (13),
//! reads the client's results (framed JSON, read and not used), sends its own — per
//! stream `id`, `bytes`, `retransmits` (-1: not reported), `jitter`, `errors`,
//! `packets`, `start_time`, `end_time`, plus `server_output_json` when the client asked
//! for `--get-server-output` — and DISPLAY_RESULTS (14); the client ends with
//! IPERF_DONE (16). CLIENT_TERMINATE (12), an early close, a state byte out of place
//! (reset) or the time limit (`-t` + `-O` + 40 s, as `create_server_timers`) ends the
//! test and closes its streams.
//!
//! Streams: `-P N` streams; the server receives on them, sends with `-R`, and with
//! `--bidir` receives on the first N to join and sends on the next N. Ids are 1, 3, 4,
//! 5... in the order streams join (`iperf_add_stream`). TCP streams start with the
//! cookie. A UDP stream starts with a 4-byte datagram (`UDP_CONNECT_MSG`) from the
//! client's port, answered with `UDP_CONNECT_REPLY` in the byte order it came in; from
//! then on that address is the stream. Each UDP datagram starts with the send time
//! (seconds, microseconds) and a packet count (32-bit, or 64-bit with
//! `--udp-counters-64bit`), big-endian. A receiving UDP stream computes what
//! `iperf_udp_recv` does: lost = gaps in the count less late arrivals, out-of-order
//! arrivals, and jitter smoothed by 1/16 (RFC 1889) over transit-time differences.
//! Sending streams are paced to `-b` per stream, as `iperf_check_throttle`; TCP ones
//! are unpaced without `-b`.
//!
//! Bytes count while the test runs; bytes a receiving stream finds waiting when the
//! test ends are counted too (the client sent them before TEST_END). `-O` seconds are
//! taken off the byte counts (not off UDP loss and jitter).
//!
//! Not done: the CPU figures are reported as 0; `-w`, `-M`, `-N`, `-C`, `-S`,
//! `--fq-rate` are accepted and not applied (the engine's buffers and congestion
//! control are set by its own options); authentication (`--username`) is not checked;
//! no interval reports are kept (`server_output_json` has the end summary only);
//! SCTP and IPv6 are refused.
//!
//! # Workers
//!
//! Each worker runs an [`Iperf3Server`] with its own listener and UDP socket on the
//! port; RSS may give the control connection and each stream to different workers. What
//! they share ([`registry::Registry`], made once by [`factory`]) is the running test:
//! its parameters, its state (an atomic the control connection's owner moves on), and
//! its streams with their counters (atomics; a UDP receiver's statistics behind a mutex
//! only its owner takes). Locks are taken when a connection or UDP flow joins and when
//! the results are built, not per read.

pub mod control;
pub mod proto;
pub mod registry;
pub mod server;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::api::{AppFactory, Application};
pub use registry::Registry;
pub use server::Iperf3Server;

/// The application factory: an [`Iperf3Server`] on `port` on every worker, all sharing
/// one [`Registry`].
pub fn factory(port: u16) -> AppFactory {
    let reg = Registry::new();
    Arc::new(move |_worker| -> Box<dyn Application> { Box::new(Iperf3Server::new(port, reg.clone())) })
}
