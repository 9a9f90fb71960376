//! What the NIC's receive-side scaling does, read from its driver through the ethtool
//! ioctl (`SIOCETHTOOL`, `include/uapi/linux/ethtool.h`): the hash key and indirection
//! table (`ETHTOOL_GRSSH`) and which header fields TCP/IPv4 flows are hashed over
//! (`ETHTOOL_GRXFH`). Drivers pick a random key at boot, so a flow's queue can only be
//! known from these. Devices without RSS (veth) answer EOPNOTSUPP.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GRXFH: u32 = 0x29;
const ETHTOOL_GRSSH: u32 = 0x46;
const TCP_V4_FLOW: u32 = 0x01;
/// `ETH_RSS_HASH_TOP`: the Toeplitz hash function.
pub const HASH_TOEPLITZ: u8 = 1 << 0;
const RXH_IP_SRC: u64 = 1 << 4;
const RXH_IP_DST: u64 = 1 << 5;
const RXH_L4_B_0_1: u64 = 1 << 6;
const RXH_L4_B_2_3: u64 = 1 << 7;
/// `struct ethtool_rxfh` up to its flexible `rss_config` array.
const RXFH_HEADER: usize = 24;

/// The RSS configuration of a device's default context, as its driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssConfig {
    /// The hash key (empty if the driver does not report it).
    pub key: Vec<u8>,
    /// Indirection table: entry `hash % len` names the rx queue.
    pub table: Vec<u32>,
    /// `ETH_RSS_HASH_*` bits of the hash function in use (0: not reported).
    pub hfunc: u8,
    /// `RXH_XFRM_*` input transform (0: none; symmetric-xor changes the hash input).
    pub input_xfrm: u8,
    /// TCP/IPv4 flows are hashed over both addresses and both ports (`RXH_*` fields),
    /// when the driver says; None when it does not.
    pub tcp4_four_tuple: Option<bool>,
}

/// A datagram socket to carry the ioctls (any socket in the interface's namespace does).
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; a non-negative return is a new descriptor we own.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One `SIOCETHTOOL` call on `iface` with `data` as the command buffer (the command
/// number in its first four bytes); the driver fills it in.
fn ethtool(sock: &OwnedFd, iface: &str, data: &mut [u8]) -> io::Result<()> {
    let name = CString::new(iface).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a NUL"))?;
    let bytes = name.as_bytes_with_nul();
    if bytes.len() > libc::IFNAMSIZ {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"));
    }
    // SAFETY: an all-zero ifreq is a valid value of this plain C struct.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = data.as_mut_ptr().cast();
    // SAFETY: `ifr` names the interface and points at `data`, a live, writable buffer as
    // large as the command's structure (the callers size it from the header the kernel
    // filled in on a first call); both outlive the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut ifr as *mut libc::ifreq) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads `iface`'s RSS key, indirection table and TCP/IPv4 hash fields. Ok(None): the
/// device has no RSS to report (EOPNOTSUPP, as veth); Err: the call failed otherwise.
pub fn rss_config(iface: &str) -> io::Result<Option<RssConfig>> {
    let sock = ioctl_socket()?;
    // First call: sizes only.
    let mut head = [0u8; RXFH_HEADER];
    head[0..4].copy_from_slice(&ETHTOOL_GRSSH.to_ne_bytes());
    match ethtool(&sock, iface, &mut head) {
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(None),
        r => r?,
    }
    let (indir, key) = (u32_at(&head, 8) as usize, u32_at(&head, 12) as usize);
    if indir > 1 << 16 || key > 1 << 10 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("driver reports an RSS table of {indir} and a key of {key} bytes")));
    }
    let mut buf = vec![0u8; RXFH_HEADER + 4 * indir + key];
    buf[0..4].copy_from_slice(&ETHTOOL_GRSSH.to_ne_bytes());
    buf[8..12].copy_from_slice(&(indir as u32).to_ne_bytes());
    buf[12..16].copy_from_slice(&(key as u32).to_ne_bytes());
    ethtool(&sock, iface, &mut buf)?;
    let table = (0..indir).map(|i| u32_at(&buf, RXFH_HEADER + 4 * i)).collect();
    let key = buf[RXFH_HEADER + 4 * indir..].to_vec();
    Ok(Some(RssConfig { key, table, hfunc: buf[16], input_xfrm: buf[17], tcp4_four_tuple: tcp4_fields(&sock, iface) }))
}

/// Whether TCP/IPv4 is hashed over addresses and ports (`ETHTOOL_GRXFH`); None if the
/// driver does not say.
fn tcp4_fields(sock: &OwnedFd, iface: &str) -> Option<bool> {
    // `struct ethtool_rxnfc` is larger; for GRXFH the kernel copies only cmd, flow_type
    // and data, but a whole-struct-sized zeroed buffer is safe for any version.
    let mut b = [0u8; 256];
    b[0..4].copy_from_slice(&ETHTOOL_GRXFH.to_ne_bytes());
    b[4..8].copy_from_slice(&TCP_V4_FLOW.to_ne_bytes());
    ethtool(sock, iface, &mut b).ok()?;
    let data = u64::from_ne_bytes(b[8..16].try_into().ok()?);
    let all = RXH_IP_SRC | RXH_IP_DST | RXH_L4_B_0_1 | RXH_L4_B_2_3;
    Some(data & all == all)
}

const ETHTOOL_GDRVINFO: u32 = 0x03;

/// The name of `iface`'s driver (`ethtool -i`): from sysfs, else `ETHTOOL_GDRVINFO`
/// (virtual devices such as veth have no `device` link).
pub fn driver(iface: &str) -> Option<String> {
    if let Ok(p) = std::fs::read_link(format!("/sys/class/net/{iface}/device/driver")) {
        if let Some(name) = p.file_name() {
            return Some(name.to_string_lossy().into_owned());
        }
    }
    let sock = ioctl_socket().ok()?;
    // `struct ethtool_drvinfo`: cmd, then driver[32], version[32], ... (196 bytes).
    let mut b = [0u8; 256];
    b[0..4].copy_from_slice(&ETHTOOL_GDRVINFO.to_ne_bytes());
    ethtool(&sock, iface, &mut b).ok()?;
    let name = &b[4..36];
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    (end > 0).then(|| String::from_utf8_lossy(&name[..end]).into_owned())
}
