//! Applications that run on the worker cores on top of the stack.

pub mod http_echo;
pub mod services;
pub mod sockperf;
