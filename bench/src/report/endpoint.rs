//! One end of a measurement as `results.json` records it (each figure's `server` and
//! `client`): which stack, what program and how it waits for work, the command, cores,
//! MTU, queues and the TCP settings in effect; and the Markdown tables that list each
//! distinct end once, with the cases that used it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One end (server or client) of one side of a case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `engine` (AF_XDP, the bypass stack) or `kernel` (Linux sockets).
    pub stack: String,
    /// What runs: the server's services, or the client's load generator.
    pub program: String,
    /// How it waits for work: `busy` (spins), `epoll_wait, sleeping`, `blocking reads`...
    pub poll: String,
    /// The command line (an in-process client engine: its `bypass run` arguments).
    pub command: String,
    /// The CPUs it is pinned to, e.g. `1`.
    pub cores: String,
    /// Threads (or engine workers) doing the work.
    pub threads: usize,
    /// The interface's MTU.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Engine: AF_XDP queues served; kernel: the interface's rx channels.
    #[serde(default)]
    pub queues: Option<u32>,
    /// The TCP settings in effect as the stack reported them (engine: its configuration;
    /// kernel: read back from a socket configured the same way), `key -> value`.
    #[serde(default)]
    pub tcp: BTreeMap<String, String>,
}

impl Endpoint {
    /// The TCP settings as one `k=v k=v` string.
    pub fn tcp_line(&self) -> String {
        self.tcp.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }
}

fn cell(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.replace('|', "\\|")
    }
}

/// The "who ran what" section: for servers and for clients, one row per distinct
/// endpoint (stack, program, poll, cores, threads, MTU, queues, TCP settings) with the
/// cases and sides that used it; the TCP settings are numbered once in their own table.
/// `ends` holds (case, side name, server, client).
pub fn render_endpoints(ends: &[(String, String, Option<Endpoint>, Option<Endpoint>)]) -> String {
    if ends.iter().all(|(_, _, s, c)| s.is_none() && c.is_none()) {
        return String::new();
    }
    let mut tcp_sets: Vec<String> = Vec::new();
    let mut tcp_id = |e: &Endpoint| {
        let l = e.tcp_line();
        if l.is_empty() {
            return "-".to_string();
        }
        let i = tcp_sets.iter().position(|x| *x == l).unwrap_or_else(|| {
            tcp_sets.push(l);
            tcp_sets.len() - 1
        });
        format!("T{}", i + 1)
    };
    let mut out = String::from("## Who ran what\n\nEach distinct server and client, with the cases and sides that used it (commands in `results.json`).\n");
    for (title, pick) in [("Servers", 0usize), ("Clients", 1)] {
        // Distinct endpoints (ignoring the command) in first-seen order, with their uses.
        let mut rows: Vec<(Endpoint, Vec<String>)> = Vec::new();
        for (case, side, s, c) in ends {
            let Some(e) = (if pick == 0 { s } else { c }) else { continue };
            let key = Endpoint { command: String::new(), ..e.clone() };
            let used = format!("{case} ({side})");
            match rows.iter_mut().find(|(k, _)| *k == key) {
                Some((_, u)) => u.push(used),
                None => rows.push((key, vec![used])),
            }
        }
        if rows.is_empty() {
            continue;
        }
        out += &format!("\n### {title}\n\n| stack | program | poll | cores | threads | MTU | queues | TCP | used by |\n|---|---|---|---|---|---|---|---|---|\n");
        for (e, used) in &rows {
            out += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                cell(&e.stack),
                cell(&e.program),
                cell(&e.poll),
                cell(&e.cores),
                e.threads,
                e.mtu.map_or("-".into(), |m| m.to_string()),
                e.queues.map_or("-".into(), |q| q.to_string()),
                tcp_id(e),
                used.join(", ")
            );
        }
    }
    if !tcp_sets.is_empty() {
        out += "\n### TCP settings\n\n| | settings in effect |\n|---|---|\n";
        for (i, l) in tcp_sets.iter().enumerate() {
            out += &format!("| T{} | `{}` |\n", i + 1, l);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(stack: &str, program: &str, buf: &str) -> Endpoint {
        let tcp = [("cc".to_string(), "cubic".to_string()), ("sndbuf".to_string(), buf.to_string())].into_iter().collect();
        Endpoint { stack: stack.into(), program: program.into(), poll: "busy".into(), command: format!("run {program}"), cores: "1".into(), threads: 1, mtu: Some(1500), queues: Some(1), tcp }
    }

    #[test]
    fn each_distinct_end_once_with_its_uses_and_numbered_tcp_settings() {
        let srv_e = end("engine", "services", "262144");
        let srv_k = end("kernel", "services", "16384");
        let cli = end("kernel", "generator", "16384");
        let ends = vec![
            ("a".to_string(), "engine".to_string(), Some(srv_e.clone()), Some(cli.clone())),
            ("a".to_string(), "kernel".to_string(), Some(srv_k.clone()), Some(cli.clone())),
            ("b".to_string(), "engine".to_string(), Some(Endpoint { command: "other".into(), ..srv_e }), None),
        ];
        let md = render_endpoints(&ends);
        assert!(md.contains("| engine | services | busy | 1 | 1 | 1500 | 1 | T1 | a (engine), b (engine) |"), "{md}");
        assert!(md.contains("| kernel | services | busy | 1 | 1 | 1500 | 1 | T2 | a (kernel) |"), "{md}");
        assert!(md.contains("| kernel | generator | busy | 1 | 1 | 1500 | 1 | T2 | a (engine), a (kernel) |"), "{md}");
        assert!(md.contains("| T1 | `cc=cubic sndbuf=262144` |") && md.contains("| T2 | `cc=cubic sndbuf=16384` |"), "{md}");
        assert_eq!(render_endpoints(&[("a".into(), "engine".into(), None, None)]), "");
    }
}
