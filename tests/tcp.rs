//! TCP integration tests (issue 3): the Linux kernel in the peer namespace talks TCP to
//! the engine's built-in services over a veth pair; bytes are verified by SHA-256 (echo)
//! or against the documented chargen pattern. Run one at a time.

mod common;

use common::*;

const SERVE: [&str; 6] = ["--serve", "tcp-echo:7", "--serve", "chargen:19", "--serve", "discard:9"];
const MIB: u64 = 1 << 20;

fn ok(r: &serde_json::Value) {
    assert_eq!(r["ok"], true, "client failed: {r}");
}

fn engine(net: &Net, extra: &[&str]) -> Engine {
    let mut args: Vec<&str> = SERVE.to_vec();
    args.extend_from_slice(extra);
    Engine::start(net, &args)
}

/// 64 MiB each way, intact: kernel client -> engine echo, engine chargen -> kernel.
#[test]
fn bulk_64mib_each_way() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt10", 80, 1);
    let e = engine(&net, &[]);
    ok(&tcp_client(&net, 7, "echo", 64 * MIB));
    ok(&tcp_client(&net, 19, "chargen", 64 * MIB));
    ok(&tcp_client(&net, 9, "discard", 16 * MIB));
    let (report, _) = e.stop();
    assert!(total(&report, &["tcp", "bytes_out"]) >= 128 * MIB, "{report}");
    assert_eq!(total(&report, &["stack", "tcp", "bad_checksum"]), 0);
}

fn bulk_under_loss(tag: &str, octet: u8, pct: f64, size: u64) {
    if !can_run() {
        return;
    }
    let net = Net::up(tag, octet, 1);
    let e = engine(&net, &[]);
    net.peer_tcp_loss(pct);
    ok(&tcp_client(&net, 7, "echo", size));
    ok(&tcp_client(&net, 19, "chargen", size));
    net.peer_clear_loss();
    let (report, _) = e.stop();
    assert!(total(&report, &["tcp", "retransmits"]) > 0, "loss must cause retransmissions: {report}");
}

#[test]
fn bulk_with_1pct_loss_each_way() {
    bulk_under_loss("bpt11", 81, 1.0, 64 * MIB);
}

#[test]
fn bulk_with_5pct_loss_each_way() {
    bulk_under_loss("bpt12", 82, 5.0, 64 * MIB);
}

/// The engine's own injector reorders and duplicates in both directions.
#[test]
fn bulk_with_reordering_and_duplication() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt13", 83, 1);
    let e = engine(&net, &["--fault", "reorder=5,dup=2,seed=11"]);
    ok(&tcp_client(&net, 7, "echo", 16 * MIB));
    ok(&tcp_client(&net, 19, "chargen", 16 * MIB));
    let (report, _) = e.stop();
    assert!(total(&report, &["faults", "rx_reordered"]) > 0 && total(&report, &["faults", "tx_duplicated"]) > 0);
}

#[test]
fn thousand_short_connections_in_a_row() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt14", 84, 1);
    let e = engine(&net, &[]);
    ok(&tcp_client(&net, 7, "short", 1000));
    let (report, _) = e.stop();
    assert!(total(&report, &["stack", "tcp", "accepted"]) >= 1000);
    assert_eq!(total(&report, &["stack", "tcp", "errors_reset"]), 0, "{report}");
}

#[test]
fn two_hundred_concurrent_connections() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt15", 85, 1);
    let e = engine(&net, &[]);
    ok(&tcp_client(&net, 7, "concurrent", 200));
    let (report, _) = e.stop();
    assert!(total(&report, &["stack", "tcp", "accepted"]) >= 200);
}

/// Two queues, with the peer rehashing its tx queue on retransmission: frames of a flow
/// arrive on either worker and are handed to the owner, and every byte still arrives.
#[test]
fn two_queues_hand_off_flows_to_their_owner() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt16", 86, 2);
    net.peer(&["sysctl", "-qw", "net.core.txrehash=1"]);
    let e = engine(&net, &["--queues", "2", "--poll", "adaptive"]);
    net.peer_tcp_loss(1.0);
    ok(&tcp_client(&net, 7, "echo", 16 * MIB));
    ok(&tcp_client(&net, 19, "chargen", 16 * MIB));
    ok(&tcp_client(&net, 7, "concurrent", 50));
    net.peer_clear_loss();
    let (report, _) = e.stop();
    assert!(total(&report, &["handoff_owned"]) > 0, "no TCP frame was handed over: {report}");
    assert_eq!(total(&report, &["handoff_dropped"]), 0);
    for w in report["workers"].as_array().unwrap() {
        assert!(w["stack"]["tcp"]["segments_rx"].as_u64().unwrap() > 0, "worker {} owned no flow", w["index"]);
    }
}

/// Segments to a port nobody serves get a RST: the kernel reports ECONNREFUSED.
#[test]
fn closed_port_is_refused_with_rst() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt17", 87, 1);
    let e = engine(&net, &[]);
    let out = net.peer(&[
        "python3",
        "-c",
        &format!("import socket\ntry:\n socket.create_connection(('{}', 5555), timeout=5)\nexcept ConnectionRefusedError:\n print('refused')", net.engine_ip()),
    ]);
    let (report, _) = e.stop();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "refused");
    assert!(total(&report, &["stack", "tcp", "rst_sent_closed"]) >= 1);
}

/// With no room in the SYN queue, every connection is set up by SYN cookies, options
/// (MSS, window scale, SACK) preserved well enough for bulk data to flow.
#[test]
fn syn_cookies_when_the_syn_queue_is_full() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt18", 88, 1);
    let e = engine(&net, &["--tcp-syn-backlog", "0"]);
    ok(&tcp_client(&net, 7, "short", 50));
    ok(&tcp_client(&net, 7, "echo", 8 * MIB));
    let (report, _) = e.stop();
    assert!(total(&report, &["stack", "tcp", "syn_cookies_sent"]) >= 51, "{report}");
    assert!(total(&report, &["stack", "tcp", "syn_cookies_accepted"]) >= 51);
}

/// A capture of a run shows no malformed packet and no bad checksum from the engine.
#[test]
fn capture_shows_no_malformed_packets() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt19", 89, 1);
    let pcap = std::env::temp_dir().join(format!("bypass-{}.pcap", std::process::id()));
    let _ = std::fs::remove_file(&pcap);
    let mut dump = std::process::Command::new("ip")
        .args(["netns", "exec", &net.peer_ns(), "tshark", "-q", "-i", &net.peer_if(), "-w"])
        .arg(&pcap)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tshark");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let e = engine(&net, &[]);
    ok(&tcp_client(&net, 7, "echo", 2 * MIB));
    ok(&tcp_client(&net, 19, "chargen", 2 * MIB));
    ok(&tcp_client(&net, 7, "short", 20));
    assert!(net.ping(&net.engine_ip(), 1000));
    e.stop();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = std::process::Command::new("kill").args(["-INT", &dump.id().to_string()]).status();
    let _ = dump.wait();
    let filter = format!("ip.src == {} && (_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\" || icmp.checksum.status == \"Bad\")", net.engine_ip());
    let count = |f: &str| {
        let out = std::process::Command::new("tshark")
            .args(["-r"])
            .arg(&pcap)
            .args(["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-Y", f])
            .output()
            .expect("tshark");
        assert!(out.status.success(), "tshark rejected the filter {f}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        (text.lines().count(), text)
    };
    let (engine_frames, _) = count(&format!("ip.src == {}", net.engine_ip()));
    let (bad, text) = count(&filter);
    let _ = std::fs::remove_file(&pcap);
    assert!(engine_frames > 1000, "capture saw the engine's frames ({engine_frames})");
    assert_eq!(bad, 0, "bad frames from the engine:\n{}", text.lines().take(20).collect::<Vec<_>>().join("\n"));
}

/// A SYN flood from unresolvable spoofed sources plus random junk segments: the engine
/// counts and drops or answers them, keeps its memory bounded, and keeps serving.
#[test]
fn survives_syn_flood_and_junk_segments() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt20", 90, 1);
    let e = engine(&net, &["--tcp-syn-backlog", "256"]);
    ok(&tcp_client(&net, 7, "echo", MIB));
    let out = net.peer(&[
        "python3",
        &repo().join("tests/tools/hostile.py").to_string_lossy(),
        &net.peer_if(),
        &net.peer_mac(),
        &net.engine_mac(),
        &net.net,
        "7",
        "3000",
        "3000",
    ]);
    assert!(out.status.success(), "hostile.py: {}", String::from_utf8_lossy(&out.stderr));
    ok(&tcp_client(&net, 7, "echo", 4 * MIB));
    ok(&tcp_client(&net, 7, "short", 50));
    assert!(net.ping(&net.engine_ip(), 56));
    let (report, _) = e.stop();
    let t = |k: &str| total(&report, &["stack", "tcp", k]);
    assert!(t("syn_cookies_sent") > 0, "the flood overflowed the SYN queue into cookies: {report}");
    assert!(t("bad_checksum") >= 300, "{report}");
    assert!(t("malformed") > 0 || t("closed_port") > 0, "junk was counted: {report}");
}

/// A rate limit (tc tbf) on the peer's side: the engine's sender adapts to the queue
/// and its drops, and the data arrives intact.
#[test]
fn bulk_through_a_rate_limit() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt21", 91, 1);
    let e = engine(&net, &[]);
    // The engine's own egress bypasses the kernel's qdiscs, so shape the peer's egress:
    // the echo data towards the engine, and the ACKs that clock chargen's sending.
    let out = net.peer(&["tc", "qdisc", "add", "dev", &net.peer_if(), "root", "tbf", "rate", "200mbit", "burst", "64kb", "latency", "20ms"]);
    assert!(out.status.success(), "tc: {}", String::from_utf8_lossy(&out.stderr));
    ok(&tcp_client(&net, 7, "echo", 16 * MIB));
    ok(&tcp_client(&net, 19, "chargen", 16 * MIB));
    e.stop();
}
