use super::head::echo_of_head;
use super::*;

/// A bounded output: `cap` bytes in total (drain `buf` to free room).
struct Sink {
    buf: Vec<u8>,
    cap: usize,
}

impl Sink {
    fn new(cap: usize) -> Self {
        Sink { buf: Vec::new(), cap }
    }
    fn unbounded() -> Self {
        Sink::new(usize::MAX)
    }
}

impl Output for Sink {
    fn room(&self) -> usize {
        self.cap - self.buf.len()
    }
    fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.room());
        self.buf.extend_from_slice(&data[..n]);
        n
    }
}

/// xorshift64*, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// 0..n
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn echo() -> HttpEcho {
    HttpEcho::new(HttpEchoConfig::default())
}

/// All input at once, unbounded output. Returns (output, consumed).
fn one_shot(e: &mut HttpEcho, input: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Sink::unbounded();
    let n = e.on_input(input, &mut out);
    (out.buf, n)
}

#[derive(Debug)]
struct Resp {
    code: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Splits an output stream into responses; `heads[i]` says final response `i` answers
/// a HEAD request (no body).
fn parse_responses(mut buf: &[u8], heads: &[bool]) -> Vec<Resp> {
    let mut v = Vec::new();
    let mut finals = 0;
    while !buf.is_empty() {
        let mut h = [httparse::EMPTY_HEADER; 16];
        let mut r = httparse::Response::new(&mut h);
        let n = match r.parse(buf).expect("response parses") {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => panic!("truncated response: {:?}", String::from_utf8_lossy(buf)),
        };
        let code = r.code.unwrap();
        assert_eq!(r.version, Some(1));
        let headers: Vec<(String, String)> =
            r.headers.iter().map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned())).collect();
        let mut resp = Resp { code, headers, body: Vec::new() };
        let mut len = 0;
        if code >= 200 {
            assert_eq!(resp.header("Server"), Some("bypass"));
            len = resp.header("Content-Length").expect("Content-Length always set").parse().unwrap();
            if heads.get(finals).copied().unwrap_or(false) {
                len = 0;
            }
            finals += 1;
        }
        resp.body = buf[n..n + len].to_vec();
        buf = &buf[n + len..];
        v.push(resp);
    }
    v
}

/// Simulates the service loop: input arrives in random pieces (1..=max_piece) into a
/// receive buffer of `rbuf_cap` bytes; each round offers the buffer (as one slice, or as
/// two at a random point when `ring`), then drains `room` bytes of output. EOF (if
/// `eof`) after the last piece. Returns the output.
#[allow(clippy::too_many_arguments)]
fn drive(
    e: &mut HttpEcho,
    input: &[u8],
    rng: &mut Rng,
    max_piece: usize,
    rbuf_cap: usize,
    room: usize,
    eof: bool,
    ring: bool,
) -> Vec<u8> {
    let bound = 2 * e.config().max_header_bytes + 1024;
    let mut rbuf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut out = Vec::new();
    let mut eof_sent = false;
    loop {
        if fed < input.len() && rbuf.len() < rbuf_cap {
            let n = (1 + rng.below(max_piece)).min(input.len() - fed).min(rbuf_cap - rbuf.len());
            rbuf.extend_from_slice(&input[fed..fed + n]);
            fed += n;
        }
        let mut sink = Sink::new(room);
        let c = if ring && !rbuf.is_empty() {
            let at = rng.below(rbuf.len() + 1);
            e.on_input_split(&rbuf[..at], &rbuf[at..], &mut sink)
        } else {
            e.on_input(&rbuf, &mut sink)
        };
        assert!(c <= rbuf.len());
        rbuf.drain(..c);
        let eof_now = eof && !eof_sent && fed == input.len();
        if eof_now {
            e.on_eof(&mut sink);
            eof_sent = true;
        }
        assert!(e.pending_output() <= bound, "pending {}", e.pending_output());
        let produced = sink.buf.len();
        out.extend_from_slice(&sink.buf);
        if c == 0 && produced == 0 && fed == input.len() && !eof_now {
            return out;
        }
        assert!(c > 0 || produced > 0 || rbuf.len() < rbuf_cap, "stalled with a full receive buffer");
    }
}

fn resp_head(code: u16, len: usize, ctype: &str, conn: &str) -> String {
    format!(
        "HTTP/1.1 {code} {}\r\nServer: bypass\r\nContent-Length: {len}\r\nContent-Type: {ctype}\r\n{conn}\r\n",
        reason(code)
    )
}

#[test]
fn get_echoes_request_head() {
    let req = b"GET /hello?x=1 HTTP/1.1\r\nHost: example\r\nUser-Agent: t/1\r\nAccept:  */* \r\n\r\n";
    let mut e = echo();
    let (out, n) = one_shot(&mut e, req);
    assert_eq!(n, req.len());
    let body = &req[..req.len() - 2];
    let mut want = resp_head(200, body.len(), "text/plain", "").into_bytes();
    want.extend_from_slice(body);
    assert_eq!(out, want);
    assert!(!e.wants_close());
    assert!(e.is_idle());
}

#[test]
fn get_echo_with_bare_lf_and_leading_empty_lines() {
    let mut e = echo();
    let (out, _) = one_shot(&mut e, b"\r\n\nGET / HTTP/1.1\nHost: a\n\n");
    let r = parse_responses(&out, &[]);
    assert_eq!(r[0].body, b"GET / HTTP/1.1\nHost: a\n");
    let mut e = echo();
    let (out, _) = one_shot(&mut e, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(parse_responses(&out, &[])[0].body, b"GET / HTTP/1.1\r\n");
    assert_eq!(echo_of_head(b"GET / HTTP/1.1\r\nA: b\r\n\n"), b"GET / HTTP/1.1\r\nA: b\r\n");
    assert_eq!(echo_of_head(b"GET / HTTP/1.1\nA: b\n\r\n"), b"GET / HTTP/1.1\nA: b\n");
}

#[test]
fn post_content_length_echoed() {
    let mut e = echo();
    let req = b"POST /x HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"a\": \"b\"}\r\n\0";
    let (out, n) = one_shot(&mut e, req);
    assert_eq!(n, req.len());
    let mut want = resp_head(200, 13, "application/json", "").into_bytes();
    want.extend_from_slice(b"{\"a\": \"b\"}\r\n\0");
    assert_eq!(out, want);

    // No Content-Type: octet-stream. Content-Length 0: an empty body echoed.
    let mut e = echo();
    let (out, _) =
        one_shot(&mut e, b"PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    let r = parse_responses(&out, &[]);
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].header("Content-Type"), &r[0].body[..]), (Some("application/octet-stream"), &b"abc"[..]));
    assert_eq!((r[1].code, r[1].body.len()), (200, 0));
    assert_eq!(e.counters().responses_ok, 2);
}

#[test]
fn ten_mib_post_streamed_through_64k_room() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let body = rng.bytes(10 << 20);
    let mut req = format!("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    let mut e = echo();
    let out = drive(&mut e, &req, &mut rng, 100 << 10, 256 << 10, 64 << 10, false, false);
    let r = parse_responses(&out, &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].header("Content-Type"), Some("application/octet-stream"));
    assert!(r[0].body == body, "body differs");
    assert_eq!(e.body.capacity(), 0, "a Content-Length body is never buffered");
    assert!(e.pending.capacity() <= 1024);
    let c = e.counters();
    assert_eq!((c.body_bytes, c.bytes_in, c.bytes_out), (body.len() as u64, req.len() as u64, out.len() as u64));
}

/// Requests covering every path, concatenated, with whether each is HEAD.
fn sample_pipeline() -> (Vec<u8>, Vec<bool>) {
    let mut v = Vec::new();
    v.extend_from_slice(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    v.extend_from_slice(b"POST /b HTTP/1.1\r\nContent-Length: 5\r\nContent-Type: text/x\r\n\r\nhello");
    v.extend_from_slice(b"HEAD /c HTTP/1.1\r\n\r\n");
    v.extend_from_slice(b"POST /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
    v.extend_from_slice(b"3;ext=\"v\"\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n");
    v.extend_from_slice(b"GET /e HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    (v, vec![false, false, true, false, false])
}

#[test]
fn split_at_every_byte_gives_identical_response() {
    let (req, heads) = sample_pipeline();
    let mut e = echo();
    let (want, n) = one_shot(&mut e, &req);
    assert_eq!(n, req.len());
    let want_counters = e.counters();
    assert_eq!(parse_responses(&want, &heads).len(), 6);
    for i in 0..=req.len() {
        let mut e = echo();
        let mut out = Sink::unbounded();
        let c1 = e.on_input(&req[..i], &mut out);
        let c2 = e.on_input(&req[c1..], &mut out);
        assert_eq!(c1 + c2, req.len(), "split at {i}");
        assert!(out.buf == want, "split at {i}");
        assert_eq!(e.counters(), want_counters);

        // Same as a ring's two slices.
        let mut e = echo();
        let mut out = Sink::unbounded();
        assert_eq!(e.on_input_split(&req[..i], &req[i..], &mut out), req.len(), "ring split at {i}");
        assert!(out.buf == want, "ring split at {i}");
    }
}

#[test]
fn pipelined_requests_answered_in_order() {
    let req =
        b"GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nokDELETE /3 HTTP/1.1\r\nX: y\r\n\r\n";
    let mut e = echo();
    let (out, n) = one_shot(&mut e, req);
    assert_eq!(n, req.len());
    let r = parse_responses(&out, &[]);
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].body, b"GET /1 HTTP/1.1\r\n");
    assert_eq!(r[1].body, b"ok");
    assert_eq!(r[2].body, b"DELETE /3 HTTP/1.1\r\nX: y\r\n");
    assert_eq!(e.counters().requests, 3);
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let req = b"POST /c HTTP/1.1\r\nTransfer-Encoding: gzip;q=0 , Chunked\r\n\r\n";
    let mut e = echo();
    // A coding before chunked: 501.
    let (out, _) = one_shot(&mut e, req);
    assert_eq!(parse_responses(&out, &[])[0].code, 501);

    let req = b"POST /c HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nContent-Type: text/csv\r\n\r\n\
        5 ; a=b;c=\"d;e\"\r\nhello\r\n000b\r\n, world! 12\r\n1;x\r\n\n\r\n0;end=1\r\nExpires: never\r\nX-Sum: 42\r\n\r\n\
        GET /next HTTP/1.1\r\n\r\n";
    let mut e = echo();
    let (out, n) = one_shot(&mut e, req);
    assert_eq!(n, req.len());
    let r = parse_responses(&out, &[]);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].code, 200);
    assert_eq!(r[0].header("Content-Type"), Some("text/csv"));
    assert_eq!(r[0].body, b"hello, world! 12\n");
    assert_eq!(r[1].body, b"GET /next HTTP/1.1\r\n");
    assert_eq!(e.counters().body_bytes, 17);

    // An empty chunked body.
    let mut e = echo();
    let (out, _) = one_shot(&mut e, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    let r = parse_responses(&out, &[]);
    assert_eq!((r[0].code, r[0].body.len()), (200, 0));
}

#[test]
fn expect_100_continue() {
    let head = b"PUT /u HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
    let mut e = echo();
    let (out, n) = one_shot(&mut e, head);
    assert_eq!(n, head.len());
    let mut want = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    want.extend_from_slice(resp_head(200, 4, "application/octet-stream", "").as_bytes());
    assert_eq!(out, want);
    let (out, n) = one_shot(&mut e, b"data");
    assert_eq!((n, &out[..]), (4, &b"data"[..]));
    assert_eq!(e.counters().continues, 1);

    // Chunked: 100 first, the final response after the last chunk.
    let mut e = echo();
    let (out, _) = one_shot(&mut e, b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    let (out, _) = one_shot(&mut e, b"2\r\nhi\r\n0\r\n\r\n");
    assert_eq!(parse_responses(&out, &[])[0].body, b"hi");

    // HTTP/1.0 and empty bodies: no 100.
    for req in [
        &b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"[..],
        b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
    ] {
        let mut e = echo();
        let (out, _) = one_shot(&mut e, req);
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(e.counters().continues, 0);
    }

    // Too large: 413 straight away, no 100.
    let mut e = echo();
    let (out, _) = one_shot(&mut e, b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 16777217\r\n\r\n");
    let r = parse_responses(&out, &[]);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].code, r[0].header("Connection")), (413, Some("close")));
    assert!(e.wants_close());
}

#[test]
fn head_gets_get_headers_without_body() {
    let req = b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /h HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut e = echo();
    let (out, _) = one_shot(&mut e, req);
    let r = parse_responses(&out, &[true, false]);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].header("Content-Length"), Some("27"), "length of \"HEAD /h HTTP/1.1\\r\\nHost: x\\r\\n\"");
    assert!(r[0].body.is_empty());
    assert_eq!(r[0].header("Content-Type"), Some("text/plain"));
    assert_eq!(r[1].body, b"GET /h HTTP/1.1\r\nHost: x\r\n");

    // HEAD with a body: the body is dropped; headers as for the echo.
    let req = b"HEAD / HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzHEAD / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
    let mut e = echo();
    let (out, _) = one_shot(&mut e, req);
    let r = parse_responses(&out, &[true, true]);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].header("Content-Length"), Some("3"));
    assert_eq!(r[1].header("Content-Length"), Some("4"));
    assert_eq!(e.body.capacity(), 0);
}

#[test]
fn http10_closes_unless_keep_alive() {
    let mut e = echo();
    let req = b"GET / HTTP/1.0\r\n\r\nGET /ignored HTTP/1.0\r\n\r\n";
    let (out, n) = one_shot(&mut e, req);
    assert_eq!(n, req.len());
    let r = parse_responses(&out, &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].header("Connection"), Some("close"));
    assert!(e.wants_close());

    let mut e = echo();
    let (out, _) = one_shot(
        &mut e,
        b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nPOST / HTTP/1.0\r\nContent-Length: 1\r\n\r\nz",
    );
    let r = parse_responses(&out, &[]);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].header("Connection"), Some("keep-alive"));
    assert_eq!(r[1].header("Connection"), Some("close"));
    assert!(e.wants_close());
}

#[test]
fn connection_close_honoured() {
    let mut e = echo();
    let req = b"POST / HTTP/1.1\r\nConnection: foo, close\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\n\r\n";
    let (out, n) = one_shot(&mut e, req);
    assert_eq!(n, req.len());
    let r = parse_responses(&out, &[]);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].header("Connection"), &r[0].body[..]), (Some("close"), &b"ab"[..]));
    assert!(e.wants_close());
    // Further input is read and ignored.
    let (out, n) = one_shot(&mut e, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!((n, out.len()), (18, 0));

    // Not before the response is out.
    let mut e = echo();
    let mut small = Sink::new(10);
    e.on_input(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &mut small);
    assert!(!e.wants_close() && e.blocked_on_output());
    let mut rest = Sink::unbounded();
    e.on_input(b"", &mut rest);
    assert!(e.wants_close() && !e.blocked_on_output());
}

fn expect_error(req: &[u8], code: u16) {
    let mut e = echo();
    let (out, n) = one_shot(&mut e, req);
    assert_eq!(n, req.len(), "{:?}", String::from_utf8_lossy(req));
    let r = parse_responses(&out, &[]);
    assert_eq!(r.last().unwrap().code, code, "{:?}", String::from_utf8_lossy(req));
    assert_eq!(r.last().unwrap().header("Connection"), Some("close"));
    assert!(e.wants_close());
    let (out, n) = one_shot(&mut e, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!((n, out.len()), (18, 0), "input after an error is ignored");
}

#[test]
fn malformed_requests_get_400() {
    for req in [
        &b"\x01\x02garbage\r\n\r\n"[..],
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x01b\r\nhello\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n",
    ] {
        expect_error(req, 400);
    }
    // Identical repeated Content-Length values are accepted.
    let mut e = echo();
    let (out, _) = one_shot(&mut e, b"POST / HTTP/1.1\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(parse_responses(&out, &[])[0].body, b"ok");
    // An over-long chunk-size line.
    let mut req = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
    req.resize(req.len() + chunked::MAX_CHUNK_LINE, b'x');
    expect_error(&req, 400);
    // A 400 keeps earlier responses and the 100 before it.
    let mut e = echo();
    let (out, _) = one_shot(
        &mut e,
        b"GET / HTTP/1.1\r\n\r\nPUT / HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\nQ",
    );
    let r = parse_responses(&out, &[]);
    assert_eq!(r.iter().map(|r| r.code).collect::<Vec<_>>(), [200, 100, 400]);
}

#[test]
fn body_too_large_gets_413() {
    expect_error(b"POST / HTTP/1.1\r\nContent-Length: 16777217\r\n\r\n", 413);
    expect_error(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413);
    let mut e = echo();
    let (out, _) = one_shot(&mut e, b"POST / HTTP/1.1\r\nContent-Length: 16777216\r\n\r\n");
    assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));

    let cfg = HttpEchoConfig { max_body_bytes: 10, ..HttpEchoConfig::default() };
    let ok = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n5\r\nfghij\r\n0\r\n\r\n";
    let mut e = HttpEcho::new(cfg.clone());
    let (out, _) = one_shot(&mut e, ok);
    assert_eq!(parse_responses(&out, &[])[0].body, b"abcdefghij");
    for req in [
        &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n6\r\n"[..],
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n",
    ] {
        let mut e = HttpEcho::new(cfg.clone());
        let (out, n) = one_shot(&mut e, req);
        assert_eq!(n, req.len());
        assert_eq!(parse_responses(&out, &[])[0].code, 413);
        assert!(e.wants_close());
        assert_eq!(e.counters().status_413, 1);
    }
}

#[test]
fn header_too_large_gets_431() {
    // A head of exactly max_header_bytes is fine, one more byte is not.
    let head = |len: usize| {
        let mut h = b"GET / HTTP/1.1\r\nX: ".to_vec();
        h.resize(len - 4, b'a');
        h.extend_from_slice(b"\r\n\r\n");
        h
    };
    let mut e = echo();
    let (out, _) = one_shot(&mut e, &head(8192));
    assert_eq!(parse_responses(&out, &[])[0].code, 200);
    expect_error(&head(8193), 431);
    // Without its end yet: 431 as soon as the limit is passed.
    let mut e = echo();
    let (out, n) = one_shot(&mut e, &head(8193)[..8191]);
    assert_eq!((n, out.len()), (0, 0));
    let (out, _) = one_shot(&mut e, &head(8193)[..8192]);
    assert_eq!(parse_responses(&out, &[])[0].code, 431);

    let fields = |n: usize| {
        let mut h = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..n {
            h.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        h
    };
    let mut e = echo();
    let (out, _) = one_shot(&mut e, &fields(MAX_HEADERS));
    assert_eq!(parse_responses(&out, &[])[0].code, 200);
    expect_error(&fields(MAX_HEADERS + 1), 431);

    let mut trailer = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ".to_vec();
    trailer.resize(trailer.len() + 8192, b't');
    expect_error(&trailer, 431);
}

#[test]
fn counters_add_up() {
    let mut e = echo();
    let req = b"GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc\
        POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: x\r\n\r\n";
    let (out, n) = one_shot(&mut e, req);
    let c = e.counters();
    assert_eq!(
        c,
        HttpEchoCounters {
            requests: 4,
            responses_ok: 3,
            bytes_in: n as u64,
            bytes_out: out.len() as u64,
            body_bytes: 5,
            continues: 1,
            status_400: 1,
            status_413: 0,
            status_431: 0,
            status_501: 0,
        }
    );
    assert_eq!(n, req.len());
    let mut e = echo();
    one_shot(&mut e, b"\x00");
    assert_eq!((e.counters().requests, e.counters().status_400), (0, 1));
    let mut e = echo();
    one_shot(&mut e, &[b'a'; 9000]);
    assert_eq!(e.counters().status_431, 1);
}

#[test]
fn eof_closes_once_requests_are_answered() {
    // Idle at EOF.
    let mut e = echo();
    let mut out = Sink::unbounded();
    assert!(!e.wants_close());
    e.on_eof(&mut out);
    assert!(e.wants_close());

    // A partial request at EOF is dropped.
    let mut e = echo();
    assert_eq!(e.on_input(b"GET / HT", &mut out), 0);
    e.on_eof(&mut out);
    assert!(e.wants_close() && out.buf.is_empty());

    // Pipelined requests held back by a full output are still answered.
    let mut e = echo();
    let req = b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n";
    let mut small = Sink::new(50);
    let mut n = e.on_input(req, &mut small);
    assert!(n < req.len());
    e.on_eof(&mut small);
    let mut all = small.buf;
    while !e.wants_close() {
        let mut s = Sink::new(50);
        n += e.on_input(&req[n..], &mut s);
        assert!(!s.buf.is_empty() || e.wants_close());
        all.extend_from_slice(&s.buf);
    }
    assert_eq!(n, req.len());
    assert_eq!(parse_responses(&all, &[]).len(), 3);
}

/// Random valid requests; returns (bytes, is_head per request).
fn random_requests(rng: &mut Rng, count: usize) -> (Vec<u8>, Vec<bool>) {
    let mut v = Vec::new();
    let mut heads = Vec::new();
    for i in 0..count {
        let kind = rng.below(5);
        let is_head = kind == 4;
        let method = ["GET", "POST", "PUT", "PATCH", "HEAD"][kind];
        v.extend_from_slice(format!("{method} /r{i}?q={} HTTP/1.1\r\nHost: h\r\n", rng.next()).as_bytes());
        if rng.below(3) == 0 {
            v.extend_from_slice(b"Expect: 100-continue\r\n");
        }
        let len = rng.below(3000);
        let body = rng.bytes(len);
        match (kind, rng.below(2)) {
            (0, _) => v.extend_from_slice(b"\r\n"),
            (_, 0) => {
                v.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                v.extend_from_slice(&body);
            }
            _ => {
                v.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = &body[..];
                while !rest.is_empty() {
                    let n = (1 + rng.below(700)).min(rest.len());
                    let ext = if rng.below(2) == 0 { ";k=v" } else { "" };
                    v.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
                    v.extend_from_slice(&rest[..n]);
                    v.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                v.extend_from_slice(b"0\r\n");
                if rng.below(2) == 0 {
                    v.extend_from_slice(b"T: x\r\n");
                }
                v.extend_from_slice(b"\r\n");
            }
        }
        heads.push(is_head);
    }
    (v, heads)
}

#[test]
fn random_pieces_and_room_match_one_shot() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..40 {
        let count = 1 + rng.below(12);
        let (req, heads) = random_requests(&mut rng, count);
        let mut e = echo();
        let (want, n) = one_shot(&mut e, &req);
        assert_eq!(n, req.len());
        let finals = parse_responses(&want, &heads).iter().filter(|r| r.code == 200).count();
        assert_eq!(finals, heads.len());
        let room = 1 + rng.below(if round % 2 == 0 { 64 } else { 4096 });
        let piece = 1 + rng.below(2000);
        let mut e2 = echo();
        let got = drive(&mut e2, &req, &mut rng, piece, 16 << 10, room, true, round % 3 == 0);
        assert!(got == want, "round {round} room {room} piece {piece}");
        assert!(e2.wants_close());
        assert_eq!(e2.counters(), e.counters());
    }
}

#[test]
fn steady_state_keeps_its_buffers() {
    let (req, _) = sample_pipeline();
    let req = &req[..req.len() - 43]; // without the HTTP/1.0 request
    let mut e = echo();
    let mut out = Sink::unbounded();
    e.on_input(req, &mut out);
    let caps = (e.pending.capacity(), e.ctype.capacity(), e.body.capacity(), e.scratch.capacity());
    for _ in 0..100 {
        let mut out = Sink::new(1 << 20);
        assert_eq!(e.on_input(req, &mut out), req.len());
        assert_eq!(caps, (e.pending.capacity(), e.ctype.capacity(), e.body.capacity(), e.scratch.capacity()));
    }
    // A large chunked body's buffer is trimmed afterwards.
    let mut big = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n".to_vec();
    big.resize(big.len() + 0x100000, b'b');
    big.extend_from_slice(b"\r\n0\r\n\r\n");
    let mut out = Sink::unbounded();
    assert_eq!(e.on_input(&big, &mut out), big.len());
    assert!(e.body.capacity() <= BODY_BUF_RETAIN);
}

#[test]
fn one_byte_of_room_at_a_time() {
    let (req, heads) = sample_pipeline();
    let (want, _) = one_shot(&mut echo(), &req);
    let mut rng = Rng(7);
    let mut e = echo();
    let got = drive(&mut e, &req, &mut rng, 7, 1 << 20, 1, false, false);
    assert!(got == want);
    assert_eq!(parse_responses(&got, &heads).len(), 6);
    assert!(!e.wants_close() && e.is_idle(), "the HTTP/1.0 request asked for keep-alive");
}
