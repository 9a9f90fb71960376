//! bypass: a kernel-bypass TCP/IP engine over AF_XDP.
//!
//! Layers, dependencies flowing one way:
//! `wire` (frame formats) -> `arp`, `ipv4`, `icmp` (sans-IO protocol logic) -> `stack`
//! (per-core demux and timers) -> `runtime` (pinned workers, poll loop) <- `xsk` (AF_XDP
//! rings, UMEM, XDP program) and `sys` (the other syscalls): the only modules allowed
//! `unsafe`, which the compiler enforces.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod api;
pub mod background;
pub mod apps;
pub mod arp;
pub mod icmp;
pub mod ipv4;
pub mod pcap;
pub mod phy;
pub mod time;
#[allow(unsafe_code)]
pub mod xsk;
#[allow(unsafe_code)]
pub mod sys;
pub mod wire;
pub mod cli;
pub mod control;
pub mod engine;
pub mod report;
pub mod runtime;
pub mod rss;
pub mod stack;
pub mod tcp;
pub mod tcp_settings;
pub mod worker_core;

#[cfg(test)]
mod testkit;

#[cfg(test)]
mod layering_tests;
