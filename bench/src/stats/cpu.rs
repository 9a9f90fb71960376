//! CPU usage from `/proc/<pid>/stat`: user + system time of a process (all
//! its threads) over a wall-clock interval, in cores (1.0 = one core busy).

use std::io;
use std::time::Instant;

/// Clock ticks per second of `/proc` times (`USER_HZ`, 100 on every Linux
/// architecture the benchmark targets; `getconf CLK_TCK`).
pub const USER_HZ: f64 = 100.0;

/// Cumulative CPU time of a process, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    pub user_ticks: u64,
    pub system_ticks: u64,
}

impl CpuTimes {
    fn add(self, o: CpuTimes) -> CpuTimes {
        CpuTimes { user_ticks: self.user_ticks + o.user_ticks, system_ticks: self.system_ticks + o.system_ticks }
    }
}

/// Parses `utime` and `stime` (fields 14 and 15) from the text of
/// `/proc/<pid>/stat`; the command name may hold spaces and parentheses.
pub fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let after_comm = &text[text.rfind(')')? + 1..];
    // after_comm starts at field 3 (state): utime is field 14, stime 15.
    let mut fields = after_comm.split_whitespace().skip(11);
    let user_ticks = fields.next()?.parse().ok()?;
    let system_ticks = fields.next()?.parse().ok()?;
    Some(CpuTimes { user_ticks, system_ticks })
}

/// Reads the CPU times of `pid`, or of this process for `None`.
pub fn read_cpu_times(pid: Option<u32>) -> io::Result<CpuTimes> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(&path)?;
    parse_proc_stat(&text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("cannot parse {path}")))
}

/// Cores used between two samples `wall_seconds` apart.
pub fn cpu_cores(before: CpuTimes, after: CpuTimes, wall_seconds: f64) -> f64 {
    if wall_seconds <= 0.0 {
        return 0.0;
    }
    let ticks = (after.user_ticks + after.system_ticks).saturating_sub(before.user_ticks + before.system_ticks);
    ticks as f64 / USER_HZ / wall_seconds
}

/// CPU used over an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUsage {
    /// Average cores busy (user + system) over the interval.
    pub cores: f64,
    pub user_seconds: f64,
    pub system_seconds: f64,
    pub wall_seconds: f64,
}

/// Measures the CPU of one or more processes (summed, e.g. a server and its
/// workers) from `start` to `finish`.
#[derive(Debug, Clone)]
pub struct CpuSampler {
    pids: Vec<Option<u32>>,
    before: CpuTimes,
    started: Instant,
}

impl CpuSampler {
    /// Starts measuring this process.
    pub fn this_process() -> io::Result<Self> {
        Self::start(vec![None])
    }

    /// Starts measuring process `pid`.
    pub fn for_pid(pid: u32) -> io::Result<Self> {
        Self::start(vec![Some(pid)])
    }

    /// Starts measuring the sum of several processes.
    pub fn for_pids(pids: &[u32]) -> io::Result<Self> {
        Self::start(pids.iter().map(|&p| Some(p)).collect())
    }

    fn start(pids: Vec<Option<u32>>) -> io::Result<Self> {
        let before = Self::read(&pids)?;
        Ok(CpuSampler { pids, before, started: Instant::now() })
    }

    fn read(pids: &[Option<u32>]) -> io::Result<CpuTimes> {
        pids.iter().try_fold(CpuTimes::default(), |acc, &p| Ok(acc.add(read_cpu_times(p)?)))
    }

    /// CPU used since the sampler started.
    pub fn finish(&self) -> io::Result<CpuUsage> {
        let after = Self::read(&self.pids)?;
        let wall_seconds = self.started.elapsed().as_secs_f64();
        Ok(CpuUsage {
            cores: cpu_cores(self.before, after, wall_seconds),
            user_seconds: after.user_ticks.saturating_sub(self.before.user_ticks) as f64 / USER_HZ,
            system_seconds: after.system_ticks.saturating_sub(self.before.system_ticks) as f64 / USER_HZ,
            wall_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_comm() {
        let text = "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    750 250 0 0 20 0 3 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_proc_stat(text), Some(CpuTimes { user_ticks: 750, system_ticks: 250 }));
        assert_eq!(parse_proc_stat("12 (x) S 1 2"), None);
    }

    #[test]
    fn cores_from_tick_deltas() {
        let a = CpuTimes { user_ticks: 1000, system_ticks: 500 };
        let b = CpuTimes { user_ticks: 1150, system_ticks: 550 };
        // 200 ticks = 2 s of CPU over 2 s of wall time: one core.
        assert!((cpu_cores(a, b, 2.0) - 1.0).abs() < 1e-12);
        assert!((cpu_cores(a, b, 4.0) - 0.5).abs() < 1e-12);
        assert_eq!(cpu_cores(a, b, 0.0), 0.0);
        assert_eq!(cpu_cores(b, a, 1.0), 0.0);
    }

    #[test]
    fn samples_this_process_spinning() {
        let s = CpuSampler::this_process().unwrap();
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 300 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let u = s.finish().unwrap();
        assert!(u.cores > 0.3 && u.cores < 4.0, "{u:?}");
        assert!(u.wall_seconds >= 0.3);
        let p = read_cpu_times(Some(std::process::id())).unwrap();
        assert!(p.user_ticks + p.system_ticks > 0);
    }
}
