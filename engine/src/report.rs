//! Human-readable rendering of the engine's final report.

use std::fmt::Write;

use crate::engine::Report;

/// Renders `value`'s numeric fields that are not zero as `key=value`, nested objects
/// flattened with a dotted prefix.
fn nonzero(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                nonzero(&key, v, out);
            }
        }
        serde_json::Value::Number(n) if n.as_u64() != Some(0) => out.push(format!("{prefix}={n}")),
        _ => {}
    }
}

/// The per-worker counters, one block per worker, zero counters left out.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    if r.xdp_mode.contains("kernel backend") {
        let _ = writeln!(s, "bypass: stopped (kernel backend)");
        return s;
    }
    let _ = writeln!(s, "bypass: stopped on {} ({} XDP)", r.iface, r.xdp_mode);
    for w in &r.workers {
        let _ = writeln!(
            s,
            "worker {} (queue {}, core {}{}): rx {} frames {} bytes, tx {} frames {} bytes; xdp steered {} passed {} no_socket {}",
            w.index,
            w.queue,
            w.core.map_or("-".to_string(), |c| c.to_string()),
            if w.pinned { ", pinned" } else { "" },
            w.datapath.rx_frames,
            w.datapath.rx_bytes,
            w.datapath.tx_frames,
            w.datapath.tx_bytes,
            w.xdp.steered,
            w.xdp.passed,
            w.xdp.no_socket
        );
        let _ = writeln!(
            s,
            "  arp: rx {} replies {} requests {} resolved {} | icmp: echo replies {} unreachable {} rate-limited {}",
            w.stack.arp_rx,
            w.stack.arp_replies_sent,
            w.stack.arp_requests_sent,
            w.stack.arp.resolved,
            w.stack.icmp_echo_replies,
            w.stack.icmp_unreachable_sent,
            w.stack.icmp_rate_limited
        );
        let mut stack = Vec::new();
        if let Ok(v) = serde_json::to_value(w.stack) {
            nonzero("", &v, &mut stack);
        }
        let _ = writeln!(s, "  stack: {}", stack.join(" "));
        let mut tcp = Vec::new();
        if let Ok(v) = serde_json::to_value(w.tcp) {
            nonzero("", &v, &mut tcp);
        }
        if !tcp.is_empty() {
            let _ = writeln!(s, "  tcp: {}", tcp.join(" "));
        }
        let mut dp = Vec::new();
        for (name, v) in [("kernel", serde_json::to_value(w.kernel)), ("datapath", serde_json::to_value(w.datapath))] {
            if let Ok(v) = v {
                nonzero(name, &v, &mut dp);
            }
        }
        let _ = writeln!(s, "  datapath: {} handoff out {} (dropped {}) in {}", dp.join(" "), w.handoff_out, w.handoff_dropped, w.handoff_in);
        if let Some(fc) = w.faults {
            let mut v = Vec::new();
            if let Ok(j) = serde_json::to_value(fc) {
                nonzero("", &j, &mut v);
            }
            let _ = writeln!(s, "  faults injected: {}", if v.is_empty() { "none".to_string() } else { v.join(" ") });
        }
        let f = &w.frames;
        let _ = writeln!(
            s,
            "  frames: total {} free {} fill {} rx {} tx {} violations {} -> {}",
            f.total,
            f.free,
            f.fill,
            f.rx,
            f.tx,
            f.violations,
            if f.balanced { "balanced, no leak" } else { "UNBALANCED" }
        );
    }
    if let Some(p) = r.pcap {
        let _ = writeln!(s, "pcap: {} frames written, {} dropped (queue full){}", p.frames, p.dropped, if p.truncated_file { ", stopped at the size limit" } else { "" });
    }
    for (q, c) in &r.unserved {
        if c.no_socket > 0 || c.steered > 0 {
            let _ = writeln!(s, "queue {q} (not served): {} frames for the engine dropped, {} passed", c.no_socket, c.passed);
        }
    }
    s
}
