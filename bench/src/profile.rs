//! `--profile CASE` (scripts/profile): `perf record -g` on the server's CPU while one
//! side of a case is measured, and a summary written next to the results:
//! `profile-<case>-<side>.txt` (samples, kernel vs user split, self % by command, top
//! symbols by self %) beside the recording `perf-<case>-<side>.data`.
//!
//! The recording covers every sample on the server's pinned CPU, whoever ran it: the
//! server, and the kernel work the traffic causes there (softirqs included), over the
//! warm-up and the measured window.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::report::slug;

/// Symbols listed in a summary.
pub const TOP: usize = 30;

/// Whether `perf` runs here; the error says how to get it.
pub fn check_perf() -> Result<()> {
    match Command::new("perf").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => Ok(()),
        _ => bail!("perf is not installed: install it with `apt-get install linux-perf` (scripts/deps.sh does)"),
    }
}

/// A running `perf record`.
pub struct Recording {
    child: Child,
    data: PathBuf,
    summary: PathBuf,
    title: String,
    cpu: usize,
}

impl Recording {
    /// Starts recording CPU `cpu` into `dir/perf-<case>-<side>.data`.
    pub fn start(dir: &Path, case: &str, side: &str, cpu: usize) -> Result<Recording> {
        let stem = format!("{}-{}", slug(case), slug(side));
        let data = dir.join(format!("perf-{stem}.data"));
        let summary = dir.join(format!("profile-{stem}.txt"));
        let mut child = Command::new("perf")
            .args(["record", "-g", "-q", "-C", &cpu.to_string(), "-o"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting perf record")?;
        // perf opens its events before it records anything: give it that time.
        std::thread::sleep(Duration::from_millis(500));
        if let Some(status) = child.try_wait()? {
            let err = child.stderr.take().map(|mut e| {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut e, &mut s);
                s
            });
            bail!("perf record exited at once ({status}): {}", err.unwrap_or_default().trim());
        }
        Ok(Recording { child, data, summary, title: format!("case {case}, {side} side"), cpu })
    }

    /// Stops the recording and writes the summary; returns its path.
    pub fn finish(self) -> Result<PathBuf> {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let out = self.child.wait_with_output().context("waiting for perf record")?;
        if !self.data.exists() {
            bail!("perf record wrote nothing: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let report = |sort: &str| -> Result<String> {
            let o = Command::new("perf")
                .args(["report", "--stdio", "--no-children", "-g", "none", "--percent-limit", "0", "--sort", sort, "-i"])
                .arg(&self.data)
                .stderr(Stdio::null())
                .output()
                .context("running perf report")?;
            if !o.status.success() {
                bail!("perf report --sort {sort} failed on {}", self.data.display());
            }
            Ok(String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let symbols = parse_report(&report("sym")?);
        let comms = parse_report(&report("comm")?);
        let file = self.data.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let how = format!(
            "perf record -g -C {} -o {file}: every sample on CPU {}, the server's, whoever ran it, over the warm-up and the measurement",
            self.cpu, self.cpu
        );
        std::fs::write(&self.summary, render(&self.title, &how, &symbols, &comms, TOP)).with_context(|| format!("writing {}", self.summary.display()))?;
        Ok(self.summary)
    }
}

/// One row of `perf report --stdio`: self %, the `[k]`/`[.]` marker for `--sort sym`
/// (empty otherwise), and the name.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub percent: f64,
    pub marker: String,
    pub name: String,
}

/// What `perf report --stdio` printed: its rows, and the header's sample count and event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub samples: Option<u64>,
    pub event: Option<String>,
    pub rows: Vec<Row>,
}

/// Parses `perf report --stdio --no-children -g none` output.
pub fn parse_report(text: &str) -> Parsed {
    let mut p = Parsed::default();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("# Samples:") {
            // "# Samples: 148  of event 'cpu-clock:pppH'"
            let mut words = rest.split_whitespace();
            p.samples = words.next().and_then(|n| parse_count(n));
            p.event = rest.split('\'').nth(1).map(str::to_string);
            continue;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let Some((pct, rest)) = t.split_once('%') else { continue };
        let Ok(percent) = pct.trim().parse::<f64>() else { continue };
        let rest = rest.trim();
        let (marker, name) = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((m, n)) if m.len() == 1 => (m.to_string(), n.trim().to_string()),
            _ => (String::new(), rest.to_string()),
        };
        p.rows.push(Row { percent, marker, name });
    }
    p
}

/// perf prints large counts as `27K` in some versions.
fn parse_count(s: &str) -> Option<u64> {
    match s.strip_suffix('K') {
        Some(k) => k.parse::<u64>().ok().map(|n| n * 1000),
        None => s.parse().ok(),
    }
}

/// Shares of the samples in the kernel (`[k]` rows) and in user space (the rest), from
/// `--sort sym`, in percent of their sum (perf's rounded rows need not add up to 100).
pub fn kernel_user_split(symbols: &Parsed) -> (f64, f64) {
    let kernel: f64 = symbols.rows.iter().filter(|r| r.marker == "k").map(|r| r.percent).sum();
    let user: f64 = symbols.rows.iter().filter(|r| r.marker != "k").map(|r| r.percent).sum();
    let total = kernel + user;
    if total > 0.0 {
        (kernel * 100.0 / total, user * 100.0 / total)
    } else {
        (0.0, 0.0)
    }
}

/// Commands listed by name in a summary; the rest are summed in one line.
pub const TOP_COMMANDS: usize = 8;

/// The summary text.
pub fn render(title: &str, how: &str, symbols: &Parsed, comms: &Parsed, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "perf profile: {title}");
    let _ = writeln!(out, "recorded: {how}");
    let samples = symbols.samples.map_or_else(|| "unknown".into(), |n| n.to_string());
    let _ = writeln!(out, "samples: {samples} ({})", symbols.event.as_deref().unwrap_or("event unknown"));
    let (k, u) = kernel_user_split(symbols);
    let _ = writeln!(out, "\nkernel {k:.1}%, user {u:.1}%  (of all samples: [k] symbols vs the rest)");
    let _ = writeln!(out, "\nby command (self %):");
    for r in comms.rows.iter().take(TOP_COMMANDS) {
        let _ = writeln!(out, "  {:>6.2}%  {}", r.percent, r.name);
    }
    if comms.rows.len() > TOP_COMMANDS {
        let rest = &comms.rows[TOP_COMMANDS..];
        let _ = writeln!(out, "  {:>6.2}%  {} other commands", rest.iter().map(|r| r.percent).sum::<f64>(), rest.len());
    }
    let _ = writeln!(out, "\ntop {} symbols by self % ([k] kernel, [.] user):", top.min(symbols.rows.len()));
    for r in symbols.rows.iter().take(top) {
        let _ = writeln!(out, "  {:>6.2}%  [{}] {}", r.percent, if r.marker.is_empty() { "?" } else { &r.marker }, r.name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYMS: &str = "# To display the perf.data header info, please use --header/--header-only options.
#
# Total Lost Samples: 0
#
# Samples: 148  of event 'cpu-clock:pppH'
# Event count (approx.): 37000000
#
# Overhead  Symbol
# ........  .....................................
#
     8.11%  [.] __strchr_evex
     4.05%  [k] _raw_spin_lock
     2.70%  [.] <bypass::tcp::Tcb as core::ops::Drop>::drop
     1.35%  [k] 0xffffffff81000000

";

    #[test]
    fn parses_rows_header_and_split() {
        let p = parse_report(SYMS);
        assert_eq!(p.samples, Some(148));
        assert_eq!(p.event.as_deref(), Some("cpu-clock:pppH"));
        assert_eq!(p.rows.len(), 4);
        assert_eq!(p.rows[2], Row { percent: 2.70, marker: ".".into(), name: "<bypass::tcp::Tcb as core::ops::Drop>::drop".into() });
        let (k, u) = kernel_user_split(&p);
        assert!((k - 5.40 * 100.0 / 16.21).abs() < 1e-9 && (k + u - 100.0).abs() < 1e-9, "{k} {u}");
        let comms = parse_report("# Samples: 27K of event 'cpu-clock'\n    61.00%  bypass-w0\n    39.00%  swapper\n");
        assert_eq!(comms.samples, Some(27_000));
        assert_eq!(comms.rows[1], Row { percent: 39.0, marker: String::new(), name: "swapper".into() });
    }

    #[test]
    fn summary_lists_split_commands_and_top_symbols() {
        let mut comms = parse_report("    61.00%  bypass-w0\n    39.00%  swapper\n");
        let s = render("case x, engine side", "perf record -g -C 1", &parse_report(SYMS), &comms, 2);
        assert!(s.contains("samples: 148 (cpu-clock:pppH)"), "{s}");
        assert!(s.contains("kernel 33.3%, user 66.7%"), "{s}");
        assert!(s.contains("   61.00%  bypass-w0"), "{s}");
        assert!(s.contains("top 2 symbols") && s.contains("[k] _raw_spin_lock") && !s.contains("Drop"), "{s}");
        assert!(!s.contains("other commands"), "{s}");
        // Past the first few commands, the rest is one line.
        comms.rows = (0..TOP_COMMANDS + 3).map(|i| Row { percent: 1.5, marker: String::new(), name: format!("c{i}") }).collect();
        let s = render("t", "h", &parse_report(SYMS), &comms, 2);
        assert!(s.contains(&format!("c{}", TOP_COMMANDS - 1)) && !s.contains(&format!("c{}", TOP_COMMANDS)), "{s}");
        assert!(s.contains("    4.50%  3 other commands"), "{s}");
    }
}
