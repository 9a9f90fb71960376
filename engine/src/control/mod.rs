//! The control socket: a running engine answers `bypass stat` on a Unix socket under
//! /run/bypass/ (directory 0700, socket 0600: root only), one per engine, named by pid.
//!
//! Protocol: the client sends one line (`stat`), the engine answers one JSON document
//! and closes. The engine's control thread asks every worker for a snapshot through a
//! channel the worker polls once per loop, so workers share nothing and take no lock.

pub mod client;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where engines put their sockets.
pub const DIR: &str = "/run/bypass";

/// The socket path of the engine with process id `pid`.
pub fn socket_path(pid: u32) -> PathBuf {
    Path::new(DIR).join(format!("{pid}.sock"))
}

/// A bound control socket; removed on drop.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    pub fn bind() -> std::io::Result<ControlSocket> {
        std::fs::create_dir_all(DIR)?;
        std::fs::set_permissions(DIR, std::fs::Permissions::from_mode(0o700))?;
        let path = socket_path(std::process::id());
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(ControlSocket { listener, path })
    }

    /// Serves requests until `stop` is set. `answer` turns a request line into the reply.
    pub fn serve(&self, stop: &AtomicBool, mut answer: impl FnMut(&str) -> String) {
        while !stop.load(Ordering::Relaxed) {
            match self.listener.accept() {
                Ok((conn, _)) => {
                    if let Err(e) = handle(conn, &mut answer) {
                        tracing::debug!("control connection: {e}");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    tracing::warn!("control socket: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn handle(conn: UnixStream, answer: &mut impl FnMut(&str) -> String) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(conn.try_clone()?).take(256).read_line(&mut line)?;
    let reply = answer(line.trim());
    let mut conn = conn;
    conn.write_all(reply.as_bytes())?;
    conn.write_all(b"\n")
}

use std::io::Read as _;
