//! Load generators against the in-process servers of `support`: counting,
//! latency recording, and errors when the server misbehaves.

mod support;

use bypass_bench::load::*;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::Http;

const RUN: Duration = Duration::from_millis(300);
const WARM: Duration = Duration::from_millis(50);

fn hist_len(r: &LoadResult) -> u64 {
    r.histogram.as_ref().map_or(0, |h| h.len())
}

#[test]
fn pingpong_blocking_counts_round_trips() {
    let r = tcp_pingpong(support::echo(None, false), 64, RUN, WARM, false).unwrap();
    assert!(r.ops > 50, "{r:?}");
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert_eq!(r.bytes, r.ops * 64);
    assert_eq!(hist_len(&r), r.ops);
    assert_eq!(r.seconds, RUN.as_secs_f64());
    let p = r.percentiles().unwrap();
    assert!(p.p50 > 0.0 && p.p50 <= p.p99 && p.p99 <= p.max);
    assert!((r.ops_per_sec() - r.ops as f64 / 0.3).abs() < 1e-6);
}

#[test]
fn pingpong_spinning_counts_round_trips() {
    let r = tcp_pingpong(support::echo(None, false), 64, RUN, WARM, true).unwrap();
    assert!(r.ops > 50, "{r:?}");
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert_eq!(hist_len(&r), r.ops);
}

#[test]
fn pingpong_counts_early_close_and_reconnects() {
    // The server closes after 10 round trips; the client re-opens each time.
    let r = tcp_pingpong(support::echo(Some(640), false), 64, RUN, Duration::ZERO, false).unwrap();
    assert!(r.errors >= 2, "{r:?}");
    assert!(r.ops >= 2 * 10, "{r:?}");
    assert!(r.first_error.is_some());
}

#[test]
fn pingpong_detects_corrupt_echo() {
    let r = tcp_pingpong(support::echo(None, true), 64, RUN, Duration::ZERO, false).unwrap();
    assert_eq!(r.ops, 0);
    assert!(r.errors > 0);
    assert!(r.first_error.unwrap().contains("differs"));
}

#[test]
fn generators_fail_without_a_server() {
    let dead = support::dead_addr();
    assert!(tcp_pingpong(dead, 64, RUN, WARM, false).is_err());
    assert!(http_keepalive(dead, 4, RUN, WARM).is_err());
    assert!(connect_rate(dead, RUN, WARM, 1).is_err());
    assert!(bulk_recv(dead, 10).is_err());
    let idle = idle_connections(dead, 5);
    assert_eq!((idle.opened(), idle.errors), (0, 5));
}

#[test]
fn http_keepalive_one_connection() {
    let (addr, c) = support::http(Http::Ok);
    let r = http_keepalive(addr, 1, RUN, WARM).unwrap();
    assert!(r.ops > 50, "{r:?}");
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert_eq!(r.bytes, r.ops * support::OK_RESPONSE.len() as u64);
    assert_eq!(hist_len(&r), r.ops);
    assert_eq!(c.get(&c.accepted), 2, "probe + one connection");
}

#[test]
fn http_keepalive_256_connections_on_two_threads() {
    let (addr, c) = support::http(Http::Ok);
    let r = http_keepalive_threads(addr, 256, 2, Duration::from_millis(500), Duration::from_millis(100)).unwrap();
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert!(r.ops >= 256, "{r:?}");
    assert_eq!(hist_len(&r), r.ops);
    assert_eq!(c.get(&c.accepted), 257);
    assert_eq!(c.get(&c.bytes), 0, "keep-alive requests never ask to close");
}

#[test]
fn http_keepalive_counts_bad_status() {
    let (addr, _) = support::http(Http::Status500);
    let r = http_keepalive(addr, 2, RUN, Duration::ZERO).unwrap();
    assert_eq!(r.ops, 0);
    assert!(r.errors > 10, "{r:?}");
    assert_eq!(r.first_error.as_deref(), Some("status 500"));
}

#[test]
fn http_keepalive_counts_closes_and_reconnects() {
    let (addr, c) = support::http(Http::CloseAfter(3));
    let r = http_keepalive(addr, 2, RUN, Duration::ZERO).unwrap();
    assert!(r.ops > 0 && r.errors > 0, "{r:?}");
    assert!(c.get(&c.accepted) > 3, "connections were re-opened");
    assert!(r.ops <= 3 * c.get(&c.accepted));
}

#[test]
fn http_keepalive_rejects_unframed_responses() {
    let (addr, _) = support::http(Http::NoLength);
    let r = http_keepalive(addr, 1, Duration::from_millis(100), Duration::ZERO).unwrap();
    assert_eq!(r.ops, 0);
    assert!(r.errors > 0);
    assert!(r.first_error.unwrap().contains("content-length"));
}

#[test]
fn connect_rate_counts_connections() {
    let (addr, c) = support::http(Http::Ok);
    let r = connect_rate(addr, RUN, WARM, 2).unwrap();
    assert!(r.ops > 20, "{r:?}");
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert_eq!(hist_len(&r), r.ops);
    assert_eq!(r.bytes, r.ops * support::OK_RESPONSE.len() as u64);
    assert!(c.get(&c.bytes) >= r.ops, "every counted request asked to close");
}

#[test]
fn connect_rate_counts_bad_status() {
    let (addr, _) = support::http(Http::Status500);
    let r = connect_rate(addr, Duration::from_millis(100), Duration::ZERO, 1).unwrap();
    assert_eq!(r.ops, 0);
    assert!(r.errors > 0);
}

#[test]
fn bulk_send_by_bytes_and_by_time() {
    let (addr, c) = support::discard();
    let r = bulk_send(addr, BulkLimit::Bytes(20_000_000)).unwrap();
    assert_eq!((r.ops, r.bytes, r.errors), (1, 20_000_000, 0), "{:?}", r.first_error);
    assert!(r.gbit_per_sec() > 0.0);
    // The discard server closes only after reading everything.
    assert_eq!(c.get(&c.bytes), 20_000_000);

    let r = bulk_send(addr, BulkLimit::Duration(Duration::from_millis(200))).unwrap();
    assert_eq!(r.errors, 0);
    assert!(r.bytes > 0 && r.seconds >= 0.2, "{r:?}");
    assert!((r.gbit_per_sec() - r.bytes as f64 * 8.0 / r.seconds / 1e9).abs() < 1e-9);
}

#[test]
fn bulk_recv_verifies_the_pattern() {
    let r = bulk_recv(support::chargen(None, 0), 10_000_000).unwrap();
    assert_eq!((r.ops, r.bytes, r.errors), (1, 10_000_000, 0), "{:?}", r.first_error);
    assert!(r.gbit_per_sec() > 0.0);

    let r = bulk_recv(support::chargen(Some(5_000_123), 0), 10_000_000).unwrap();
    assert_eq!((r.bytes, r.errors), (10_000_000, 1));
    assert!(r.first_error.unwrap().contains("wrong"));

    let r = bulk_recv(support::chargen(None, 7), 1000).unwrap();
    assert_eq!((r.bytes, r.errors), (993, 1));
}

#[test]
fn udp_echo_counts_datagrams() {
    let r = udp_echo(support::udp_echo(None), 64, RUN, WARM, 8).unwrap();
    assert!(r.ops > 50, "{r:?}");
    assert_eq!((r.errors, r.lost), (0, 0), "{:?}", r.first_error);
    assert_eq!(r.bytes, r.ops * 64);
    assert_eq!(hist_len(&r), r.ops);
    assert!(udp_echo(support::udp_echo(None), 4, RUN, WARM, 8).is_err());
}

#[test]
fn udp_echo_counts_lost_datagrams() {
    let r = udp_echo(support::udp_echo(Some(10)), 64, Duration::from_millis(600), Duration::ZERO, 4).unwrap();
    assert!(r.lost > 0, "{r:?}");
    assert!(r.ops > 0);
    assert_eq!(r.errors, 0);
}

#[test]
fn udp_pingpong_spins_one_datagram_at_a_time() {
    let r = udp_pingpong(support::udp_echo(None), 64, RUN, WARM).unwrap();
    assert!(r.ops > 50, "{r:?}");
    assert_eq!((r.errors, r.lost), (0, 0), "{:?}", r.first_error);
    assert_eq!(r.bytes, r.ops * 64);
    assert_eq!(hist_len(&r), r.ops);
    // One in flight: a dropped datagram stalls the loop until it counts lost.
    let r = udp_pingpong(support::udp_echo(Some(10)), 64, Duration::from_millis(600), Duration::ZERO).unwrap();
    assert!(r.lost > 0 && r.ops > 0 && r.errors == 0, "{r:?}");
    assert!(r.ops < 10 * (r.lost + 1), "at most nine echoes between two losses: {r:?}");
}

#[test]
fn idle_connections_are_held_until_dropped() {
    let (addr, c) = support::http(Http::Ok);
    let idle = idle_connections(addr, 50);
    assert_eq!((idle.opened(), idle.errors), (50, 0));
    assert_eq!(idle.still_open(), 50);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(c.get(&c.accepted), 50);
    assert_eq!(c.get(&c.closed_by_peer), 0);
    drop(idle);
    let t = std::time::Instant::now();
    while c.closed_by_peer.load(Ordering::SeqCst) < 50 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.get(&c.closed_by_peer), 50);
}
