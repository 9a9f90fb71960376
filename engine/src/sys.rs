//! Thin, safe wrappers over the few raw syscalls the engine makes outside the AF_XDP
//! datapath: privileges and limits, interface lookup, eventfd and poll(2) for sleeping
//! workers, SIOCOUTQ. With `xsk`, the only module allowed `unsafe`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// True when the process runs with effective uid 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Raises RLIMIT_MEMLOCK to unlimited (UMEM registration and BPF maps pin memory).
/// Where that is not permitted (no CAP_SYS_RESOURCE, e.g. in a container), the soft
/// limit is raised to the hard one and Ok is returned if CAP_IPC_LOCK exempts us from
/// the limit anyway; otherwise the error comes back.
pub fn raise_memlock_limit() -> io::Result<()> {
    match set_memlock(libc::RLIM_INFINITY, libc::RLIM_INFINITY) {
        Ok(()) => Ok(()),
        Err(e) => {
            // SAFETY: `cur` is a valid rlimit to write into, alive for the call.
            let mut cur = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut cur) } == 0 {
                let _ = set_memlock(cur.rlim_max, cur.rlim_max);
            }
            if has_effective_cap(CAP_IPC_LOCK) { Ok(()) } else { Err(e) }
        }
    }
}

const CAP_IPC_LOCK: u32 = 14;

/// Whether capability number `cap` is in this process's effective set.
pub fn has_effective_cap(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("CapEff:")).and_then(|l| u64::from_str_radix(l[7..].trim(), 16).ok()))
        .is_some_and(|mask| mask & (1u64 << cap) != 0)
}

fn set_memlock(cur: libc::rlim_t, max: libc::rlim_t) -> io::Result<()> {
    let lim = libc::rlimit { rlim_cur: cur, rlim_max: max };
    // SAFETY: `lim` is a valid, initialised rlimit that outlives the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// The interface index of `name`, or None when no such interface exists.
pub fn if_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// A Linux eventfd: a counter other threads bump to wake a thread sleeping in poll().
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative return is a new descriptor
        // that we own from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Makes the descriptor readable (a no-op if it already is, beyond the counter).
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from `one`, which is valid for the duration of the call.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter, so the descriptor is no longer readable.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into `v`, valid for the duration of the call; the
        // descriptor is non-blocking, so an empty counter returns EAGAIN at once.
        let _ = unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.0.as_fd()
    }
}

/// A TCP socket's unacknowledged plus unsent bytes (SIOCOUTQ).
pub fn unacked_bytes(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one c_int through the pointer, which points at a
    // live local; `fd` is a valid open descriptor for the call's duration.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Waits up to `timeout_ms` until `a` or `b` is readable; returns true if one was.
pub fn poll_either(a: BorrowedFd<'_>, b: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    poll_in(&mut [pollin(a), pollin(b)], timeout_ms)
}

/// Waits up to `timeout_ms` for `fd` to become readable; returns true if it did.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    poll_in(&mut [pollin(fd)], timeout_ms)
}

fn pollin(fd: BorrowedFd<'_>) -> libc::pollfd {
    libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }
}

/// poll(2) over `fds`: true if any became ready, false on timeout or interruption.
fn poll_in(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<bool> {
    // SAFETY: `fds` is a valid, initialised pollfd array of the given length that
    // outlives the call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    match rc {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(e) }
        }
    }
}
