//! The wire formats of iperf3's control connection and UDP streams: state numbers,
//! the cookie, length-prefixed JSON, the test parameters, the results, and the UDP
//! connect handshake. No I/O here.

use serde_json::{json, Map, Value};

/// `COOKIE_SIZE` in `iperf.h`: 36 characters and a NUL.
pub const COOKIE_SIZE: usize = 37;

/// Control-connection states (`iperf_api.h`), sent as one signed byte.
pub const TEST_START: i8 = 1;
pub const TEST_RUNNING: i8 = 2;
pub const TEST_END: i8 = 4;
pub const PARAM_EXCHANGE: i8 = 9;
pub const CREATE_STREAMS: i8 = 10;
pub const SERVER_TERMINATE: i8 = 11;
pub const CLIENT_TERMINATE: i8 = 12;
pub const EXCHANGE_RESULTS: i8 = 13;
pub const DISPLAY_RESULTS: i8 = 14;
pub const IPERF_START: i8 = 15;
pub const IPERF_DONE: i8 = 16;
pub const ACCESS_DENIED: i8 = -1;
pub const SERVER_ERROR: i8 = -2;

/// `i_errno` values sent after SERVER_ERROR (`iperf_api.h`).
pub const IENUMSTREAMS: i32 = 6;
pub const IEBLOCKSIZE: i32 = 7;
pub const IEUNIMP: i32 = 13;
pub const IEUDPBLOCKSIZE: i32 = 20;
pub const IERECVPARAMS: i32 = 114;
pub const IEPROTOCOL: i32 = 131;

/// `MAX_STREAMS`, `MAX_BLOCKSIZE`, `MIN_UDP_BLOCKSIZE`, `MAX_UDP_BLOCKSIZE` (`iperf.h`).
pub const MAX_STREAMS: u32 = 128;
pub const MAX_BLOCKSIZE: u32 = 1 << 20;
pub const MIN_UDP_BLOCKSIZE: u32 = 16;
pub const MAX_UDP_BLOCKSIZE: u32 = 65535 - 8 - 20;
/// `DEFAULT_TCP_BLKSIZE`, `DEFAULT_UDP_BLKSIZE` (`iperf_api.h`), for a client that
/// sends no `len`.
pub const DEFAULT_TCP_BLKSIZE: u32 = 128 * 1024;
pub const DEFAULT_UDP_BLKSIZE: u32 = 1460;

/// The largest JSON message accepted (iperf3 itself takes any 32-bit length; the
/// parameters are a few hundred bytes, the client's results a few KiB per stream).
pub const MAX_JSON: usize = 64 * 1024;

/// `UDP_CONNECT_MSG` / `UDP_CONNECT_REPLY` (`iperf.h`). iperf3 writes them as a native
/// `unsigned int`, so the bytes depend on the sender's byte order.
pub const UDP_CONNECT_MSG: u32 = 0x3637_3839;
pub const UDP_CONNECT_REPLY: u32 = 0x3938_3736;
/// What older clients send instead (`123456789`), answered as today's clients are.
pub const LEGACY_UDP_CONNECT_MSG: u32 = 123_456_789;

/// The 36 characters of a client's cookie (`make_cookie` in `iperf_util.c`: characters
/// from `a-z2-7`, then a NUL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cookie(pub [u8; COOKIE_SIZE - 1]);

impl Cookie {
    /// Checks the 37 bytes a connection starts with.
    pub fn parse(b: &[u8]) -> Option<Cookie> {
        let b: &[u8; COOKIE_SIZE] = b.try_into().ok()?;
        if b[COOKIE_SIZE - 1] != 0 || !b[..COOKIE_SIZE - 1].iter().all(|c| matches!(c, b'a'..=b'z' | b'2'..=b'7')) {
            return None;
        }
        let mut c = [0u8; COOKIE_SIZE - 1];
        c.copy_from_slice(&b[..COOKIE_SIZE - 1]);
        Some(Cookie(c))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("?")
    }
}

/// The answer to a UDP stream's first datagram, or `None` when it is not a connect
/// message. Answered in the byte order it came in, so the client reads its own native
/// `UDP_CONNECT_REPLY` whatever its endianness.
pub fn udp_connect_reply(d: &[u8]) -> Option<[u8; 4]> {
    let b: [u8; 4] = d.try_into().ok()?;
    if u32::from_le_bytes(b) == UDP_CONNECT_MSG || u32::from_le_bytes(b) == LEGACY_UDP_CONNECT_MSG {
        Some(UDP_CONNECT_REPLY.to_le_bytes())
    } else if u32::from_be_bytes(b) == UDP_CONNECT_MSG || u32::from_be_bytes(b) == LEGACY_UDP_CONNECT_MSG {
        Some(UDP_CONNECT_REPLY.to_be_bytes())
    } else {
        None
    }
}

/// Why the control connection is given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A JSON length above [`MAX_JSON`].
    JsonTooLong(u32),
    /// Not JSON, or not the object expected.
    BadJson,
    /// Parameters this server does not run (answered with SERVER_ERROR and `i_errno`).
    Refused(i32, String),
    /// A state byte the server does not expect.
    UnknownState(i8),
    /// The client gave up the test (CLIENT_TERMINATE) or closed the connection early.
    ClientGone,
    /// The test ran past its time limit.
    Timeout,
}

/// Takes one length-prefixed JSON message (`JSON_write` in `iperf_api.c`: a 4-byte
/// big-endian length, then that many bytes of JSON) off the front of `buf`: `Ok(None)`
/// while incomplete, an error as soon as the length is over the cap.
pub fn take_json(buf: &mut Vec<u8>) -> Result<Option<Value>, Fault> {
    let Some(h) = buf.get(..4) else { return Ok(None) };
    let n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    if n as usize > MAX_JSON {
        return Err(Fault::JsonTooLong(n));
    }
    let end = 4 + n as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(&buf[4..end]).map_err(|_| Fault::BadJson)?;
    buf.drain(..end);
    if !v.is_object() {
        return Err(Fault::BadJson);
    }
    Ok(Some(v))
}

/// A JSON message framed as [`take_json`] reads it.
pub fn frame_json(v: &Value) -> Vec<u8> {
    let s = v.to_string();
    let mut out = Vec::with_capacity(4 + s.len());
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

/// The protocol of a test's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// What the client asked for (`send_parameters` / `get_parameters` in `iperf_api.c`).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub protocol: Protocol,
    /// `-t`, seconds (0 with `-n`/`-k`).
    pub time: u64,
    /// `-O`, seconds not counted at the start.
    pub omit: u64,
    /// `-P`.
    pub parallel: u32,
    /// `-R`: the server sends.
    pub reverse: bool,
    /// `--bidir`: both send, `parallel` streams each way.
    pub bidirectional: bool,
    /// `-l`: bytes per write (TCP) or per datagram (UDP).
    pub len: u32,
    /// `-b`, bits per second per stream (0: unlimited).
    pub bandwidth: u64,
    /// `--get-server-output`.
    pub get_server_output: bool,
    /// `--udp-counters-64bit`.
    pub udp_counters_64bit: bool,
    /// `-w`, `-M`, `-N`, `-C`, `-S`: accepted, not applied (see the module doc).
    pub ignored: Vec<&'static str>,
}

fn num(v: &Value, k: &str) -> Option<u64> {
    let x = v.get(k)?;
    x.as_u64().or_else(|| x.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

impl Params {
    /// The parameters in the client's JSON, or the SERVER_ERROR answer (`i_errno`) for
    /// ones not run here.
    pub fn from_json(v: &Value) -> Result<Params, Fault> {
        if !v.is_object() {
            return Err(Fault::BadJson);
        }
        let has = |k: &str| v.get(k).is_some();
        let protocol = if has("udp") {
            Protocol::Udp
        } else if has("sctp") {
            return Err(Fault::Refused(IEPROTOCOL, "SCTP is not supported".into()));
        } else {
            Protocol::Tcp
        };
        let parallel = num(v, "parallel").unwrap_or(1).max(1);
        if parallel > MAX_STREAMS as u64 {
            return Err(Fault::Refused(IENUMSTREAMS, format!("{parallel} streams")));
        }
        let default_len = if protocol == Protocol::Udp { DEFAULT_UDP_BLKSIZE } else { DEFAULT_TCP_BLKSIZE };
        let len = num(v, "len").unwrap_or(default_len as u64);
        match protocol {
            Protocol::Tcp if len == 0 || len > MAX_BLOCKSIZE as u64 => return Err(Fault::Refused(IEBLOCKSIZE, format!("block size {len}"))),
            Protocol::Udp if !(MIN_UDP_BLOCKSIZE as u64..=MAX_UDP_BLOCKSIZE as u64).contains(&len) => {
                return Err(Fault::Refused(IEUDPBLOCKSIZE, format!("datagram size {len}")))
            }
            _ => {}
        }
        let mut ignored = Vec::new();
        for (k, name) in [("window", "window"), ("MSS", "MSS"), ("nodelay", "nodelay"), ("congestion", "congestion"), ("TOS", "TOS"), ("fqrate", "fqrate"), ("authtoken", "authentication")] {
            if has(k) {
                ignored.push(name);
            }
        }
        Ok(Params {
            protocol,
            time: num(v, "time").unwrap_or(10),
            omit: num(v, "omit").unwrap_or(0),
            parallel: parallel as u32,
            reverse: has("reverse"),
            bidirectional: has("bidirectional"),
            len: len as u32,
            bandwidth: num(v, "bandwidth").unwrap_or(0),
            get_server_output: has("get_server_output"),
            udp_counters_64bit: has("udp_counters_64bit"),
            ignored,
        })
    }

    /// Streams the server receives on.
    pub fn streams_to_receive(&self) -> u32 {
        if self.bidirectional || !self.reverse {
            self.parallel
        } else {
            0
        }
    }

    /// Streams the server sends on.
    pub fn streams_to_send(&self) -> u32 {
        if self.bidirectional || self.reverse {
            self.parallel
        } else {
            0
        }
    }

    /// Whether the server sends on the `n`th stream to connect (from 0): receivers come
    /// first, as `iperf_run_server` hands them out.
    pub fn nth_stream_sends(&self, n: u32) -> Option<bool> {
        let r = self.streams_to_receive();
        if n < r {
            Some(false)
        } else if n < r + self.streams_to_send() {
            Some(true)
        } else {
            None
        }
    }
}

/// The id of the `n`th stream (from 0): 1, then 3, 4, 5... (`iperf_add_stream`, kept for
/// compatibility with old clients).
pub fn stream_id(n: u32) -> u32 {
    if n == 0 {
        1
    } else {
        n + 2
    }
}

/// One stream's line in the server's results (`send_results`).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    pub id: u32,
    /// Whether the server sent on it.
    pub sender: bool,
    pub bytes: u64,
    /// Seconds.
    pub jitter: f64,
    /// UDP: datagrams lost (`cnt_error`).
    pub errors: u64,
    /// UDP: highest sequence number seen (receiver) or datagrams sent (sender).
    pub packets: u64,
    /// UDP: datagrams that came out of order (not part of the exchange; in the server
    /// output only, as iperf3 prints it).
    pub out_of_order: u64,
    /// Seconds from the start (after omitting) to the end.
    pub seconds: f64,
}

/// The server's results message. `server_output` is the `server_output_json` object,
/// sent when the client asked for it.
pub fn results_json(p: &Params, streams: &[StreamResult], server_output: Option<Value>) -> Value {
    let sends = p.streams_to_send() > 0;
    // `send_results`: -1 when the server only received; 0 says "no retransmit counts".
    let sender_has_retransmits = if sends { 0 } else { -1 };
    let list: Vec<Value> = streams
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "bytes": s.bytes,
                "retransmits": -1,
                "jitter": s.jitter,
                "errors": s.errors,
                "omitted_errors": 0,
                "packets": s.packets,
                "omitted_packets": 0,
                "start_time": 0.0,
                "end_time": s.seconds,
            })
        })
        .collect();
    let mut m = Map::new();
    m.insert("cpu_util_total".into(), json!(0.0));
    m.insert("cpu_util_user".into(), json!(0.0));
    m.insert("cpu_util_system".into(), json!(0.0));
    m.insert("sender_has_retransmits".into(), json!(sender_has_retransmits));
    if let Some(o) = server_output {
        m.insert("server_output_json".into(), o);
    }
    m.insert("streams".into(), Value::Array(list));
    Value::Object(m)
}

/// The `server_output_json` object: what `iperf3 -s --json` would print for the test,
/// reduced to its start and end summaries (no per-interval reports).
pub fn server_output_json(p: &Params, cookie: &Cookie, streams: &[StreamResult]) -> Value {
    let proto = if p.protocol == Protocol::Udp { "UDP" } else { "TCP" };
    let mut ends = Vec::new();
    let (mut sent, mut recv) = ((0u64, 0.0f64), (0u64, 0.0f64));
    let (mut lost, mut packets, mut ooo, mut jitter_sum, mut nrecv) = (0u64, 0u64, 0u64, 0.0f64, 0u32);
    for s in streams {
        let bps = if s.seconds > 0.0 { s.bytes as f64 * 8.0 / s.seconds } else { 0.0 };
        let key = if p.protocol == Protocol::Udp { "udp" } else if s.sender { "sender" } else { "receiver" };
        let mut e = json!({"socket": s.id, "start": 0.0, "end": s.seconds, "seconds": s.seconds, "bytes": s.bytes, "bits_per_second": bps, "sender": s.sender});
        if p.protocol == Protocol::Udp && !s.sender {
            let pct = if s.packets > 0 { 100.0 * s.errors as f64 / s.packets as f64 } else { 0.0 };
            e["jitter_ms"] = json!(s.jitter * 1000.0);
            e["lost_packets"] = json!(s.errors);
            e["packets"] = json!(s.packets);
            e["lost_percent"] = json!(pct);
            e["out_of_order"] = json!(s.out_of_order);
            lost += s.errors;
            packets += s.packets;
            ooo += s.out_of_order;
            jitter_sum += s.jitter;
            nrecv += 1;
        } else if p.protocol == Protocol::Udp {
            e["packets"] = json!(s.packets);
        }
        ends.push(json!({ key: e }));
        let t = if s.sender { &mut sent } else { &mut recv };
        t.0 += s.bytes;
        t.1 = t.1.max(s.seconds);
    }
    let sum = |(b, secs): (u64, f64), sender: bool| json!({"start": 0.0, "end": secs, "seconds": secs, "bytes": b, "bits_per_second": if secs > 0.0 { b as f64 * 8.0 / secs } else { 0.0 }, "sender": sender});
    let mut end = json!({"streams": ends});
    if sent.0 > 0 || p.streams_to_send() > 0 {
        end["sum_sent"] = sum(sent, true);
    }
    if p.streams_to_receive() > 0 {
        let mut r = sum(recv, false);
        if p.protocol == Protocol::Udp {
            r["jitter_ms"] = json!(if nrecv > 0 { jitter_sum * 1000.0 / nrecv as f64 } else { 0.0 });
            r["lost_packets"] = json!(lost);
            r["packets"] = json!(packets);
            r["lost_percent"] = json!(if packets > 0 { 100.0 * lost as f64 / packets as f64 } else { 0.0 });
            r["out_of_order"] = json!(ooo);
        }
        end["sum_received"] = r;
    }
    json!({
        "start": {
            "version": concat!("bypass ", env!("CARGO_PKG_VERSION"), " (iperf3-compatible server)"),
            "cookie": cookie.as_str(),
            "test_start": {"protocol": proto, "num_streams": p.parallel, "blksize": p.len, "omit": p.omit, "duration": p.time, "reverse": p.reverse as u8, "bidir": p.bidirectional as u8},
        },
        "intervals": [],
        "end": end,
    })
}

/// The header of an iperf3 UDP datagram (`iperf_udp_send`): seconds and microseconds of
/// the send time, then the packet count, all big-endian; the count is 32 bits unless
/// the client asked for 64-bit counters.
pub fn udp_header(b: &[u8], counters_64bit: bool) -> Option<(u32, u32, u64)> {
    let sec = u32::from_be_bytes(b.get(0..4)?.try_into().ok()?);
    let usec = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
    let count = if counters_64bit { u64::from_be_bytes(b.get(8..16)?.try_into().ok()?) } else { u32::from_be_bytes(b.get(8..12)?.try_into().ok()?) as u64 };
    Some((sec, usec, count))
}

/// Writes the header [`udp_header`] reads into the start of `b` (at least 16 bytes).
pub fn write_udp_header(b: &mut [u8], sec: u32, usec: u32, count: u64, counters_64bit: bool) {
    b[0..4].copy_from_slice(&sec.to_be_bytes());
    b[4..8].copy_from_slice(&usec.to_be_bytes());
    if counters_64bit {
        b[8..16].copy_from_slice(&count.to_be_bytes());
    } else {
        b[8..12].copy_from_slice(&(count as u32).to_be_bytes());
    }
}

/// A UDP receiver's statistics, computed as `iperf_udp_recv` does.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UdpRecv {
    pub bytes: u64,
    /// The highest packet count seen (`packet_count`).
    pub packets: u64,
    /// Lost: gaps in the count, less the late arrivals that filled them (`cnt_error`).
    pub errors: u64,
    pub out_of_order: u64,
    /// Seconds, smoothed as RFC 1889: `jitter += (|D| - jitter) / 16`.
    pub jitter: f64,
    prev_transit: Option<f64>,
}

impl UdpRecv {
    /// One datagram of `len` bytes, counter `count`, sent at `sent` and arriving at
    /// `arrival` (seconds; the two clocks need not agree, only their rates).
    pub fn record(&mut self, len: usize, count: u64, sent: f64, arrival: f64) {
        self.bytes += len as u64;
        if count > self.packets {
            self.errors += count - 1 - self.packets;
            self.packets = count;
        } else {
            self.out_of_order += 1;
            self.errors = self.errors.saturating_sub(1);
        }
        let transit = arrival - sent;
        let prev = self.prev_transit.unwrap_or(transit);
        self.jitter += ((transit - prev).abs() - self.jitter) / 16.0;
        self.prev_transit = Some(transit);
    }
}
