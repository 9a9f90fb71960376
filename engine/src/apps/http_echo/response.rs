//! Response heads.

/// The `Connection` field of a response; `Close` also means closing after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConnHeader {
    None,
    Close,
    KeepAlive,
}

pub(super) const OCTET_STREAM: &[u8] = b"application/octet-stream";
pub(super) const TEXT_PLAIN: &[u8] = b"text/plain";
pub(super) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

pub(super) fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        _ => "",
    }
}

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Appends `HTTP/1.1 <code> <reason>`, `Server`, `Content-Length`, `Content-Type`,
/// `Connection` (unless `None`) and the empty line.
pub(super) fn push_head(buf: &mut Vec<u8>, code: u16, len: u64, ctype: &[u8], conn: ConnHeader) {
    buf.extend_from_slice(b"HTTP/1.1 ");
    push_u64(buf, u64::from(code));
    buf.push(b' ');
    buf.extend_from_slice(reason(code).as_bytes());
    buf.extend_from_slice(b"\r\nServer: bypass\r\nContent-Length: ");
    push_u64(buf, len);
    buf.extend_from_slice(b"\r\nContent-Type: ");
    buf.extend_from_slice(ctype);
    match conn {
        ConnHeader::None => {}
        ConnHeader::Close => buf.extend_from_slice(b"\r\nConnection: close"),
        ConnHeader::KeepAlive => buf.extend_from_slice(b"\r\nConnection: keep-alive"),
    }
    buf.extend_from_slice(b"\r\n\r\n");
}
