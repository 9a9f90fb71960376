//! The result model written to `results.json`, and writing a run's output
//! directory: `results.json`, `results.md`, one latency CDF SVG per case and
//! an SVG bar chart of engine/kernel ratios.

mod charts;
mod floor;
mod endpoint;
mod format;
mod markdown;
mod run_dir;

pub use charts::{latency_cdf_svg, ratio_bars_svg};
pub use floor::{above_floor, Floor};
pub use endpoint::{render_endpoints, Endpoint};
pub use format::{fmt_bytes, fmt_cores, fmt_number, slug};
pub use markdown::render_markdown;
pub use run_dir::run_dir_name;

use crate::load::LoadResult;
use crate::stats::{cdf, ratio, CdfPoint, Percentiles, Ratio};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One side's measurement of a case (engine, kernel, or nginx).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// The case's figure, in the case's unit (NaN when the side failed: `null` in JSON).
    #[serde(deserialize_with = "null_as_nan")]
    pub value: f64,
    /// Latency percentiles in microseconds, where latency applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Percentiles>,
    /// Latency CDF in microseconds, for the chart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cdf: Vec<CdfPoint>,
    /// Server CPU in cores (1.0 = one core busy) during the measurement.
    #[serde(default)]
    pub cpu_server: Option<f64>,
    /// Load generator CPU in cores.
    #[serde(default)]
    pub cpu_client: Option<f64>,
    /// Errors seen by the load generator.
    #[serde(default)]
    pub errors: u64,
    /// Datagrams lost (UDP).
    #[serde(default)]
    pub lost: u64,
    /// TCP segments retransmitted during the measurement.
    #[serde(default)]
    pub retransmits: Option<u64>,
    /// Server resident memory in bytes (idle-connections case).
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// The first error message, for diagnosis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// The idle-connection ramp's details (that case only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<IdleRamp>,
    /// What answered: stack, program, polling, command, cores, MTU, queues, TCP settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Endpoint>,
    /// What generated the load, described the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<Endpoint>,
}

/// serde_json writes NaN as `null`; read it back as NaN, so a run with a failed side
/// still loads.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// What the idle-connection ramp reached on one side: connections opened by a client
/// engine (many source addresses) until the target, a failure, a stall or the memory
/// budget; the server's memory for them; a ping-pong on one more connection before the
/// ramp and while they are held.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdleRamp {
    /// Connections asked for.
    pub target: u64,
    /// Established and still open when measured (the case's value).
    pub held: u64,
    /// Connection attempts that failed (refused, reset, timed out), and established
    /// connections that closed while held.
    pub failed: u64,
    pub lost: u64,
    /// From the first SYN to the last connection established, seconds, and the rate.
    pub open_seconds: f64,
    pub open_per_second: f64,
    /// Why the ramp ended.
    pub stopped: String,
    /// How memory was measured, the increase, and per held connection.
    pub memory_method: String,
    pub memory_delta_bytes: Option<i64>,
    pub bytes_per_connection: Option<f64>,
    /// Parts of the increase (kernel: each slab cache, sockstat pages, server RSS).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub memory_parts: BTreeMap<String, i64>,
    /// Connections the server process accepted (kernel: its socket descriptors), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_accepted: Option<u64>,
    /// 64 B ping-pong round trips on one extra connection, µs: with no other connection
    /// open, then with the ramp's connections held.
    pub pingpong_alone: Option<Percentiles>,
    pub pingpong_held: Option<Percentiles>,
}

impl Figure {
    /// A figure with just a value.
    pub fn value(value: f64) -> Self {
        Figure { value, ..Figure::default() }
    }

    /// `value` with the latency, CDF, errors and losses of a load result.
    /// CPU, retransmits and memory are left for the runner to fill in.
    pub fn from_load(value: f64, r: &LoadResult) -> Self {
        Figure {
            value,
            latency: r.percentiles(),
            cdf: r.histogram.as_ref().map(cdf).unwrap_or_default(),
            errors: r.errors,
            lost: r.lost,
            first_error: r.first_error.clone(),
            ..Figure::default()
        }
    }
}

/// A reference server's figure and the engine's ratio to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// What ran, e.g. `nginx` or `raw AF_XDP`.
    pub name: String,
    pub figure: Figure,
    /// Engine vs this reference.
    pub ratio: Option<Ratio>,
}

/// One case measured on both stacks (and optionally a reference server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Case name, e.g. `http-keepalive-32`.
    pub case: String,
    /// What the value measures, e.g. `requests/s`.
    pub metric: String,
    /// Unit of the value, e.g. `req/s`, `Gbit/s`, `µs`.
    pub unit: String,
    pub higher_is_better: bool,
    pub engine: Figure,
    pub kernel: Figure,
    /// A third server measured in the same run as a reference (nginx for HTTP, the raw
    /// AF_XDP reflector for UDP echo, a blocking kernel server for blocking ping-pong).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    /// Engine vs kernel, computed from the two values of this run.
    pub ratio: Option<Ratio>,
    /// Ping-pong cases: the no-stack floor measured in the same run, and each side's
    /// p50 above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Floor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl CaseResult {
    /// A case with its engine/kernel ratio computed.
    pub fn new(
        case: impl Into<String>,
        metric: impl Into<String>,
        unit: impl Into<String>,
        higher_is_better: bool,
        engine: Figure,
        kernel: Figure,
    ) -> Self {
        let ratio = ratio(engine.value, kernel.value, higher_is_better);
        CaseResult {
            case: case.into(),
            metric: metric.into(),
            unit: unit.into(),
            higher_is_better,
            engine,
            kernel,
            reference: None,
            ratio,
            floor: None,
            notes: None,
        }
    }

    /// Adds a reference server's figure and the engine/reference ratio.
    pub fn with_reference(mut self, name: impl Into<String>, figure: Figure) -> Self {
        let ratio = ratio(self.engine.value, figure.value, self.higher_is_better);
        self.reference = Some(Reference { name: name.into(), figure, ratio });
        self
    }

    /// Adds a free-text note (shown under the table).
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes = Some(note.into());
        self
    }

    /// The sides that ran, with their names: engine, kernel, the reference, the floor.
    pub fn sides(&self) -> Vec<(&str, &Figure)> {
        let mut v = vec![("engine", &self.engine), ("kernel", &self.kernel)];
        if let Some(r) = &self.reference {
            v.push((r.name.as_str(), &r.figure));
        }
        if let Some(f) = &self.floor {
            v.push(("floor", &f.figure));
        }
        v
    }
}

/// A whole run: what `results.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Run name, also the output directory name (see [`run_dir_name`]).
    pub run: String,
    /// Start of the run, seconds since the Unix epoch.
    pub started_unix: u64,
    /// Free-form facts about the run (kernel, CPU, git revision, durations).
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    pub cases: Vec<CaseResult>,
    /// Flow-completion-time rows (`--fct`, or the short family of `--quick`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fct: Vec<crate::fct::FctRow>,
    /// Notes on the FCT family (plan, how loss was made, first errors are in the rows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fct_notes: Vec<String>,
}

/// File name of the ratio bar chart in a run directory.
pub const RATIOS_SVG: &str = "ratios.svg";

/// File name of the latency CDF chart of `case` in a run directory.
pub fn latency_svg_name(case: &str) -> String {
    format!("latency-{}.svg", slug(case))
}

impl Report {
    /// An empty report for a run started at `started_unix`.
    pub fn new(started_unix: u64) -> Self {
        Report { run: run_dir_name(started_unix), started_unix, meta: BTreeMap::new(), cases: Vec::new(), fct: Vec::new(), fct_notes: Vec::new() }
    }

    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    pub fn from_json(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }

    /// Writes everything into `root/<run>/` (created) and returns that path.
    pub fn write_under(&self, root: &Path) -> anyhow::Result<PathBuf> {
        let dir = root.join(&self.run);
        self.write_into(&dir)?;
        Ok(dir)
    }

    /// Writes `results.json`, `results.md`, `latency-<case>.svg` for every case
    /// with latency data, and `ratios.svg` (if any ratio exists) into `dir`.
    pub fn write_into(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("results.json"), self.to_json()? + "\n")?;
        std::fs::write(dir.join("results.md"), render_markdown(self))?;
        for case in &self.cases {
            if let Some(svg) = latency_cdf_svg(case)? {
                std::fs::write(dir.join(latency_svg_name(&case.case)), svg)?;
            }
        }
        if let Some(svg) = ratio_bars_svg(&self.cases)? {
            std::fs::write(dir.join(RATIOS_SVG), svg)?;
        }
        Ok(())
    }
}
