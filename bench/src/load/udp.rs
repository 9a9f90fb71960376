//! UDP echo load: keep a window of datagrams in flight, measure datagrams per
//! second and round-trip time, count datagrams that never come back.

use super::window::Window;
use super::{new_histogram, record, LoadResult};
use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A datagram unanswered for this long is counted lost (and replaced).
pub const UDP_LOSS_TIMEOUT: Duration = Duration::from_millis(200);

/// Sends `msg_size`-byte datagrams (at least 8: they carry a sequence number)
/// to a UDP echo server at `addr`, keeping `window` of them in flight; each
/// echo is matched by sequence number, checked byte for byte, and its RTT
/// recorded. `ops` counts echoes in the measured window, `bytes` their
/// payload, `lost` datagrams unanswered after [`UDP_LOSS_TIMEOUT`] (over the
/// whole run; those still in flight at the end are not counted).
/// Send/receive failures and wrong echoes count as errors; late echoes of
/// datagrams already counted lost are ignored.
pub fn udp_echo(
    addr: SocketAddr,
    msg_size: usize,
    duration: Duration,
    warmup: Duration,
    window: usize,
) -> io::Result<LoadResult> {
    echo(addr, msg_size, duration, warmup, window, false)
}

/// UDP ping-pong: [`udp_echo`] with one datagram in flight on a non-blocking socket the
/// client spins on (as the spinning TCP ping-pong does), so each round trip is measured
/// from the send call to the receive that returns the echo.
pub fn udp_pingpong(addr: SocketAddr, msg_size: usize, duration: Duration, warmup: Duration) -> io::Result<LoadResult> {
    echo(addr, msg_size, duration, warmup, 1, true)
}

fn echo(addr: SocketAddr, msg_size: usize, duration: Duration, warmup: Duration, window: usize, spin: bool) -> io::Result<LoadResult> {
    if !(8..=65_507).contains(&msg_size) || window == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "need 8 <= msg_size <= 65507 and window > 0"));
    }
    let local: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
    let sock = UdpSocket::bind(local)?;
    sock.connect(addr)?;
    if spin {
        sock.set_nonblocking(true)?;
    } else {
        // Bounds how long a receive can overrun the end of the run or delay
        // loss detection; set once, not per datagram.
        sock.set_read_timeout(Some(Duration::from_millis(5)))?;
    }
    let win = Window::start(duration, warmup);
    let mut res = LoadResult::empty(win.seconds());
    let mut hist = new_histogram();
    let mut in_flight: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut out = vec![0u8; msg_size];
    let mut back = vec![0u8; 65_536];
    let mut seq: u64 = 0;
    loop {
        let now = Instant::now();
        if win.over(now) {
            break;
        }
        while let Some((&s, &t)) = in_flight.first_key_value() {
            if now - t < UDP_LOSS_TIMEOUT {
                break;
            }
            in_flight.remove(&s);
            res.lost += 1;
        }
        while in_flight.len() < window {
            seq += 1;
            fill(&mut out, seq);
            // From just before the send call, as the TCP ping-pong times its write.
            let t0 = Instant::now();
            match sock.send(&out) {
                Ok(_) => {
                    in_flight.insert(seq, t0);
                }
                // A full socket buffer on a non-blocking socket: try again next pass.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    seq -= 1;
                    break;
                }
                Err(e) => {
                    res.error(format!("send: {e}"));
                    std::thread::sleep(Duration::from_millis(1));
                    break;
                }
            }
        }
        match sock.recv(&mut back) {
            Ok(n) => {
                let done = Instant::now();
                let got = u64::from_le_bytes(back[..8.min(n)].try_into().unwrap_or([0; 8]));
                let Some(sent) = in_flight.remove(&got) else { continue };
                fill(&mut out, got);
                if back[..n] != out[..] {
                    res.error("echo differs from datagram");
                } else if win.counts(sent, done) {
                    res.ops += 1;
                    res.bytes += n as u64;
                    record(&mut hist, done - sent);
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
            Err(e) => {
                res.error(format!("recv: {e}"));
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    res.histogram = Some(hist);
    Ok(res)
}

/// Datagram `seq`: the sequence number, then bytes derived from it.
fn fill(buf: &mut [u8], seq: u64) {
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in buf[8..].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_add(i as u8);
    }
}
