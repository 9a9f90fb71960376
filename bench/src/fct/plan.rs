//! What an FCT run measures: the `--fct-*` options and the matrix they span.
//!
//! Dimensions that need a server restart (loss, queues, poll) make a *config*; inside a
//! config every (kind, size, connection use) is a *group* of transfers.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::loss::LossVia;
use std::time::Duration;

/// What one transfer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// N bytes to `tcp-echo:7` and the same N back, written and read concurrently.
    Echo,
    /// N bytes from `chargen:19` (pattern and count checked).
    Download,
    /// N bytes to `discard:9`, until the last byte is acknowledged (SIOCOUTQ = 0).
    Upload,
    /// An HTTP POST of N bytes to `http-echo:80` through `curl`, echoed back.
    HttpPost,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Echo, Kind::Download, Kind::Upload, Kind::HttpPost];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Download => "download",
            Kind::Upload => "upload",
            Kind::HttpPost => "http-post",
        }
    }

    /// The server port of the service it talks to.
    pub fn port(self) -> u16 {
        match self {
            Kind::Echo => 7,
            Kind::Download => 19,
            Kind::Upload => 9,
            Kind::HttpPost => 80,
        }
    }

    /// Whether the engine-side generator (engine to engine rows) does this kind.
    pub fn has_e2e(self) -> bool {
        self != Kind::HttpPost
    }

    fn parse(s: &str) -> Result<Kind, PlanError> {
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| PlanError(format!("unknown FCT kind '{s}' (echo, download, upload, http-post)")))
    }
}

/// Where each kind's service listens (the standard ports unless a test says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub echo: u16,
    pub download: u16,
    pub upload: u16,
    pub http: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports { echo: Kind::Echo.port(), download: Kind::Download.port(), upload: Kind::Upload.port(), http: Kind::HttpPost.port() }
    }
}

impl Ports {
    pub fn of(&self, k: Kind) -> u16 {
        match k {
            Kind::Echo => self.echo,
            Kind::Download => self.download,
            Kind::Upload => self.upload,
            Kind::HttpPost => self.http,
        }
    }
}

/// How transfers use connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Conn {
    /// A new connection per transfer; the time includes the connect.
    Fresh,
    /// One connection for all transfers of a group, opened before the first.
    Reused,
}

impl Conn {
    pub const ALL: [Conn; 2] = [Conn::Fresh, Conn::Reused];

    pub fn name(self) -> &'static str {
        match self {
            Conn::Fresh => "fresh",
            Conn::Reused => "reused",
        }
    }

    fn parse(s: &str) -> Result<Conn, PlanError> {
        Conn::ALL.into_iter().find(|c| c.name() == s).ok_or_else(|| PlanError(format!("unknown connection use '{s}' (fresh, reused)")))
    }
}

/// The server's poll mode (`bypass run --poll`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Poll {
    Busy,
    Adaptive,
}

impl Poll {
    pub fn name(self) -> &'static str {
        match self {
            Poll::Busy => "busy",
            Poll::Adaptive => "adaptive",
        }
    }

    fn parse(s: &str) -> Result<Poll, PlanError> {
        match s {
            "busy" => Ok(Poll::Busy),
            "adaptive" => Ok(Poll::Adaptive),
            _ => Err(PlanError(format!("unknown poll mode '{s}' (busy, adaptive)"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

/// A size: `4096`, `4k` (KiB), `1m` (MiB), `1g` (GiB); `KiB`/`MiB`/`GiB` spelled out too.
pub fn parse_size(s: &str) -> Result<u64, PlanError> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, mult) = [("kib", 1u64 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30)]
        .iter()
        .find_map(|(suf, m)| lower.strip_suffix(suf).map(|d| (d.to_string(), *m)))
        .unwrap_or((lower.clone(), 1));
    let n: u64 = digits.trim().parse().map_err(|_| PlanError(format!("'{s}' is not a size (e.g. 4k, 64k, 1m, 16m, 1000)")))?;
    let v = n.checked_mul(mult).filter(|v| *v > 0).ok_or_else(|| PlanError(format!("size '{s}' must be above 0")))?;
    Ok(v)
}

/// `4 KiB`, `16 MiB`, `1000 B`: exact binary units when they divide, else bytes.
pub fn fmt_size(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// A loss percentage as the table shows it: `0%`, `1%`, `0.5%`.
pub fn fmt_loss(pct: f64) -> String {
    format!("{}%", (pct * 1000.0).round() / 1000.0)
}

fn list<T>(s: &str, what: &str, parse: impl Fn(&str) -> Result<T, PlanError>) -> Result<Vec<T>, PlanError> {
    let v: Vec<T> = s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(parse).collect::<Result<_, _>>()?;
    if v.is_empty() {
        return Err(PlanError(format!("{what}: empty list")));
    }
    Ok(v)
}

/// The `--fct-*` options as given (None: the default of a full or a quick run).
#[derive(Debug, Clone, Default)]
pub struct FctArgs {
    pub kinds: Option<String>,
    pub sizes: Option<String>,
    pub conns: Option<String>,
    pub loss: Option<String>,
    pub queues: Option<String>,
    pub poll: Option<String>,
    pub transfers: Option<usize>,
    pub timeout_s: Option<f64>,
    /// `receiver` or `peer` (see [`super::loss`]).
    pub loss_via: Option<String>,
}

/// Transfers of a 16 MiB group at 5% loss or more, at most (each takes seconds there).
pub const CAP_16M_AT_5PCT: usize = 5;

/// One server configuration: what needs a restart (and, for loss, new iptables rules).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    pub loss_pct: f64,
    pub queues: u32,
    pub poll: Poll,
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loss {} each way, {} queue(s), {} poll", fmt_loss(self.loss_pct), self.queues, self.poll.name())
    }
}

/// One group: `transfers` transfers of one kind, size and connection use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub kind: Kind,
    pub size: u64,
    pub conn: Conn,
    pub transfers: usize,
    /// Fewer transfers than asked, because of [`CAP_16M_AT_5PCT`].
    pub capped: bool,
}

/// Everything an FCT run measures.
#[derive(Debug, Clone, PartialEq)]
pub struct FctPlan {
    pub kinds: Vec<Kind>,
    pub sizes: Vec<u64>,
    pub conns: Vec<Conn>,
    pub loss: Vec<f64>,
    pub queues: Vec<u32>,
    pub polls: Vec<Poll>,
    /// Transfers per group (before the 16 MiB / 5% cap).
    pub transfers: usize,
    /// Longest a single transfer may take before it counts as an error.
    pub timeout: Duration,
    /// Where loss is made.
    pub loss_via: LossVia,
}

impl FctPlan {
    /// The plan for `args`: a full run's defaults (every kind, 4k..16m, fresh and
    /// reused, loss 0/1/5%, 1 and 2 queues, busy and adaptive, 20 transfers, 30 s) or a
    /// quick run's (64k and 1m, no loss, 1 queue, busy, 5 transfers); any option given
    /// replaces its default.
    pub fn from_args(quick: bool, a: &FctArgs) -> Result<FctPlan, PlanError> {
        let timeout_s = a.timeout_s.unwrap_or(30.0);
        if !(0.1..=3600.0).contains(&timeout_s) {
            return Err(PlanError("--fct-timeout must be between 0.1 and 3600 s".into()));
        }
        let (sizes, loss, queues, poll, transfers) =
            if quick { ("64k,1m", "0", "1", "busy", 5) } else { ("4k,64k,1m,16m", "0,1,5", "1,2", "busy,adaptive", 20) };
        let plan = FctPlan {
            kinds: list(a.kinds.as_deref().unwrap_or("echo,download,upload,http-post"), "--fct-kinds", Kind::parse)?,
            sizes: list(a.sizes.as_deref().unwrap_or(sizes), "--fct-sizes", parse_size)?,
            conns: list(a.conns.as_deref().unwrap_or("fresh,reused"), "--fct-conns", Conn::parse)?,
            loss: list(a.loss.as_deref().unwrap_or(loss), "--fct-loss", |s| {
                s.trim_end_matches('%')
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..100.0).contains(p))
                    .ok_or_else(|| PlanError(format!("loss '{s}' is not a percentage in 0..100")))
            })?,
            queues: list(a.queues.as_deref().unwrap_or(queues), "--fct-queues", |s| {
                s.parse::<u32>().ok().filter(|q| (1..=64).contains(q)).ok_or_else(|| PlanError(format!("queues '{s}' is not a count in 1..64")))
            })?,
            polls: list(a.poll.as_deref().unwrap_or(poll), "--fct-poll", Poll::parse)?,
            transfers: a.transfers.unwrap_or(transfers),
            timeout: Duration::from_secs_f64(timeout_s),
            loss_via: LossVia::parse(a.loss_via.as_deref().unwrap_or("receiver")).map_err(PlanError)?,
        };
        if plan.transfers == 0 {
            return Err(PlanError("--fct-transfers must be at least 1".into()));
        }
        Ok(plan)
    }

    /// The configs in run order: queues outermost (changing the veth's channels is the
    /// most disruptive), then poll, then loss.
    pub fn configs(&self) -> Vec<Config> {
        let mut v = Vec::new();
        for &queues in &self.queues {
            for &poll in &self.polls {
                for &loss_pct in &self.loss {
                    v.push(Config { loss_pct, queues, poll });
                }
            }
        }
        v
    }

    /// The groups of one config, in run order (kind, then size, then connection use).
    pub fn groups(&self, c: &Config) -> Vec<Group> {
        let mut v = Vec::new();
        for &kind in &self.kinds {
            for &size in &self.sizes {
                for &conn in &self.conns {
                    let capped = size >= 16 << 20 && c.loss_pct >= 5.0 && self.transfers > CAP_16M_AT_5PCT;
                    let transfers = if capped { CAP_16M_AT_5PCT } else { self.transfers };
                    v.push(Group { kind, size, conn, transfers, capped });
                }
            }
        }
        v
    }

    /// A one-line description for the report header.
    pub fn describe(&self) -> String {
        let j = |v: Vec<String>| v.join(",");
        format!(
            "kinds {}; sizes {}; connections {}; loss {} (via {}); queues {}; poll {}; {} transfers per group (16 MiB at 5% loss or more: at most {}); timeout {} s per transfer",
            j(self.kinds.iter().map(|k| k.name().to_string()).collect()),
            j(self.sizes.iter().map(|s| fmt_size(*s)).collect()),
            j(self.conns.iter().map(|c| c.name().to_string()).collect()),
            j(self.loss.iter().map(|l| fmt_loss(*l)).collect()),
            self.loss_via.name(),
            j(self.queues.iter().map(|q| q.to_string()).collect()),
            j(self.polls.iter().map(|p| p.name().to_string()).collect()),
            self.transfers,
            CAP_16M_AT_5PCT,
            self.timeout.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size(" 1000 "), Ok(1000));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("k").is_err());
        assert!(parse_size("4x").is_err());
        assert!(parse_size("-4k").is_err());
        assert_eq!(fmt_size(4096), "4 KiB");
        assert_eq!(fmt_size(16 << 20), "16 MiB");
        assert_eq!(fmt_size(1000), "1000 B");
        assert_eq!(fmt_size(1536), "1536 B");
        assert_eq!(fmt_loss(0.0), "0%");
        assert_eq!(fmt_loss(5.0), "5%");
        assert_eq!(fmt_loss(0.5), "0.5%");
    }

    #[test]
    fn full_and_quick_defaults() {
        let full = FctPlan::from_args(false, &FctArgs::default()).unwrap();
        assert_eq!(full.kinds, Kind::ALL.to_vec());
        assert_eq!(full.sizes, vec![4096, 65536, 1 << 20, 16 << 20]);
        assert_eq!(full.conns, vec![Conn::Fresh, Conn::Reused]);
        assert_eq!(full.loss, vec![0.0, 1.0, 5.0]);
        assert_eq!(full.queues, vec![1, 2]);
        assert_eq!(full.polls, vec![Poll::Busy, Poll::Adaptive]);
        assert_eq!((full.transfers, full.timeout, full.loss_via), (20, Duration::from_secs(30), LossVia::Receiver));
        assert_eq!(full.configs().len(), 12);
        let quick = FctPlan::from_args(true, &FctArgs::default()).unwrap();
        assert_eq!((quick.sizes.clone(), quick.loss.clone(), quick.queues.clone(), quick.polls.clone()), (vec![65536, 1 << 20], vec![0.0], vec![1], vec![Poll::Busy]));
        assert_eq!(quick.transfers, 5);
    }

    #[test]
    fn options_narrow_the_matrix() {
        let a = FctArgs {
            kinds: Some("upload,http-post".into()),
            sizes: Some("4k, 16m".into()),
            conns: Some("reused".into()),
            loss: Some("0,5%".into()),
            queues: Some("2".into()),
            poll: Some("adaptive".into()),
            transfers: Some(7),
            timeout_s: Some(2.5),
            loss_via: Some("peer".into()),
        };
        let p = FctPlan::from_args(false, &a).unwrap();
        assert_eq!(p.kinds, vec![Kind::Upload, Kind::HttpPost]);
        assert_eq!(p.sizes, vec![4096, 16 << 20]);
        assert_eq!(p.conns, vec![Conn::Reused]);
        assert_eq!(p.loss, vec![0.0, 5.0]);
        assert_eq!((p.queues.clone(), p.polls.clone(), p.transfers), (vec![2], vec![Poll::Adaptive], 7));
        assert_eq!((p.timeout, p.loss_via), (Duration::from_millis(2500), LossVia::Peer));
        let c = p.configs();
        assert_eq!(c, vec![Config { loss_pct: 0.0, queues: 2, poll: Poll::Adaptive }, Config { loss_pct: 5.0, queues: 2, poll: Poll::Adaptive }]);
        // 16 MiB at 5% is capped to 5 transfers, nothing else.
        let g = p.groups(&c[1]);
        assert_eq!(g.len(), 4);
        assert_eq!(g[0], Group { kind: Kind::Upload, size: 4096, conn: Conn::Reused, transfers: 7, capped: false });
        assert_eq!(g[1], Group { kind: Kind::Upload, size: 16 << 20, conn: Conn::Reused, transfers: 5, capped: true });
        assert!(p.groups(&c[0]).iter().all(|g| g.transfers == 7 && !g.capped));
        assert_eq!(c[1].to_string(), "loss 5% each way, 2 queue(s), adaptive poll");
    }

    #[test]
    fn bad_options_are_errors() {
        let bad = |f: fn(&mut FctArgs)| {
            let mut a = FctArgs::default();
            f(&mut a);
            FctPlan::from_args(false, &a).unwrap_err().0
        };
        assert!(bad(|a| a.kinds = Some("echo,ftp".into())).contains("ftp"));
        assert!(bad(|a| a.sizes = Some("".into())).contains("empty"));
        assert!(bad(|a| a.loss = Some("100".into())).contains("percentage"));
        assert!(bad(|a| a.queues = Some("0".into())).contains("queues"));
        assert!(bad(|a| a.poll = Some("spin".into())).contains("spin"));
        assert!(bad(|a| a.conns = Some("pooled".into())).contains("pooled"));
        assert!(bad(|a| a.transfers = Some(0)).contains("at least 1"));
        assert!(bad(|a| a.timeout_s = Some(0.0)).contains("timeout"));
        assert!(bad(|a| a.timeout_s = Some(-1.0)).contains("timeout"));
        assert!(bad(|a| a.timeout_s = Some(f64::NAN)).contains("timeout"));
        assert!(bad(|a| a.loss_via = Some("wire".into())).contains("wire"));
    }

    #[test]
    fn small_transfer_counts_are_not_capped() {
        let a = FctArgs { transfers: Some(3), loss: Some("5".into()), ..FctArgs::default() };
        let p = FctPlan::from_args(false, &a).unwrap();
        assert!(p.groups(&p.configs()[0]).iter().all(|g| g.transfers == 3 && !g.capped));
    }
}
