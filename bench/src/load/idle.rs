//! Idle connections: open many TCP connections and hold them, sending
//! nothing, so the server's memory per connection can be measured.

use super::connect;
use std::io;
use std::net::{SocketAddr, TcpStream};

/// A set of open, idle connections; dropping it closes them all.
#[derive(Debug)]
pub struct IdleConnections {
    streams: Vec<TcpStream>,
    /// Connection attempts that failed (refused, timed out, out of fds ...).
    pub errors: u64,
    /// The first failure, for diagnostics.
    pub first_error: Option<String>,
}

impl IdleConnections {
    /// Connections currently held.
    pub fn opened(&self) -> usize {
        self.streams.len()
    }

    /// How many held connections the server has not closed or reset
    /// (checked without blocking and without consuming data).
    pub fn still_open(&self) -> usize {
        self.streams.iter().filter(|s| alive(s)).count()
    }
}

/// Opens `count` connections to `addr` one after another and keeps them
/// open until the returned value is dropped. Failures are counted, not fatal.
/// The process needs an fd limit above `count` (`ulimit -n`).
pub fn idle_connections(addr: SocketAddr, count: usize) -> IdleConnections {
    let mut set = IdleConnections { streams: Vec::with_capacity(count), errors: 0, first_error: None };
    for _ in 0..count {
        match connect(addr) {
            Ok(s) => set.streams.push(s),
            Err(e) => {
                set.errors += 1;
                set.first_error.get_or_insert_with(|| format!("connect: {e}"));
            }
        }
    }
    set
}

impl Drop for IdleConnections {
    /// Closes with RST (SO_LINGER 0): a FIN close would leave every connection in
    /// TIME-WAIT on this side for a minute, and the next run against the same address
    /// (`--rounds`) would find the ephemeral port range clogged (slow connects, then
    /// EADDRNOTAVAIL).
    fn drop(&mut self) {
        for s in &self.streams {
            let _ = socket2::SockRef::from(s).set_linger(Some(std::time::Duration::ZERO));
        }
    }
}

fn alive(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    let r = match s.peek(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    };
    let _ = s.set_nonblocking(false);
    r
}

