use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

use super::control::{Control, Step};
use super::proto::*;
use super::registry::{Phase, Registry, Role};
use crate::time::{Duration, Instant};

const COOKIE: &[u8; 37] = b"abcdefghijklmnopqrstuvwxyz234567abcd\0";

fn cookie() -> Cookie {
    Cookie::parse(COOKIE).unwrap()
}

/// The parameters Debian's iperf3 3.12 sends for `iperf3 -c X -t 2 -P 4` (captured
/// with `--debug`), with `extra` merged in.
fn params_json(extra: Value) -> Value {
    let mut v = json!({"tcp": true, "omit": 0, "time": 2, "num": 0, "blockcount": 0, "parallel": 4, "len": 131072, "pacing_timer": 1000, "client_version": "3.12"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[test]
fn cookies() {
    assert_eq!(cookie().as_str(), "abcdefghijklmnopqrstuvwxyz234567abcd");
    let mut no_nul = *COOKIE;
    no_nul[36] = b'a';
    assert_eq!(Cookie::parse(&no_nul), None);
    let mut bad_char = *COOKIE;
    bad_char[3] = b'8';
    assert_eq!(Cookie::parse(&bad_char), None);
    assert_eq!(Cookie::parse(&COOKIE[..36]), None);
    assert_eq!(Cookie::parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789"), None);
}

#[test]
fn json_framing() {
    let v = json!({"a": 1, "b": "x"});
    let f = frame_json(&v);
    assert_eq!(&f[..4], &(f.len() as u32 - 4).to_be_bytes());
    // Byte by byte: nothing until the last byte, then the object, and the buffer empty.
    let mut buf = Vec::new();
    for (i, b) in f.iter().enumerate() {
        buf.push(*b);
        let r = take_json(&mut buf).unwrap();
        assert_eq!(r.is_some(), i == f.len() - 1);
    }
    assert!(buf.is_empty());
    // What follows a message stays.
    let mut buf = [f.clone(), vec![4u8]].concat();
    assert_eq!(take_json(&mut buf).unwrap(), Some(v));
    assert_eq!(buf, vec![4]);
    // Over the cap: refused from the header alone, before any body arrives.
    let mut big = ((MAX_JSON + 1) as u32).to_be_bytes().to_vec();
    assert_eq!(take_json(&mut big), Err(Fault::JsonTooLong(MAX_JSON as u32 + 1)));
    let mut huge = u32::MAX.to_be_bytes().to_vec();
    assert!(matches!(take_json(&mut huge), Err(Fault::JsonTooLong(_))));
    // Not JSON, or not an object.
    let mut junk = [3u32.to_be_bytes().to_vec(), b"{{{".to_vec()].concat();
    assert_eq!(take_json(&mut junk), Err(Fault::BadJson));
    let mut arr = [2u32.to_be_bytes().to_vec(), b"[]".to_vec()].concat();
    assert_eq!(take_json(&mut arr), Err(Fault::BadJson));
}

#[test]
fn parameters() {
    let p = Params::from_json(&params_json(json!({}))).unwrap();
    assert_eq!((p.protocol, p.time, p.parallel, p.len, p.reverse, p.bidirectional), (Protocol::Tcp, 2, 4, 131072, false, false));
    assert_eq!((p.streams_to_receive(), p.streams_to_send()), (4, 0));
    let r = Params::from_json(&params_json(json!({"reverse": true, "parallel": 2}))).unwrap();
    assert_eq!((r.streams_to_receive(), r.streams_to_send()), (0, 2));
    assert_eq!((r.nth_stream_sends(0), r.nth_stream_sends(1), r.nth_stream_sends(2)), (Some(true), Some(true), None));
    let b = Params::from_json(&params_json(json!({"bidirectional": true, "parallel": 2}))).unwrap();
    assert_eq!((0..5).map(|n| b.nth_stream_sends(n)).collect::<Vec<_>>(), vec![Some(false), Some(false), Some(true), Some(true), None]);
    let mut udp = params_json(json!({"udp": true, "bandwidth": 100_000_000u64, "len": 1448, "udp_counters_64bit": 1, "get_server_output": 1}));
    udp.as_object_mut().unwrap().remove("tcp");
    let u = Params::from_json(&udp).unwrap();
    assert_eq!((u.protocol, u.bandwidth, u.len, u.udp_counters_64bit, u.get_server_output), (Protocol::Udp, 100_000_000, 1448, true, true));
    // What is not applied is noted.
    let w = Params::from_json(&params_json(json!({"window": 65536, "nodelay": true}))).unwrap();
    assert_eq!(w.ignored, vec!["window", "nodelay"]);
    // Refused, with iperf3's error numbers.
    assert!(matches!(Params::from_json(&json!({"sctp": true})), Err(Fault::Refused(IEPROTOCOL, _))));
    assert!(matches!(Params::from_json(&params_json(json!({"parallel": 129}))), Err(Fault::Refused(IENUMSTREAMS, _))));
    assert!(matches!(Params::from_json(&params_json(json!({"len": (2 << 20)}))), Err(Fault::Refused(IEBLOCKSIZE, _))));
    let mut tiny = udp.clone();
    tiny["len"] = json!(8);
    assert!(matches!(Params::from_json(&tiny), Err(Fault::Refused(IEUDPBLOCKSIZE, _))));
    // Ids as iperf_add_stream numbers them.
    assert_eq!((0..4).map(stream_id).collect::<Vec<_>>(), vec![1, 3, 4, 5]);
}

#[test]
fn udp_connect_in_either_byte_order() {
    // An x86 client writes 0x36373839 little-endian: "9876".
    assert_eq!(udp_connect_reply(b"9876"), Some(*b"6789"));
    assert_eq!(udp_connect_reply(b"6789"), Some(*b"9876"));
    assert_eq!(udp_connect_reply(&123_456_789u32.to_le_bytes()), Some(*b"6789"));
    assert_eq!(udp_connect_reply(b"abcd"), None);
    assert_eq!(udp_connect_reply(b"98765"), None);
}

#[test]
fn udp_header_and_statistics() {
    let mut d = vec![0u8; 64];
    write_udp_header(&mut d, 7, 250_000, 42, false);
    assert_eq!(udp_header(&d, false), Some((7, 250_000, 42)));
    write_udp_header(&mut d, 7, 1, 1 << 40, true);
    assert_eq!(udp_header(&d, true), Some((7, 1, 1 << 40)));
    assert_eq!(udp_header(&d[..11], false), None);

    // 1, 2, 4 (3 lost), 3 (late: out of order, no longer lost), 5, 8 (6, 7 lost).
    let mut s = UdpRecv::default();
    for (i, c) in [1u64, 2, 4, 3, 5, 8].iter().enumerate() {
        s.record(100, *c, i as f64 * 0.001, i as f64 * 0.001 + 0.010);
    }
    assert_eq!((s.bytes, s.packets, s.errors, s.out_of_order), (600, 8, 2, 1));
    assert!(s.jitter.abs() < 1e-12, "constant transit time: no jitter");
    // Transit alternating 10 and 12 ms: jitter climbs toward 2 ms.
    let mut j = UdpRecv::default();
    for i in 0..200u64 {
        let transit = if i % 2 == 0 { 0.010 } else { 0.012 };
        j.record(100, i + 1, i as f64, i as f64 + transit);
    }
    assert!((j.jitter - 0.002).abs() < 0.0001, "{}", j.jitter);
}

#[test]
fn registry_classifies_connections() {
    let reg = Registry::new();
    let Role::Control(test) = reg.classify(cookie()) else { panic!("first connection is the control one") };
    let other = Cookie::parse(b"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\0").unwrap();
    // A second client while one is served, and the test's own cookie before it takes
    // streams: both denied.
    assert!(matches!(reg.classify(other), Role::Denied));
    assert!(matches!(reg.classify(cookie()), Role::Denied));
    test.set_params(Params::from_json(&params_json(json!({"parallel": 2}))).unwrap());
    test.set_state(CREATE_STREAMS);
    let ids: Vec<u32> = (0..2)
        .map(|_| match reg.classify(cookie()) {
            Role::Stream(_, s) => s.id,
            _ => panic!("stream"),
        })
        .collect();
    assert_eq!(ids, vec![1, 3]);
    assert!(matches!(reg.classify(cookie()), Role::Denied), "one stream too many");
    assert!(test.join(Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5))).is_none(), "a UDP flow for a TCP test");
    assert_eq!(test.connected(), 2);
    reg.end(&test, true);
    assert_eq!(test.phase(), Phase::Over);
    assert!(matches!(reg.classify(other), Role::Control(_)), "free again");
    assert_eq!(reg.counters.tests_completed.load(Ordering::Relaxed), 1);
}

/// Drives a control connection through a whole test as the client would, with the
/// streams joining through the registry (as other workers' connections would).
fn run_test(extra: Value, udp: bool) -> (Vec<u8>, Value) {
    let reg = Registry::new();
    let Role::Control(test) = reg.classify(cookie()) else { panic!() };
    let mut now = Instant::from_secs(10);
    let mut c = Control::new(test.clone(), now);
    let mut sent = Vec::new();
    let mut drain = |c: &mut Control| {
        let o = c.output().to_vec();
        c.consume(o.len());
        sent.extend_from_slice(&o);
        o
    };
    assert_eq!(drain(&mut c), vec![PARAM_EXCHANGE as u8]);
    let mut params = params_json(extra);
    if udp {
        params.as_object_mut().unwrap().remove("tcp");
        params["udp"] = json!(true);
        params["len"] = json!(1400);
    }
    let p = Params::from_json(&params).unwrap();
    // The parameters in two pieces.
    let f = frame_json(&params);
    c.input(&f[..3], now).unwrap();
    assert!(drain(&mut c).is_empty());
    c.input(&f[3..], now).unwrap();
    assert_eq!(drain(&mut c), vec![CREATE_STREAMS as u8]);
    assert_eq!(c.step(), Step::Streams);
    let mut streams = Vec::new();
    for n in 0..p.parallel * if p.bidirectional { 2 } else { 1 } {
        c.tick(now).unwrap();
        assert!(drain(&mut c).is_empty(), "not started with {n} streams");
        let peer = udp.then(|| SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000 + n as u16));
        streams.push(test.join(peer).unwrap());
    }
    c.tick(now).unwrap();
    assert_eq!(drain(&mut c), vec![TEST_START as u8, TEST_RUNNING as u8]);
    assert_eq!(test.phase(), Phase::Running);
    for (i, s) in streams.iter().enumerate() {
        s.count(1000 * (i + 1));
        if udp && !s.sender {
            s.udp.lock().unwrap().record(1400, 3, 0.0, 0.001);
        }
    }
    now += Duration::from_secs(2);
    c.input(&[TEST_END as u8], now).unwrap();
    assert_eq!(drain(&mut c), vec![EXCHANGE_RESULTS as u8]);
    assert_eq!(test.phase(), Phase::Ending);
    c.input(&frame_json(&json!({"cpu_util_total": 1.0, "cpu_util_user": 0.5, "cpu_util_system": 0.5, "sender_has_retransmits": 0, "streams": []})), now).unwrap();
    assert_eq!(c.step(), Step::Settling);
    c.tick(now).unwrap();
    assert!(drain(&mut c).is_empty(), "waits for the streams' last counts");
    for s in &streams {
        s.finish();
    }
    c.tick(now).unwrap();
    let out = drain(&mut c);
    assert_eq!(*out.last().unwrap(), DISPLAY_RESULTS as u8);
    let mut body = out[..out.len() - 1].to_vec();
    let results = take_json(&mut body).unwrap().unwrap();
    assert!(body.is_empty());
    c.input(&[IPERF_DONE as u8], now).unwrap();
    assert!(c.is_done());
    (sent, results)
}

#[test]
fn control_runs_a_tcp_test() {
    let (_, r) = run_test(json!({}), false);
    assert_eq!(r["sender_has_retransmits"], -1, "the server only received");
    let s = r["streams"].as_array().unwrap();
    assert_eq!(s.iter().map(|s| s["id"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 3, 4, 5]);
    assert_eq!(s.iter().map(|s| s["bytes"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1000, 2000, 3000, 4000]);
    for k in ["retransmits", "jitter", "errors", "packets", "start_time", "end_time"] {
        assert!(s[0].get(k).is_some(), "{k} is what get_results needs");
    }
    assert_eq!(s[0]["end_time"], 2.0);
    assert!(r.get("server_output_json").is_none());
}

#[test]
fn control_runs_a_reverse_udp_test_with_server_output() {
    let (_, r) = run_test(json!({"reverse": true, "parallel": 1, "get_server_output": 1, "bandwidth": 1000000}), true);
    assert_eq!(r["sender_has_retransmits"], 0);
    assert_eq!(r["streams"][0]["bytes"], 1000);
    let out = &r["server_output_json"];
    assert_eq!(out["start"]["test_start"]["protocol"], "UDP");
    assert_eq!(out["end"]["sum_sent"]["bytes"], 1000);
}

#[test]
fn control_runs_a_udp_test_with_loss_figures() {
    let (_, r) = run_test(json!({"parallel": 1, "get_server_output": 1}), true);
    let s = &r["streams"][0];
    // One datagram with count 3: two lost.
    assert_eq!((s["packets"].as_u64(), s["errors"].as_u64()), (Some(3), Some(2)));
    assert_eq!(r["server_output_json"]["end"]["sum_received"]["lost_packets"], 2);
}

#[test]
fn control_omits_the_first_seconds() {
    let reg = Registry::new();
    let Role::Control(test) = reg.classify(cookie()) else { panic!() };
    let now = Instant::from_secs(1);
    let mut c = Control::new(test.clone(), now);
    c.input(&frame_json(&params_json(json!({"parallel": 1, "omit": 1}))), now).unwrap();
    let s = test.join(None).unwrap();
    c.tick(now).unwrap();
    s.count(500);
    c.tick(now + Duration::from_millis(1500)).unwrap();
    s.count(700);
    c.input(&[TEST_END as u8], now + Duration::from_secs(3)).unwrap();
    c.input(&frame_json(&json!({"cpu_util_total": 0, "cpu_util_user": 0, "cpu_util_system": 0, "sender_has_retransmits": -1, "streams": []})), now + Duration::from_secs(3)).unwrap();
    s.finish();
    let n = c.output().len();
    c.consume(n);
    c.tick(now + Duration::from_secs(3)).unwrap();
    let o = c.output();
    let mut body = o[..o.len() - 1].to_vec();
    let r = take_json(&mut body).unwrap().unwrap();
    assert_eq!(r["streams"][0]["bytes"], 700);
    assert_eq!(r["streams"][0]["end_time"], 2.0);
}

#[test]
fn control_refuses_and_rejects_bad_input() {
    let now = Instant::from_secs(1);
    let fresh = || {
        let reg = Registry::new();
        let Role::Control(t) = reg.classify(cookie()) else { panic!() };
        let mut c = Control::new(t, now);
        c.consume(1);
        c
    };
    // SCTP: SERVER_ERROR, i_errno, errno.
    let mut c = fresh();
    assert!(matches!(c.input(&frame_json(&json!({"sctp": true})), now), Err(Fault::Refused(IEPROTOCOL, _))));
    assert_eq!(c.output(), &[&[SERVER_ERROR as u8][..], &IEPROTOCOL.to_be_bytes(), &[0, 0, 0, 0]].concat()[..]);
    // A length far over the cap: refused at once.
    let mut c = fresh();
    assert!(matches!(c.input(&0x7fff_ffffu32.to_be_bytes(), now), Err(Fault::JsonTooLong(_))));
    // Garbage JSON.
    let mut c = fresh();
    assert_eq!(c.input(&[&5u32.to_be_bytes()[..], b"nope!"].concat(), now), Err(Fault::BadJson));
    // An unknown state byte, and TEST_END before the test runs.
    let mut c = fresh();
    c.input(&frame_json(&params_json(json!({}))), now).unwrap();
    assert_eq!(c.input(&[77], now), Err(Fault::UnknownState(77)));
    let mut c = fresh();
    c.input(&frame_json(&params_json(json!({}))), now).unwrap();
    assert_eq!(c.input(&[TEST_END as u8], now), Err(Fault::UnknownState(TEST_END)));
    // CLIENT_TERMINATE, an early close, and streams that never come.
    let mut c = fresh();
    c.input(&frame_json(&params_json(json!({}))), now).unwrap();
    assert_eq!(c.input(&[CLIENT_TERMINATE as u8], now), Err(Fault::ClientGone));
    let mut c = fresh();
    assert_eq!(c.eof(), Err(Fault::ClientGone));
    let mut c = fresh();
    c.input(&frame_json(&params_json(json!({}))), now).unwrap();
    assert_eq!(c.tick(now + super::control::SETUP_LIMIT), Err(Fault::Timeout));
    // Input is bounded: a client sending far ahead is cut off.
    let mut c = fresh();
    assert!(c.room() <= MAX_JSON + 4);
    assert!(c.input(&vec![0u8; MAX_JSON + 100], now).is_err());
}

// ---- The real iperf3 client against the server on the kernel backend (loopback). ----

fn iperf3_installed() -> bool {
    std::process::Command::new("iperf3").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn real_iperf3_client_on_the_kernel_backend() {
    if !iperf3_installed() {
        eprintln!("skipping: iperf3 is not installed (scripts/deps.sh installs it)");
        return;
    }
    let port = {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        drop(t);
        p
    };
    // Two workers sharing one factory (SO_REUSEPORT spreads connections and UDP flows
    // over them), as two engine workers would: a test's connections land on both.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = super::factory(port);
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let (st, f) = (stop.clone(), f.clone());
            std::thread::spawn(move || crate::api::kernel_worker::run(i, Ipv4Addr::LOCALHOST, None, crate::runtime::PollMode::Adaptive, crate::api::kernel::KernelTcp::default(), vec![f], st))
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let run = |args: &[&str]| -> Value {
        let out = std::process::Command::new("timeout")
            .args(["20", "iperf3", "-c", "127.0.0.1", "-p", &port.to_string(), "--json", "--get-server-output"])
            .args(if args.contains(&"-n") { &[][..] } else { &["-t", "1"][..] })
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("iperf3 {args:?} printed no JSON: {text} {}", String::from_utf8_lossy(&out.stderr)));
        assert!(v.get("error").is_none(), "iperf3 {args:?}: {}", v["error"]);
        assert!(out.status.success(), "iperf3 {args:?}");
        v
    };
    let tcp = run(&["-P", "2"]);
    let (sent, recv) = (tcp["end"]["sum_sent"]["bytes"].as_u64().unwrap(), tcp["end"]["sum_received"]["bytes"].as_u64().unwrap());
    assert!(recv > 0 && recv <= sent, "{sent} {recv}");
    assert!(tcp["server_output_json"]["end"]["sum_received"]["bytes"].as_u64().unwrap() == recv);
    let rev = run(&["-R"]);
    assert!(rev["end"]["sum_received"]["bytes"].as_u64().unwrap() > 0);
    let udp = run(&["-u", "-b", "10M"]);
    let s = &udp["end"]["sum"];
    assert!(s["packets"].as_u64().unwrap() > 10, "{s}");
    assert!(s["lost_packets"].as_u64().is_some() && s["jitter_ms"].as_f64().is_some());
    // A byte count instead of a time, and 64-bit UDP counters with a set datagram size.
    let n = run(&["-n", "20M", "-l", "64K"]);
    // The client stops once it has written 20 MiB; the server counts what reached it
    // before TEST_END (the rest may still be in flight, as with iperf3 -s).
    let (sent, recv) = (n["end"]["sum_sent"]["bytes"].as_u64().unwrap(), n["end"]["sum_received"]["bytes"].as_u64().unwrap());
    assert!(sent >= 20 << 20 && recv > 0 && recv <= sent, "{}", n["end"]);
    let u64c = run(&["-u", "-b", "10M", "--udp-counters-64bit", "-l", "1000"]);
    let s = &u64c["end"]["sum"];
    assert!(s["packets"].as_u64().unwrap() > 1000 && s["lost_packets"] == 0, "{s}");
    let bidir = run(&["--bidir"]);
    let streams = bidir["end"]["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2, "one stream each way");
    assert!(streams.iter().all(|s| s["receiver"]["bytes"].as_u64().unwrap() > 0), "{streams:?}");
    // The plain text report, as a person reads it.
    let out = std::process::Command::new("timeout").args(["20", "iperf3", "-c", "127.0.0.1", "-p", &port.to_string(), "-t", "1", "-P", "2"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("[SUM]") && text.contains("receiver") && text.contains("iperf Done."), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let rudp = run(&["-u", "-b", "10M", "-R"]);
    assert!(rudp["end"]["sum"]["packets"].as_u64().unwrap() > 10, "{}", rudp["end"]["sum"]);
    // Eight streams over two workers: some are owned by a worker other than the
    // control connection's (all nine on one worker: one chance in 256).
    let p8 = run(&["-P", "8"]);
    let streams = p8["end"]["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 8);
    assert!(streams.iter().all(|s| s["receiver"]["bytes"].as_u64().unwrap() > 0), "{streams:?}");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap().unwrap();
    }
}
