//! Request heads: parsing (httparse into a fixed field array) and the framing,
//! connection and expectation decisions of RFC 9112 §6, §9.3 and RFC 9110 §10.1.1.

use std::mem::MaybeUninit;

use super::response::ConnHeader;
use super::MAX_HEADERS;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body: the head is echoed.
    None,
    Length(u64),
    Chunked,
}

/// An accepted request head.
#[derive(Debug)]
pub(super) struct Head<'a> {
    /// Bytes of the head, final empty line included.
    pub len: usize,
    pub is_head: bool,
    pub framing: Framing,
    /// The response's `Connection` field.
    pub conn: ConnHeader,
    /// HTTP/1.1 with `Expect: 100-continue`.
    pub expect_continue: bool,
    /// The first `Content-Type` value.
    pub content_type: Option<&'a [u8]>,
    /// The text echo: see [`echo_of_head`].
    pub echo: &'a [u8],
}

#[derive(Debug)]
pub(super) enum Parsed<'a> {
    /// The head is incomplete (and within the limit).
    Partial,
    Request(Head<'a>),
    /// Answer with `code` and close. `request`: the head was complete and syntactically
    /// valid (a request to count); `is_head`: it was a HEAD request.
    Reject {
        code: u16,
        request: bool,
        is_head: bool,
    },
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Comma-separated list elements, trimmed, empty ones skipped.
fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|e| !e.is_empty())
}

/// `1*DIGIT`; `Some(u64::MAX)` on overflow (too large anyway).
fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, &d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// The request head without leading empty lines and without its final empty line.
pub(super) fn echo_of_head(raw: &[u8]) -> &[u8] {
    let start = raw.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(raw.len());
    let mut end = raw.len();
    if end > start && raw[end - 1] == b'\n' {
        end -= 1;
        if end >= start + 2 && raw[end - 1] == b'\r' && raw[end - 2] == b'\n' {
            end -= 1;
        }
    }
    &raw[start..end]
}
/// Parses the request head at the start of `input`; a head longer than `max_head` bytes
/// is rejected (431), as is one with more than [`MAX_HEADERS`] fields.
pub(super) fn parse(input: &[u8], max_head: usize) -> Parsed<'_> {
    if input.is_empty() {
        return Parsed::Partial;
    }
    // Left uninitialised (httparse's safe API): no 2 KiB of zeroing per request.
    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(&input[..input.len().min(max_head)], &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() < max_head => return Parsed::Partial,
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Reject { code: 431, request: false, is_head: false }
        }
        Err(_) => return Parsed::Reject { code: 400, request: false, is_head: false },
    };
    let http11 = req.version == Some(1);
    let is_head = req.method == Some("HEAD");

    let mut content_length: Option<u64> = None;
    let mut bad = false;
    let (mut te, mut te_chunked_last, mut te_other) = (false, false, false);
    let (mut close, mut keep_alive, mut expect_continue) = (false, false, false);
    let mut content_type: Option<&[u8]> = None;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            // A list of identical values is accepted (RFC 9110 §8.6).
            let mut any = false;
            for v in h.value.split(|&b| b == b',').map(trim) {
                any = true;
                match parse_content_length(v) {
                    Some(n) if content_length.is_none_or(|c| c == n) => content_length = Some(n),
                    _ => bad = true,
                }
            }
            bad |= !any;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te = true;
            for coding in list(h.value) {
                // Chunked twice, or anything after it, leaves the framing unknown.
                bad |= te_chunked_last;
                if coding.eq_ignore_ascii_case(b"chunked") {
                    te_chunked_last = true;
                } else {
                    te_other = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for opt in list(h.value) {
                close |= opt.eq_ignore_ascii_case(b"close");
                keep_alive |= opt.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue |= trim(h.value).eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case(b"content-type") && content_type.is_none() {
            content_type = Some(h.value);
        }
    }
    // Transfer-Encoding: with Content-Length, in HTTP/1.0 (RFC 9112 §6.1) or not ending
    // in chunked (§6.3) is faulty framing.
    bad |= te && (content_length.is_some() || !http11 || !te_chunked_last);
    if bad || te_other {
        let code = if bad { 400 } else { 501 };
        return Parsed::Reject { code, request: true, is_head };
    }
    let conn = if close || !(http11 || keep_alive) {
        ConnHeader::Close
    } else if !http11 {
        ConnHeader::KeepAlive
    } else {
        ConnHeader::None
    };
    let framing = match (te, content_length) {
        (true, _) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => Framing::None,
    };
    Parsed::Request(Head {
        len,
        is_head,
        framing,
        conn,
        expect_continue: expect_continue && http11,
        content_type,
        echo: echo_of_head(&input[..len]),
    })
}
