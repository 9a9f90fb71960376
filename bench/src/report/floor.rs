//! The ping-pong floor: frames bounced RX ring to TX ring with no stack, measured in the
//! same run as a latency case, and the case's round trips stated as "floor + X µs".

use super::format::fmt_number;
use super::{CaseResult, Figure};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One case's floor: who ran it, what it measured, and how far above it each side is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Floor {
    /// The floor's client, e.g. `raw AF_XDP client (no stack)`.
    pub client: String,
    /// The floor's server, e.g. `raw AF_XDP reflector (bypass run --reflect-udp 7)`.
    pub server: String,
    /// How the floor's work differs from the case's (what the difference includes).
    pub compares: String,
    /// The floor's round trips (value: p50, µs).
    pub figure: Figure,
    /// Engine p50 minus floor p50, µs (the X of "floor + X µs").
    pub engine_over_floor_us: Option<f64>,
    /// Kernel p50 minus floor p50, µs.
    pub kernel_over_floor_us: Option<f64>,
}

/// `value - floor`, when both are figures.
fn over(value: f64, floor: f64) -> Option<f64> {
    (value.is_finite() && floor.is_finite()).then(|| value - floor)
}

impl CaseResult {
    /// Adds the floor measured for this (latency) case, with each side's distance to it.
    pub fn with_floor(mut self, client: impl Into<String>, server: impl Into<String>, compares: impl Into<String>, figure: Figure) -> Self {
        self.floor = Some(Floor {
            client: client.into(),
            server: server.into(),
            compares: compares.into(),
            engine_over_floor_us: over(self.engine.value, figure.value),
            kernel_over_floor_us: over(self.kernel.value, figure.value),
            figure,
        });
        self
    }
}

/// "floor + 0.80 µs" (or "floor - 0.10 µs"), `-` without a figure.
pub fn above_floor(x: Option<f64>) -> String {
    match x {
        Some(x) if x < 0.0 => format!("floor - {} µs", fmt_number(-x)),
        Some(x) => format!("floor + {} µs", fmt_number(x)),
        None => "-".into(),
    }
}

/// The floor table: one row per case with a floor.
pub(super) fn floor_table(out: &mut String, cases: &[CaseResult]) {
    let rows: Vec<(&CaseResult, &Floor)> = cases.iter().filter_map(|c| Some((c, c.floor.as_ref()?))).collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "## The floor\n");
    let _ = writeln!(
        out,
        "Frames bounced RX ring to TX ring with no stack, 64 B of UDP payload, one in flight, measured in this run; each side's p50 round trip as floor + X.\n"
    );
    super::markdown::row(out, &["case", "floor client -> server", "floor p50 / p99", "engine p50", "kernel p50", "what the difference includes"]);
    super::markdown::row(out, &["---", "---", "---:", "---:", "---:", "---"]);
    let p = |f: &Figure| f.latency.map_or_else(|| "-".into(), |l| format!("{} / {} µs", fmt_number(l.p50), fmt_number(l.p99)));
    for (c, f) in rows {
        super::markdown::row(
            out,
            &[
                c.case.clone(),
                format!("{} -> {}", f.client, f.server),
                p(&f.figure),
                format!("{} µs = {}", fmt_number(c.engine.value), above_floor(f.engine_over_floor_us)),
                format!("{} µs = {}", fmt_number(c.kernel.value), above_floor(f.kernel_over_floor_us)),
                f.compares.clone(),
            ],
        );
    }
    out.push('\n');
}
