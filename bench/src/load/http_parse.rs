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
    // Byte-level on purpose: this runs once per response in the load generators' hot loop.
    let head = &buf[..end];
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or(b"");
    let bad_status = || format!("bad status line {:?}", String::from_utf8_lossy(status_line));
    if !status_line.starts_with(b"HTTP/1.") {
        return Err(bad_status());
    }
    let mut parts = status_line.splitn(3, |&b| b == b' ');
    parts.next();
    let status = parts
        .next()
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(bad_status)?;
    let mut content_length = None;
    for line in lines {
        let text = || String::from_utf8_lossy(line).into_owned();
        let colon = memchr::memchr(b':', line).ok_or_else(|| format!("bad header {:?}", text()))?;
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value).ok().and_then(|v| v.parse::<usize>().ok());
            content_length = Some(n.ok_or_else(|| format!("bad content-length {:?}", String::from_utf8_lossy(value)))?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") && !value.eq_ignore_ascii_case(b"identity") {
            return Err(format!("unsupported transfer-encoding {:?}", String::from_utf8_lossy(value)));
        }
    }
    Ok(Some(ResponseHead { status, head_len: end + 4, content_length }))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
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
