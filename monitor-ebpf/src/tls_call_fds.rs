//! The socket syscalls a TLS library makes inside its calls, once its handle is tied to the
//! connection, and those on a plaintext HTTP connection once nothing is left to learn about it:
//! let through (TLS) or recorded (HTTP) after array reads instead of the socket table's hash
//! lookup. That lookup cost more than the rest of such a syscall's entry probe, for syscalls
//! whose connection was settled long ago: the tie is made once per connection, and an HTTP
//! connection's protocol and ends are learnt once.
//!
//! Two arrays, whose lookups the verifier inlines:
//! - `TLS_CALLS`, per thread (a slot of `tracked_slot(tid)`): inside a TLS call whose handle is
//!   tied, the socket it is tied to. Written at the call's entry, cleared at its return.
//! - `TLS_FDS`, per (process, fd): the connection tracked on that fd (written when it is
//!   tracked, cleared at its close), marked by the full path (`probes::socket::io_enter`):
//!   - `FLAG` when a syscall inside a TLS call found it tied to the call's handle, carrying
//!     TLS, its addresses known;
//!   - `HTTP` when a syscall outside TLS calls found it carrying HTTP/1 or HTTP/2, its
//!     addresses known, no TLS record seen on it and no handle tied to it. Whatever would
//!     change that (a tie made inside a TLS call) clears the mark.
//!
//! A syscall inside a TLS call passes when the fd's slot is its own, ready, and holds the
//! socket the call's handle is tied to. A handle reused on a new connection (`SSL_clear`,
//! `SSL_set_fd`) finds the new connection's slot not ready and goes the full path, which ties
//! it again; so does every syscall outside TLS calls (memory-BIO libraries' ciphertext). A
//! syscall outside TLS calls on an `HTTP` slot is recorded for its exit with the slot's
//! connection, unless the thread may hold a TLS tie to make (`thread_ties`).
//!
//! Slots are shared by whatever hashes to them: a thread or fd only ever matches a word holding
//! its own ids, so another's write only sends it the full way. A writer clears the word before
//! it writes the socket, and the `HTTP` fast path, which takes its connection id from the slot,
//! reads the word before and after the socket. The `HTTP` mark is set by a compare-and-swap and
//! undone if the connection changed meanwhile, and never on a connection userspace recovered at
//! startup (its slot was never written by `socket_opened`, so it may be another's).
use monitor_common::{RECOVERED_ID_BIT, tracked_slot};

use crate::maps::{TLS_CALLS, TLS_FDS, TlsSlot, compare_exchange};

/// In a `TLS_CALLS` word: a call is in progress. In a `TLS_FDS` word: the full path has nothing
/// left to do for the fd's syscalls inside TLS calls tied to its socket.
const FLAG: u64 = 1 << 31;
/// In a `TLS_FDS` word: the fd's connection carries plaintext HTTP, its ends are known, and it
/// is tied to no TLS handle.
const HTTP: u64 = 1 << 30;
const MARKS: u64 = FLAG | HTTP;
/// Fds from here on would alias lower ones in a word (the kernel allows up to about 2^31): they
/// never get the `HTTP` mark, and always take the full path.
const FD_LIMIT: u32 = 1 << 30;

#[inline(always)]
fn thread_slot(pid_tgid: u64) -> Option<*mut TlsSlot> {
    TLS_CALLS.get_ptr_mut(tracked_slot(pid_tgid as u32))
}

/// The thread's id in the high half.
#[inline(always)]
fn thread_word(pid_tgid: u64) -> u64 {
    pid_tgid << 32
}

#[inline(always)]
fn fd_slot(tgid: u32, fd: u32) -> Option<*mut TlsSlot> {
    TLS_FDS.get_ptr_mut(tracked_slot(tgid ^ fd.wrapping_mul(0x85eb_ca6b)))
}

/// The process's id in the high half, the fd below.
#[inline(always)]
fn fd_word(tgid: u32, fd: u32) -> u64 {
    (u64::from(tgid) << 32) | u64::from(fd & 0x3fff_ffff)
}

/// Writes a slot: the word cleared first, then the socket, then the new word, so that a reader
/// that reads the word, the socket and the word again, and finds its own word both times, read
/// the socket written with it (on x86, whose stores and loads keep their order).
#[inline(always)]
fn write(slot: *mut TlsSlot, word: u64, socket: u64) {
    // SAFETY: array value pointer, valid for this program run.
    unsafe {
        core::ptr::write_volatile(&raw mut (*slot).word, 0);
        core::ptr::write_volatile(&raw mut (*slot).socket, socket);
        core::ptr::write_volatile(&raw mut (*slot).word, word);
    }
}

/// A connection on `fd` of process `tgid` is tracked as `socket` (not ready).
#[inline(always)]
pub fn socket_opened(tgid: u32, fd: u32, socket: u64) {
    if let Some(slot) = fd_slot(tgid, fd) {
        write(slot, fd_word(tgid, fd), socket);
    }
}

/// The connection on `fd` of process `tgid` is closed.
#[inline(always)]
pub fn socket_closed(tgid: u32, fd: u32) {
    if let Some(slot) = fd_slot(tgid, fd) {
        // SAFETY: array value pointer, valid for this program run.
        unsafe {
            if (*slot).word & !MARKS == fd_word(tgid, fd) {
                (*slot).word = 0;
            }
        }
    }
}

/// The full path found a syscall inside a TLS call on `fd`, whose connection `socket` is tied
/// to the call's handle, TLS, its addresses known: nothing left to do there. Only the slot
/// `socket_opened` wrote for that very connection is marked: if another thread closed the fd
/// and a new connection took it since the full path read the socket table, the new one's slot
/// stays as it is. (Connections userspace recovered at startup were never opened here: their
/// slot is written whole, which a new connection on the fd overwrites in turn.)
#[inline(always)]
pub fn ready(tgid: u32, fd: u32, socket: u64) {
    let Some(slot) = fd_slot(tgid, fd) else {
        return;
    };
    let own = fd_word(tgid, fd);
    // SAFETY: array value pointer, valid for this program run.
    let (word, opened) = unsafe { ((*slot).word, (*slot).socket) };
    if word == own && opened == socket {
        // SAFETY: as above.
        unsafe { (*slot).word = own | FLAG };
    } else if socket & RECOVERED_ID_BIT != 0 && word & !MARKS != own {
        write(slot, own | FLAG, socket);
    }
}

/// The full path found the connection `socket` on `fd` carrying plaintext HTTP, its ends known,
/// no TLS record seen on it and no handle tied to it, outside a TLS call. Marked only on the
/// slot `socket_opened` wrote for that very connection (never for one userspace recovered,
/// whose slot may be stale), with a compare-and-swap; `still_http` then reads the socket
/// table's state again, and the mark is undone if a tie or a new connection came in between.
#[inline(always)]
pub fn http_ready(tgid: u32, fd: u32, socket: u64, still_http: impl Fn() -> bool) {
    if fd >= FD_LIMIT {
        return;
    }
    let Some(slot) = fd_slot(tgid, fd) else {
        return;
    };
    let own = fd_word(tgid, fd);
    // SAFETY (all): array value pointer, valid for this program run.
    let (word, socket_of) = unsafe { (&raw mut (*slot).word, &raw const (*slot).socket) };
    let opened = || unsafe { core::ptr::read_volatile(socket_of) } == socket;
    // A plain read first: a thread that keeps taking the full path on a marked connection (one
    // with TLS ties pending) would otherwise pay a locked instruction per syscall.
    if unsafe { core::ptr::read_volatile(word) } != own
        || !opened()
        || compare_exchange(word, own, own | HTTP) != own
    {
        return;
    }
    if !opened() || !still_http() {
        compare_exchange(word, own | HTTP, own);
    }
}

/// The connection on `fd` is being tied to a TLS handle: its syscalls take the full path again.
#[inline(always)]
pub fn not_http(tgid: u32, fd: u32) {
    if let Some(slot) = fd_slot(tgid, fd) {
        let own = fd_word(tgid, fd);
        // SAFETY: array value pointer, valid for this program run.
        compare_exchange(unsafe { &raw mut (*slot).word }, own | HTTP, own);
    }
}

/// The connection on `fd` if its slot is marked `HTTP`: the word, the socket and the word
/// again (see `write`), as another process's fd may share the slot.
#[inline(always)]
pub fn http_socket(tgid: u32, fd: u32) -> Option<u64> {
    if fd >= FD_LIMIT {
        return None;
    }
    let slot = fd_slot(tgid, fd)?;
    let marked = fd_word(tgid, fd) | HTTP;
    // SAFETY (all): array value pointer, valid for this program run.
    unsafe {
        if core::ptr::read_volatile(&raw const (*slot).word) != marked {
            return None;
        }
        let socket = core::ptr::read_volatile(&raw const (*slot).socket);
        (core::ptr::read_volatile(&raw const (*slot).word) == marked).then_some(socket)
    }
}

/// True when the thread is inside a TLS call tied to the connection on `fd`, and that
/// connection is ready: the full path would only let the syscall through.
#[inline(always)]
pub fn passes(pid_tgid: u64, tgid: u32, fd: u32) -> bool {
    // The thread's slot first: outside TLS calls (plaintext HTTP) that is the only read.
    let Some(call) = thread_slot(pid_tgid) else {
        return false;
    };
    // SAFETY: array value pointers, valid for this program run.
    unsafe {
        if (*call).word != thread_word(pid_tgid) | FLAG {
            return false;
        }
        fd_slot(tgid, fd).is_some_and(|open| {
            (*open).word == fd_word(tgid, fd) | FLAG && (*open).socket == (*call).socket
        })
    }
}

/// A TLS call starts on a handle tied to `socket` (0: not tied yet).
#[inline(always)]
pub fn call_starts(pid_tgid: u64, socket: u64) {
    let Some(slot) = thread_slot(pid_tgid) else {
        return;
    };
    if socket != 0 {
        write(slot, thread_word(pid_tgid) | FLAG, socket);
    } else {
        forget(pid_tgid);
    }
}

/// The thread's TLS call returned, or the thread ends or runs `exec`.
#[inline(always)]
pub fn forget(pid_tgid: u64) {
    if let Some(slot) = thread_slot(pid_tgid) {
        // SAFETY: array value pointer, valid for this program run.
        unsafe {
            if (*slot).word & !FLAG == thread_word(pid_tgid) {
                (*slot).word = 0;
            }
        }
    }
}
