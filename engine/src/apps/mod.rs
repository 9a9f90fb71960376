//! Applications that run on the worker cores on top of the stack.

pub mod http_echo;
pub mod iperf3;
pub mod services;
pub mod sockperf;
