//! The raw syscalls only the datapath makes: attaching the XDP program through a BPF
//! link, and the busy-polling options and kicks of an AF_XDP socket.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// How an XDP program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver's receive path (XDP_FLAGS_DRV_MODE).
    Native,
    /// In the generic skb path (XDP_FLAGS_SKB_MODE); works on every device, slower.
    Generic,
}

const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// Attaches the XDP program `prog` to `ifindex` through a BPF link in the given mode.
/// The attachment lives exactly as long as the returned descriptor: when the process
/// exits, even by SIGKILL, the kernel closes it and the program is detached.
pub fn xdp_link_create(prog: BorrowedFd<'_>, ifindex: u32, mode: AttachMode) -> io::Result<OwnedFd> {
    use libbpf_rs::libbpf_sys;
    let flags = match mode {
        AttachMode::Native => XDP_FLAGS_DRV_MODE,
        AttachMode::Generic => XDP_FLAGS_SKB_MODE,
    };
    let opts = libbpf_sys::bpf_link_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as libbpf_sys::size_t,
        flags,
        ..Default::default()
    };
    // SAFETY: `prog` is a live BPF program fd and `opts` is a correctly sized,
    // initialised options struct; both outlive the call. libbpf returns a new fd or -errno.
    let fd = unsafe {
        libbpf_sys::bpf_link_create(prog.as_raw_fd(), ifindex as i32, libbpf_sys::BPF_XDP, &opts)
    };
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

const SO_BUSY_POLL: libc::c_int = 46;
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// Busy polling on an AF_XDP socket (Linux 5.11+): the application's polls run the
/// driver's NAPI for up to `usecs`, `budget` packets at a time; with `prefer`
/// (`SO_PREFER_BUSY_POLL`) the driver also keeps its interrupts off while the application
/// keeps polling (with the device's `napi_defer_hard_irqs` and `gro_flush_timeout` set).
pub fn set_busy_poll(fd: BorrowedFd<'_>, usecs: u32, budget: u16, prefer: bool) -> io::Result<()> {
    for (opt, v) in [(SO_PREFER_BUSY_POLL, prefer as libc::c_int), (SO_BUSY_POLL, usecs as libc::c_int), (SO_BUSY_POLL_BUDGET, budget as libc::c_int)] {
        // SAFETY: passes a pointer to a live c_int and its size; `fd` is an open socket
        // for the call's duration.
        let rc = unsafe {
            libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, opt, (&v as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t)
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A zero-length, non-blocking `recvfrom` on `fd`: on a busy-polling AF_XDP socket it
/// runs the driver's NAPI; its result carries nothing.
pub fn recv_nothing(fd: BorrowedFd<'_>) {
    // SAFETY: a null buffer of length 0 and null address pointers are valid for
    // recvfrom; `fd` is an open socket for the call's duration.
    let _ = unsafe { libc::recvfrom(fd.as_raw_fd(), std::ptr::null_mut(), 0, libc::MSG_DONTWAIT, std::ptr::null_mut(), std::ptr::null_mut()) };
}
