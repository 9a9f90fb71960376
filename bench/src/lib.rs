//! Measurement, statistics and reporting for the bypass-vs-kernel benchmark.
//!
//! * [`load`]: closed-loop load generators on kernel sockets (the client side
//!   of every case), each returning a [`load::LoadResult`].
//! * [`stats`]: percentiles, engine/kernel ratios, CPU / memory / retransmit
//!   sampling from `/proc`.
//! * [`report`]: the result model (`results.json`), the Markdown table and the
//!   SVG charts.
//! * [`floor`], [`raw_client`]: the no-stack floor under the ping-pong cases.
//! * [`profile`]: `perf record` around one case's measurement, and its summary.
//! * [`fct`]: the flow-completion-time family (`--fct`): transfers of 4 KiB to 16 MiB,
//!   fresh or reused connections, under loss, engine against kernel.
//!
//! The runner that starts the servers lives in `main.rs`.
#![forbid(unsafe_code)]

pub mod engine_load;
pub mod fct;
pub mod floor;
pub mod load;
pub mod outside;
pub mod profile;
pub mod raw_client;
pub mod report;
pub mod runner;
pub mod sides;
pub mod stats;
