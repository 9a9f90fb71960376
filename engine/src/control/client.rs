//! `bypass stat`: a netstat-like view of a running engine.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::DIR;
use crate::cli::StatArgs;

/// Finds the engine's socket: the one given by pid, or the only live one.
fn find_socket(pid: Option<u32>) -> Result<PathBuf, String> {
    if let Some(pid) = pid {
        return Ok(super::socket_path(pid));
    }
    let mut live = Vec::new();
    for e in std::fs::read_dir(DIR).map_err(|_| no_engine())?.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "sock") {
            match UnixStream::connect(&p) {
                Ok(_) => live.push(p),
                // A socket left by an engine that was killed: clean it up.
                Err(_) => {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }
    match live.len() {
        0 => Err(no_engine()),
        1 => Ok(live.remove(0)),
        _ => Err(format!(
            "{} engines are running; pick one with --pid ({})",
            live.len(),
            live.iter().filter_map(|p| p.file_stem()).map(|s| s.to_string_lossy().to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn no_engine() -> String {
    format!("no engine is running (no live control socket in {DIR}); start one with `bypass run`")
}

/// Asks the engine for its state.
pub fn query(pid: Option<u32>) -> Result<Value, String> {
    let path = find_socket(pid)?;
    let mut s = UnixStream::connect(&path).map_err(|e| format!("cannot reach the engine at {}: {e}", path.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(b"stat\n").map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).map_err(|e| format!("no answer from the engine: {e}"))?;
    serde_json::from_str(&line).map_err(|e| format!("bad answer from the engine: {e}"))
}

pub fn run(args: &StatArgs) -> Result<String, String> {
    let v = query(args.pid)?;
    if args.json {
        return Ok(serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    if args.prometheus {
        return Ok(prometheus(&v));
    }
    if args.counters {
        return Ok(counters(&v));
    }
    Ok(table(&v, args))
}

fn us(v: &Value) -> String {
    v.as_u64().map_or("-".into(), |x| if x >= 10_000 { format!("{}ms", x / 1000) } else { format!("{x}us") })
}

/// The netstat-like table.
pub fn table(v: &Value, a: &StatArgs) -> String {
    let mut rows = vec![[
        "Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State", "Worker", "srtt", "rto", "cwnd", "retrans",
    ]
    .map(String::from)
    .to_vec()];
    for w in v["workers"].as_array().into_iter().flatten() {
        for s in w["sockets"].as_array().into_iter().flatten() {
            let proto = s["proto"].as_str().unwrap_or("");
            let state = s["state"].as_str().unwrap_or("");
            if (a.tcp && proto != "tcp") || (a.udp && proto != "udp") {
                continue;
            }
            if a.listening && !(state == "LISTEN" || proto == "udp") {
                continue;
            }
            if a.state.as_deref().is_some_and(|want| !want.eq_ignore_ascii_case(state)) {
                continue;
            }
            rows.push(vec![
                proto.into(),
                s["recv_q"].to_string(),
                s["send_q"].to_string(),
                s["local"].as_str().unwrap_or("").into(),
                s["remote"].as_str().unwrap_or("").into(),
                state.into(),
                w["index"].to_string(),
                us(&s["srtt_us"]),
                us(&s["rto_us"]),
                s["cwnd"].as_u64().map_or("-".into(), |c| c.to_string()),
                s["retransmits"].as_u64().map_or("-".into(), |c| c.to_string()),
            ]);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, u64)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "sockets" {
                    continue;
                }
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}_{k}") };
                flatten(&key, x, out);
            }
        }
        Value::Number(n) => {
            if let Some(x) = n.as_u64() {
                out.push((prefix.to_string(), x));
            }
        }
        Value::Bool(b) => out.push((prefix.to_string(), *b as u64)),
        _ => {}
    }
}

/// Per-worker counters, zeros left out.
pub fn counters(v: &Value) -> String {
    let text = |k: &str| v[k].as_str().unwrap_or("?").to_string();
    let mut s = format!("engine pid {} on {} (driver {}, {} XDP, rss {})\n", v["pid"], text("iface"), text("driver"), text("xdp_mode"), text("rss"));
    for w in v["workers"].as_array().into_iter().flatten() {
        let mut c = Vec::new();
        flatten("", w, &mut c);
        let mode = if w["zero_copy"].as_bool() == Some(true) { "zero-copy" } else { "copy" };
        let wake = if w["need_wakeup"].as_bool() == Some(true) { ", need_wakeup" } else { "" };
        let busy = match w["busy_poll"].as_str() {
            Some("off") | None => String::new(),
            Some(m) => format!(", busy poll {m}"),
        };
        s.push_str(&format!("worker {} (queue {}, {mode}{wake}{busy}):\n", w["index"], w["queue"]));
        for (k, x) in c.into_iter().filter(|(k, x)| *x != 0 && k != "index") {
            s.push_str(&format!("  {k:<44} {x}\n"));
        }
    }
    s
}

/// Counters in the Prometheus text exposition format, one series per worker.
pub fn prometheus(v: &Value) -> String {
    let mut names: std::collections::BTreeMap<String, Vec<(String, u64)>> = Default::default();
    for w in v["workers"].as_array().into_iter().flatten() {
        let mut c = Vec::new();
        flatten("", w, &mut c);
        for (k, x) in c {
            if k == "index" || k == "queue" || k == "core" {
                continue;
            }
            names.entry(format!("bypass_{}", k.replace('.', "_"))).or_default().push((w["index"].to_string(), x));
        }
    }
    let mut s = String::new();
    for (name, series) in names {
        s.push_str(&format!("# TYPE {name} counter\n"));
        for (worker, x) in series {
            s.push_str(&format!("{name}{{worker=\"{worker}\"}} {x}\n"));
        }
    }
    s
}
