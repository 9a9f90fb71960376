//! FCT rows (in `results.json`) and their Markdown table.

use serde::{Deserialize, Serialize};
use std::fmt::Write;

use super::counters::Reading;
use super::plan::{fmt_loss, fmt_size, Conn, Kind, Poll};
use super::summary::{time_ratio, FctStats, Outcomes};

/// One side's measurement of a row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FctSide {
    /// Completed transfers, summarised (None: none completed).
    pub stats: Option<FctStats>,
    /// Every completed transfer's time, ms, in run order.
    #[serde(default)]
    pub samples_ms: Vec<f64>,
    /// Failed transfers (early ends included).
    pub errors: u64,
    /// Transfers the server ended before all bytes arrived.
    pub ended_early: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// The server's counters over this row's transfers; None if they could not be read
    /// (see `counters_error`).
    #[serde(default)]
    pub counters: Option<SideCounters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters_error: Option<String>,
}

/// What the server's counters did during a row.
pub type SideCounters = Reading;

impl FctSide {
    pub fn from_outcomes(o: &Outcomes) -> FctSide {
        FctSide {
            stats: o.stats(),
            samples_ms: o.times.iter().map(|d| (d.as_secs_f64() * 1e6).round() / 1e3).collect(),
            errors: o.errors,
            ended_early: o.ended_early,
            first_error: o.first_error.clone(),
            counters: None,
            counters_error: None,
        }
    }

    /// With the counter delta (or the error that prevented reading it).
    pub fn with_counters(mut self, c: Result<SideCounters, String>) -> FctSide {
        match c {
            Ok(c) => self.counters = Some(c),
            Err(e) => self.counters_error = Some(e),
        }
        self
    }
}

/// One (kind, size, connection use, loss, queues, poll): the engine against the kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FctRow {
    pub kind: Kind,
    pub size: u64,
    pub conn: Conn,
    pub loss_pct: f64,
    pub queues: u32,
    pub poll: Poll,
    /// Engine to engine (a client engine against the server engine) against kernel to
    /// kernel; otherwise a kernel client against each server.
    #[serde(default)]
    pub e2e: bool,
    /// Transfers attempted per side.
    pub transfers: usize,
    /// Fewer transfers than asked (16 MiB at 5% loss).
    #[serde(default)]
    pub capped: bool,
    pub engine: FctSide,
    pub kernel: FctSide,
    /// Engine p50 / kernel p50 (above 1: the engine took longer).
    pub ratio_p50: Option<f64>,
    pub ratio_p99: Option<f64>,
}

impl FctRow {
    #[allow(clippy::too_many_arguments)]
    pub fn new(kind: Kind, size: u64, conn: Conn, loss_pct: f64, queues: u32, poll: Poll, e2e: bool, transfers: usize, capped: bool, engine: FctSide, kernel: FctSide) -> FctRow {
        let p = |s: &FctSide, f: fn(&FctStats) -> f64| s.stats.as_ref().map(f);
        FctRow {
            ratio_p50: time_ratio(p(&engine, |s| s.p50_ms), p(&kernel, |s| s.p50_ms)),
            ratio_p99: time_ratio(p(&engine, |s| s.p99_ms), p(&kernel, |s| s.p99_ms)),
            kind,
            size,
            conn,
            loss_pct,
            queues,
            poll,
            e2e,
            transfers,
            capped,
            engine,
            kernel,
        }
    }

    /// The kind column: `echo`, or `e2e echo` for engine-to-engine rows.
    pub fn kind_label(&self) -> String {
        if self.e2e {
            format!("e2e {}", self.kind.name())
        } else {
            self.kind.name().to_string()
        }
    }

    /// Errors on either side (early ends included).
    pub fn errors(&self) -> u64 {
        self.engine.errors + self.kernel.errors
    }
}

/// Milliseconds: three significant digits below 100, whole numbers above.
pub fn fmt_ms(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 99.95 {
        crate::report::fmt_number(v)
    } else if v >= 9.995 {
        format!("{v:.1}")
    } else if v >= 0.9995 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn times(s: &FctSide) -> String {
    s.stats.as_ref().map_or_else(|| "-".into(), |t| format!("{} / {} / {}", fmt_ms(t.p50_ms), fmt_ms(t.p99_ms), fmt_ms(t.max_ms)))
}

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

/// `engine / kernel` for a counter; `n/a` where a side has no such counter, `?` where the
/// counters could not be read.
fn pair(e: &FctSide, k: &FctSide, f: fn(&SideCounters) -> Option<u64>) -> String {
    let one = |s: &FctSide| match &s.counters {
        None => "?".to_string(),
        Some(c) => f(c).map_or_else(|| "n/a".into(), |v| v.to_string()),
    };
    format!("{} / {}", one(e), one(k))
}

fn engine_only(e: &FctSide, f: fn(&SideCounters) -> Option<u64>) -> String {
    match &e.counters {
        None => "?".into(),
        Some(c) => f(c).map_or_else(|| "n/a".into(), |v| v.to_string()),
    }
}

fn cell(out: &mut String, cells: &[String]) {
    out.push('|');
    for c in cells {
        let _ = write!(out, " {} |", c.replace('|', "\\|"));
    }
    out.push('\n');
}

/// The FCT section: the table, one row per (kind, size, conn, loss, queues, poll), then
/// the notes and first errors. Deterministic (golden-tested).
pub fn render_fct(rows: &[FctRow], notes: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Flow completion time\n");
    let head = [
        "kind", "size", "conn", "loss", "queues", "poll", "engine p50 / p99 / max ms", "kernel p50 / p99 / max ms", "engine/kernel p50", "engine/kernel p99",
        "retransmits e / k", "RTOs e / k", "spurious (D-SACK) e / k", "fill ring empty", "rx dropped", "errors e / k", "ended early e / k",
    ];
    cell(&mut out, &head.map(String::from));
    cell(&mut out, &head.map(|h| if h.contains("ms") || h.contains('/') || h.contains("empty") || h.contains("dropped") { "---:".to_string() } else { "---".to_string() }));
    for r in rows {
        let n = if r.capped { format!("{} (capped)", fmt_size(r.size)) } else { fmt_size(r.size) };
        cell(
            &mut out,
            &[
                r.kind_label(),
                n,
                r.conn.name().into(),
                fmt_loss(r.loss_pct),
                r.queues.to_string(),
                r.poll.name().into(),
                times(&r.engine),
                times(&r.kernel),
                ratio(r.ratio_p50),
                ratio(r.ratio_p99),
                pair(&r.engine, &r.kernel, |c| Some(c.retransmits)),
                pair(&r.engine, &r.kernel, |c| Some(c.rtos)),
                pair(&r.engine, &r.kernel, |c| c.dsacks),
                engine_only(&r.engine, |c| c.fill_ring_empty),
                engine_only(&r.engine, |c| c.rx_dropped),
                format!("{} / {}", r.engine.errors, r.kernel.errors),
                format!("{} / {}", r.engine.ended_early, r.kernel.ended_early),
            ],
        );
    }
    let _ = writeln!(
        out,
        "\nTimes in ms from the client's first byte (fresh: from connect) to the last byte received \
         (echo, download, http-post) or acknowledged (upload); percentiles are nearest-rank over the \
         completed transfers (with 20, p99 is the maximum). engine/kernel above 1: the engine took longer. \
         http-post times are curl's `time_total`. Counters are the server's during the row. `e2e` rows: \
         the same generator code on both sides, on a client engine against the engine server and on \
         `bypass --backend kernel` against the kernel server, same queues and polling. n/a: the server has no such counter; ?: the \
         counters could not be read (see below)."
    );
    let mut lines: Vec<String> = notes.iter().map(|n| format!("- {n}")).collect();
    for r in rows {
        let what = format!("{} {} {} at {} loss, {} queue(s), {} poll", r.kind_label(), fmt_size(r.size), r.conn.name(), fmt_loss(r.loss_pct), r.queues, r.poll.name());
        if r.capped {
            lines.push(format!("- {what}: {} transfers per side (capped at 16 MiB and 5% loss)", r.transfers));
        }
        for (side, s) in [("engine", &r.engine), ("kernel", &r.kernel)] {
            if let Some(e) = &s.first_error {
                lines.push(format!("- {what} ({side}): {} error(s), first: {}", s.errors, e.replace('\n', " ")));
            }
            if let Some(e) = &s.counters_error {
                lines.push(format!("- {what} ({side}) counters: {}", e.replace('\n', " ")));
            }
            if let Some(n) = s.counters.and_then(|c| c.no_socket).filter(|n| *n > 0) {
                lines.push(format!("- {what} ({side}): {n} frame(s) arrived on a queue without an AF_XDP socket (xdp.no_socket)"));
            }
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "\n{}", lines.join("\n"));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_format() {
        assert_eq!(fmt_ms(0.1234), "0.123");
        assert_eq!(fmt_ms(1.234), "1.23");
        assert_eq!(fmt_ms(12.34), "12.3");
        assert_eq!(fmt_ms(203.4), "203");
        assert_eq!(fmt_ms(12_345.0), "12,345");
        assert_eq!(fmt_ms(f64::NAN), "-");
    }
}
