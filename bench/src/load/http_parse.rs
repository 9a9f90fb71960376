//! Minimal HTTP/1.x response-head parser: status code, head length and
//! `Content-Length`, enough to frame keep-alive responses.

/// The parsed head of an HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Bytes up to and including the blank line that ends the head.
    pub head_len: usize,
    /// `Content-Length`, if the response carried one.
    pub content_length: Option<usize>,
}

impl ResponseHead {
    /// Full response length when the body is framed by `Content-Length`.
    pub fn total_len(&self) -> Option<usize> {
        self.content_length.map(|n| self.head_len + n)
    }
}

/// Longest head accepted before the response counts as malformed.
const MAX_HEAD: usize = 16 * 1024;

/// Parses the head at the start of `buf`: `Ok(None)` while incomplete,
/// `Err` for a malformed head or one using chunked transfer-encoding
/// (not supported by the load generators).
pub fn parse_head(buf: &[u8]) -> Result<Option<ResponseHead>, String> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD { Err("response head too long".into()) } else { Ok(None) };
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut content_length = None;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| format!("bad header {line:?}"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            let n = value.parse::<usize>().map_err(|_| format!("bad content-length {value:?}"))?;
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") && !value.eq_ignore_ascii_case("identity") {
            return Err(format!("unsupported transfer-encoding {value:?}"));
        }
    }
    Ok(Some(ResponseHead { status, head_len: end + 4, content_length }))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_complete_head() {
        let r = b"HTTP/1.1 200 OK\r\nServer: x\r\ncontent-length: 5\r\n\r\nhello";
        let h = parse_head(r).unwrap().unwrap();
        assert_eq!(h, ResponseHead { status: 200, head_len: r.len() - 5, content_length: Some(5) });
        assert_eq!(h.total_len(), Some(r.len()));
    }

    #[test]
    fn incomplete_and_malformed() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 abc\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
        let h = parse_head(b"HTTP/1.0 404 Not Found\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.status, h.content_length), (404, None));
    }
}
