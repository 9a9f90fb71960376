//! [`Io`]: what an [`Application`](super::Application) calls, on either backend — the
//! engine's stack, or Linux kernel sockets (`bypass run --backend kernel`, so that the
//! benchmark runs the very same application code on both).

use std::io::Result;
use std::net::SocketAddrV4;

use super::fast::{EngineIo, FdTable};
use super::kernel::{KernelIo, KernelNet};
use super::{Fd, Shutdown, SockType, SocketOptions};
use crate::phy::DynSink;
use crate::stack::Stack;
use crate::time::Instant;

enum Backend<'a> {
    Engine(EngineIo<'a>),
    Kernel(KernelIo<'a>),
}

/// An application's handle on its worker's sockets for one callback.
pub struct Io<'a> {
    b: Backend<'a>,
}

macro_rules! forward {
    ($(#[$doc:meta])* $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty) => {
        $(#[$doc])*
        pub fn $name(&mut self, $($arg: $ty),*) -> $ret {
            match &mut self.b {
                Backend::Engine(e) => e.$name($($arg),*),
                Backend::Kernel(k) => k.$name($($arg),*),
            }
        }
    };
}

impl<'a> Io<'a> {
    /// On the engine: `stack` and the worker's TX sink.
    pub fn new(stack: &'a mut Stack, tx: &'a mut dyn DynSink, fds: &'a mut FdTable, owner: usize, now: Instant) -> Self {
        Io { b: Backend::Engine(EngineIo::new(stack, tx, fds, owner, now)) }
    }

    /// On kernel sockets.
    pub fn kernel(net: &'a mut KernelNet, owner: usize, now: Instant) -> Self {
        Io { b: Backend::Kernel(KernelIo::new(net, owner, now)) }
    }

    /// The worker this runs on.
    pub fn worker(&self) -> usize {
        match &self.b {
            Backend::Engine(e) => e.worker(),
            Backend::Kernel(k) => k.worker(),
        }
    }

    pub fn now(&self) -> Instant {
        match &self.b {
            Backend::Engine(e) => e.now(),
            Backend::Kernel(k) => k.now(),
        }
    }

    /// Room in a stream's send buffer (0 for anything else).
    pub fn send_room(&self, fd: Fd) -> usize {
        match &self.b {
            Backend::Engine(e) => e.send_room(fd),
            Backend::Kernel(k) => k.send_room(fd),
        }
    }

    forward!(/// `socket(2)`.
        socket(ty: SockType) -> Fd);
    forward!(/// `bind(2)`: the address must be 0.0.0.0 or one of the engine's.
        bind(fd: Fd, addr: SocketAddrV4) -> Result<()>);
    forward!(/// `listen(2)` on a bound stream socket.
        listen(fd: Fd, backlog: usize) -> Result<()>);
    forward!(/// `accept(2)`: WouldBlock when no connection waits.
        accept(fd: Fd) -> Result<(Fd, SocketAddrV4)>);
    forward!(/// `connect(2)`, non-blocking: `Connected` or `Error` follows. On a datagram
        /// socket it sets the default peer.
        connect(fd: Fd, addr: SocketAddrV4) -> Result<()>);
    forward!(/// `send(2)`: bytes accepted, or WouldBlock when the send buffer is full.
        send(fd: Fd, data: &[u8]) -> Result<usize>);
    forward!(/// `recv(2)`: bytes read, 0 at EOF, WouldBlock when nothing waits, or the error
        /// that ended the connection.
        recv(fd: Fd, buf: &mut [u8]) -> Result<usize>);
    forward!(/// `shutdown(2)` of the sending side.
        shutdown(fd: Fd, how: Shutdown) -> Result<()>);
    forward!(/// `close(2)`; the descriptor is free afterwards.
        close(fd: Fd) -> Result<()>);
    forward!(/// `sendto(2)` on a bound datagram socket.
        sendto(fd: Fd, data: &[u8], to: SocketAddrV4) -> Result<usize>);
    forward!(/// `recvfrom(2)`: the next datagram, or WouldBlock.
        recvfrom(fd: Fd, buf: &mut [u8]) -> Result<(usize, SocketAddrV4)>);
    forward!(/// Socket options (see [`SocketOptions`]).
        set_options(fd: Fd, o: SocketOptions) -> Result<()>);
    forward!(/// The local address of a socket.
        local_addr(fd: Fd) -> Result<SocketAddrV4>);
    forward!(/// The remote address of a connected socket.
        peer_addr(fd: Fd) -> Result<SocketAddrV4>);
    forward!(/// Bytes waiting to be read on a stream (a lower bound on the kernel backend).
        recv_available(fd: Fd) -> Result<usize>);
    forward!(/// Room in a stream's send buffer: `send` of that much is accepted whole.
        send_capacity(fd: Fd) -> Result<usize>);
    forward!(/// Bytes sent and not yet acknowledged by the peer, or not sent yet (SIOCOUTQ).
        send_unacked(fd: Fd) -> Result<usize>);
}
