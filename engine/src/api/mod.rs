//! The socket API, two faces over one implementation (the worker's stack):
//!
//! - [`fast`]: on the worker core. An [`Application`] runs inside the poll loop, one
//!   instance per worker (listeners are replicated like SO_REUSEPORT), and makes
//!   non-blocking BSD-style calls through [`Io`]; readiness comes as [`Event`]s. No
//!   locks, no copies beyond the stack's buffers.
//! - [`blocking`]: from ordinary threads. [`blocking::TcpListener`],
//!   [`blocking::TcpStream`] (`std::io::Read`/`Write`) and [`blocking::UdpSocket`] send
//!   commands to the owning worker through crossbeam queues; a proxy application on each
//!   worker carries them out.
//!
//! Errors are `std::io::Error`s with the kinds users know: ConnectionRefused,
//! ConnectionReset, TimedOut, AddrInUse, AddrNotAvailable, NotConnected, InvalidInput,
//! WouldBlock.

pub mod blocking;
pub mod fast;
mod io;
pub mod kernel;
pub mod kernel_worker;
#[cfg(test)]
mod kernel_tests;

#[cfg(test)]
mod tests;

pub use fast::{AppFactory, Application, Event, Fd, Shutdown, SockType, SocketOptions};
pub use io::Io;
