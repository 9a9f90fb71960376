//! The floor under the ping-pong cases, measured in the same run: the engine with
//! `--reflect-udp 7` (frames bounced RX ring to TX ring, no stack) answering a 64 B UDP
//! ping-pong, driven by the client that matches the case's own client:
//!
//! * `tcp-pingpong-spin` (a kernel TCP client, spinning): a kernel UDP socket, spinning.
//!   The client stays the kernel's; only TCP becomes UDP and the engine's stack becomes
//!   the reflector.
//! * `e2e-tcp-pingpong` (an engine client): the raw AF_XDP client of [`crate::raw_client`],
//!   so neither end runs a stack.
//!
//! The report states each side's p50 as "floor + X µs" (see [`crate::report::Floor`]).

use std::net::{SocketAddr, SocketAddrV4};

use anyhow::{bail, Result};

use crate::raw_client::{self, RawTarget};
use crate::report::Figure;
use crate::runner::{wait_quiet, Server, Setup, Side};
use crate::stats::CpuSampler;

/// The message size of every ping-pong case and its floor.
pub const MSG: usize = 64;

/// Who drives the reflector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorClient {
    /// A kernel UDP socket, non-blocking, spinning on recv.
    KernelUdp,
    /// The raw AF_XDP client (no stack) on the peer end of the veth pair.
    RawAfXdp,
}

/// The floor a case is stated against, if it has one.
pub fn floor_for(case: &str) -> Option<FloorClient> {
    match case {
        "tcp-pingpong-spin" => Some(FloorClient::KernelUdp),
        "e2e-tcp-pingpong" => Some(FloorClient::RawAfXdp),
        _ => None,
    }
}

impl FloorClient {
    pub fn client(self) -> &'static str {
        match self {
            FloorClient::KernelUdp => "kernel UDP socket, spinning",
            FloorClient::RawAfXdp => "raw AF_XDP client (no stack)",
        }
    }

    pub fn server(self) -> &'static str {
        "raw AF_XDP reflector (bypass run --reflect-udp 7)"
    }

    /// What the distance from this floor to the case's p50 includes.
    pub fn compares(self) -> &'static str {
        match self {
            FloorClient::KernelUdp => {
                "same kernel client, UDP instead of TCP: X is the server's TCP stack (engine or kernel) over a bare reflector plus the kernel client's TCP over its UDP path"
            }
            FloorClient::RawAfXdp => {
                "same AF_XDP rings and cores at both ends: the engine's X is its TCP stack and socket API at both ends; the kernel's X is kernel TCP sockets at both ends, no AF_XDP"
            }
        }
    }
}

/// Measures one floor round: reflector up on the server CPU, the client on this
/// (client-pinned) thread for the warm-up plus the duration, reflector down. The figure's
/// value is the p50 round trip, µs.
pub fn measure_floor(s: &Setup, client: FloorClient) -> Result<Figure> {
    let dst = SocketAddrV4::new(s.engine_ip, 7);
    let target = match (client, &s.client_engine) {
        (FloorClient::KernelUdp, _) => None,
        (FloorClient::RawAfXdp, Some((iface, ip))) => {
            Some(RawTarget { iface: iface.clone(), src: raw_client::client_addr(*ip), dst, dst_mac: raw_client::mac_in_namespace(&s.eng_ns, &s.iface)? })
        }
        (FloorClient::RawAfXdp, None) => bail!("the raw AF_XDP floor needs the peer interface and a client address (--client-iface, --client-ip)"),
    };
    let server = Server::start(s, Side::RawAfXdp, "floor")?;
    wait_quiet();
    let cpu_server = CpuSampler::for_pid(server.pid()).ok();
    let cpu_client = CpuSampler::this_process().ok();
    let result = match &target {
        None => crate::load::udp_pingpong(SocketAddr::V4(dst), MSG, s.duration, s.warmup).map_err(anyhow::Error::from),
        Some(t) => raw_client::udp_pingpong(t, MSG, s.duration, s.warmup),
    };
    let cpu_server = cpu_server.and_then(|c| c.finish().ok()).map(|u| u.cores);
    let cpu_client = cpu_client.and_then(|c| c.finish().ok()).map(|u| u.cores);
    server.stop();
    let r = result?;
    let p50 = r.percentiles().map_or(f64::NAN, |p| p.p50);
    let mut f = Figure::from_load(p50, &r);
    f.cpu_server = cpu_server;
    f.cpu_client = cpu_client;
    Ok(f)
}
