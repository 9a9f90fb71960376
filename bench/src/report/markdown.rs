//! The Markdown report: the main comparison table, a resources table, notes,
//! first errors and links to the charts.

use super::format::{fmt_bytes, fmt_cores, fmt_number};
use super::{latency_svg_name, CaseResult, Figure, Report, RATIOS_SVG};
use std::fmt::Write;

/// Renders `report` as Markdown (deterministic: golden-tested).
pub fn render_markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# bypass vs Linux kernel: run {}\n", r.run);
    for (k, v) in &r.meta {
        let _ = writeln!(out, "- {k}: {v}");
    }
    if !r.meta.is_empty() {
        out.push('\n');
    }
    if !r.cases.is_empty() {
        main_table(&mut out, &r.cases);
        super::floor::floor_table(&mut out, &r.cases);
        resources_table(&mut out, &r.cases);
        idle_table(&mut out, &r.cases);
        notes(&mut out, &r.cases);
        endpoints(&mut out, &r.cases);
        charts(&mut out, &r.cases);
    }
    if !r.fct.is_empty() {
        out.push_str(&crate::fct::render_fct(&r.fct, &r.fct_notes));
    }
    out
}

fn endpoints(out: &mut String, cases: &[CaseResult]) {
    let ends: Vec<_> = cases
        .iter()
        .flat_map(|c| c.sides().into_iter().map(move |(side, f)| (c.case.clone(), side.to_string(), f.server.clone(), f.client.clone())))
        .collect();
    let md = super::render_endpoints(&ends);
    if !md.is_empty() {
        let _ = writeln!(out, "{md}");
    }
}

fn main_table(out: &mut String, cases: &[CaseResult]) {
    let reference = cases.iter().any(|c| c.reference.is_some());
    let mut head = vec!["case", "metric", "engine", "kernel", "ratio"];
    let mut align = vec!["---", "---", "---:", "---:", "---"];
    if reference {
        head.extend(["reference", "engine vs reference"]);
        align.extend(["---:", "---"]);
    }
    head.extend(["engine p50 / p99", "kernel p50 / p99", "errors (engine / kernel)"]);
    align.extend(["---:", "---:", "---:"]);
    row(out, &head);
    row(out, &align);
    for c in cases {
        let value = |f: &Figure| format!("{} {}", fmt_number(f.value), c.unit);
        let mut cells = vec![
            c.case.clone(),
            c.metric.clone(),
            value(&c.engine),
            value(&c.kernel),
            c.ratio.map_or_else(|| "n/a".into(), |r| r.label()),
        ];
        if reference {
            cells.push(c.reference.as_ref().map_or_else(|| "-".into(), |r| format!("{}: {}", r.name, value(&r.figure))));
            cells.push(c.reference.as_ref().and_then(|r| r.ratio).map_or_else(|| "-".into(), |r| r.label()));
        }
        cells.push(p50_p99(&c.engine));
        cells.push(p50_p99(&c.kernel));
        cells.push(format!("{} / {}", c.engine.errors + c.engine.lost, c.kernel.errors + c.kernel.lost));
        row(out, &cells);
    }
    out.push('\n');
}

fn resources_table(out: &mut String, cases: &[CaseResult]) {
    let _ = writeln!(out, "## Resources\n");
    row(out, &["case", "engine CPU server / client", "kernel CPU server / client", "retransmits (engine / kernel)", "engine memory", "kernel memory"]);
    row(out, &["---", "---:", "---:", "---:", "---:", "---:"]);
    for c in cases {
        let cpu = |f: &Figure| format!("{} / {}", fmt_cores(f.cpu_server), fmt_cores(f.cpu_client));
        let retx = |f: &Figure| f.retransmits.map_or_else(|| "-".into(), |n| n.to_string());
        row(
            out,
            &[
                c.case.clone(),
                cpu(&c.engine),
                cpu(&c.kernel),
                format!("{} / {}", retx(&c.engine), retx(&c.kernel)),
                fmt_bytes(c.engine.memory_bytes),
                fmt_bytes(c.kernel.memory_bytes),
            ],
        );
    }
    let _ = writeln!(out, "\nCPU in cores (1.00 = one core busy); latency in µs; errors include lost datagrams.\n");
}

/// The idle-connection ramp, one row per side that ran it.
fn idle_table(out: &mut String, cases: &[CaseResult]) {
    let rows: Vec<(&str, &super::IdleRamp)> = cases.iter().flat_map(|c| c.sides()).filter_map(|(side, f)| Some((side, f.idle.as_ref()?))).collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Idle connections
");
    row(out, &["side", "held / target", "opened in", "memory per connection", "ping-pong p50 / p99 alone", "with them held", "stopped because"]);
    row(out, &["---", "---:", "---:", "---:", "---:", "---:", "---"]);
    let pp = |p: &Option<crate::stats::Percentiles>| p.map_or_else(|| "-".into(), |p| format!("{} / {} µs", fmt_number(p.p50), fmt_number(p.p99)));
    for (side, i) in rows {
        let per = i.bytes_per_connection.map_or_else(|| "-".into(), |b| format!("{} B ({})", fmt_number(b), i.memory_method));
        row(
            out,
            &[
                side.to_string(),
                format!("{} / {}", fmt_number(i.held as f64), fmt_number(i.target as f64)),
                format!("{:.1} s ({} conn/s)", i.open_seconds, fmt_number(i.open_per_second)),
                per,
                pp(&i.pingpong_alone),
                pp(&i.pingpong_held),
                i.stopped.clone(),
            ],
        );
    }
    out.push('\n');
}

fn notes(out: &mut String, cases: &[CaseResult]) {
    let mut lines = Vec::new();
    for c in cases {
        if let Some(n) = &c.notes {
            lines.push(format!("- {}: {}", c.case, n));
        }
        for (side, f) in c.sides() {
            if let Some(e) = &f.first_error {
                lines.push(format!("- {} ({side}) first error: {}", c.case, e.replace('\n', " ")));
            }
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "## Notes\n\n{}\n", lines.join("\n"));
    }
}

fn charts(out: &mut String, cases: &[CaseResult]) {
    let _ = writeln!(out, "## Charts\n");
    if cases.iter().any(|c| c.ratio.is_some()) {
        let _ = writeln!(out, "![engine vs kernel]({RATIOS_SVG})\n");
    }
    for c in cases.iter().filter(|c| c.sides().iter().any(|(_, f)| !f.cdf.is_empty())) {
        let _ = writeln!(out, "![{} latency]({})\n", c.case, latency_svg_name(&c.case));
    }
}

fn p50_p99(f: &Figure) -> String {
    f.latency.map_or_else(|| "-".into(), |p| format!("{} / {} µs", fmt_number(p.p50), fmt_number(p.p99)))
}

pub(super) fn row<S: AsRef<str>>(out: &mut String, cells: &[S]) {
    out.push('|');
    for c in cells {
        let _ = write!(out, " {} |", c.as_ref().replace('|', "\\|"));
    }
    out.push('\n');
}
