//! Statistics: latency percentiles and CDFs, engine/kernel ratios, and
//! resource sampling from `/proc` (CPU, memory, TCP retransmissions).

mod cpu;
mod kernel_mem;
mod memory;
mod percentiles;
mod ratio;
mod retransmits;

pub use cpu::{cpu_cores, parse_proc_stat, read_cpu_times, CpuSampler, CpuTimes, CpuUsage, USER_HZ};
pub use kernel_mem::{open_files, parse_nofile_limit, parse_slabinfo, parse_sockstat, parse_tcpext, KernelTcpMemory, SockStat, TCP_SLABS};
pub use memory::{parse_vm_rss, rss_bytes};
pub use percentiles::{cdf, CdfPoint, Percentiles, CDF_QUANTILES};
pub use ratio::{ratio, Ratio};
pub use retransmits::{parse_tcp_retrans_segs, read_tcp_retrans_segs};
