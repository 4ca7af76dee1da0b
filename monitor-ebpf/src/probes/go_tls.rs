//! Go `crypto/tls`: `(*Conn).Write`, `(*Conn).Read` and `(*Conn).Close`, compiled into each Go
//! binary.
//!
//! Go's register ABI (`ABIInternal`, Go ≥ 1.17 on x86-64) passes the receiver and the slice in
//! RAX (the `*tls.Conn`), RBX (data) and RCX (length), returns the byte count in RAX, and keeps
//! the running goroutine in R14. Returns are probed at each `RET` instruction (userspace finds
//! them by disassembly) because uretprobes break when Go moves a goroutine's stack. Writes are
//! emitted at entry (see `go_tls_write`), reads at return.
//!
//! A call is remembered per goroutine, not per thread: a `Read` that blocks parks its goroutine,
//! and the goroutine may resume on another thread. The socket is found by following the
//! connection's fields (`tls.Conn.conn` → `net.conn.fd` → `netFD.pfd.Sysfd`), since Go's
//! network syscalls are not made inside the call on the same thread in general.
use aya_ebpf::{
    EbpfContext as _,
    bindings::pt_regs,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user, generated::bpf_get_attach_cookie},
    macros::{map, uprobe},
    maps::LruHashMap,
    programs::ProbeContext,
};
use monitor_common::{SockKey, counter, direction, protocol, record_kind, source};

use crate::{
    emit::{Call, emit_call, emit_marker},
    maps::{MONITOR_TGID, PendingCall, SOCKETS, SslKey, ThreadIdentity, count},
    ssl_sockets, tls_call_fds,
};

/// Offset of the data word of `tls.Conn.conn` (a `net.Conn` interface: itab, data), the first
/// field of `tls.Conn`.
const CONN_IFACE_DATA: u64 = 8;
/// Offset of `Sysfd` in `net.netFD` (`pfd poll.FD` first; `poll.FD` starts with the 16-byte
/// `fdMutex`). Unchanged from Go 1.9 to today.
const NETFD_SYSFD: u64 = 16;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct GoCallKey {
    /// The goroutine (`g` pointer, R14).
    pub goroutine: u64,
    pub tgid: u32,
    pub _pad: u32,
}

/// Arguments of a Write or Read between its entry and one of its returns, per goroutine. LRU:
/// a goroutine that never returns (its process killed) must not fill the table; a call evicted
/// while live shows up as an orphan return.
#[map]
static GO_PENDING: LruHashMap<GoCallKey, PendingCall> = LruHashMap::with_max_entries(16384, 0);

#[inline(always)]
fn regs(ctx: &ProbeContext) -> &pt_regs {
    // SAFETY: a uprobe's context is the user registers at the probe.
    unsafe { &*ctx.regs }
}

#[inline(always)]
fn current_tgid() -> Option<u32> {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    (tgid != MONITOR_TGID.load()).then_some(tgid)
}

/// Ties the `*tls.Conn` to its socket once, and marks the socket TLS so that its ciphertext is
/// not copied as a second stream. Returns the socket, 0 if unknown.
#[inline(always)]
fn tie_socket(conn: u64, tgid: u32) -> u64 {
    let key = SslKey {
        ssl: conn,
        tgid,
        _pad: 0,
    };
    let known = ssl_sockets::get(&key);
    if known != 0 {
        return known;
    }
    // SAFETY (all three): user memory through the helper; a conn that is not over a
    // `*net.TCPConn` yields an fd that is not a tracked socket, or a read fault.
    let Ok(data) = (unsafe { bpf_probe_read_user((conn + CONN_IFACE_DATA) as *const u64) }) else {
        return 0;
    };
    let Ok(netfd) = (unsafe { bpf_probe_read_user(data as *const u64) }) else {
        return 0;
    };
    let Ok(fd) = (unsafe { bpf_probe_read_user((netfd + NETFD_SYSFD) as *const i64) }) else {
        return 0;
    };
    if !(0..=i64::from(i32::MAX)).contains(&fd) {
        return 0;
    }
    let Some(state) = SOCKETS.get_ptr_mut(&SockKey {
        tgid,
        fd: fd as u32,
    }) else {
        return 0;
    };
    // SAFETY: map value pointer, valid for this program run.
    let state = unsafe { &mut *state };
    state.protocol = protocol::TLS;
    state.tied = 1;
    tls_call_fds::not_http(tgid, fd as u32);
    let _ = ssl_sockets::insert(&key, state.id);
    state.id
}

/// Remembers a call of `goroutine` until one of its `RET`s; `flag` is 0 or `EMITTED_AT_ENTRY`.
#[inline(always)]
fn remember(conn: u64, buf: u64, goroutine: u64, tgid: u32, direction: u8, flag: u8, socket: u64) {
    let pending = PendingCall {
        conn_id: conn,
        buf,
        len_out: 0,
        direction,
        source: source::OPENSSL,
        flag,
        active: 1,
        _pad: [0; 4],
        tie_socket: 0,
        tie_fd: 0,
        // Unused: a goroutine may return on another thread, whose identity its return reads.
        identity: ThreadIdentity {
            uid: 0,
            comm: [0; 16],
        },
        socket,
    };
    let key = GoCallKey {
        goroutine,
        tgid,
        _pad: 0,
    };
    if GO_PENDING.insert(&key, &pending, 0).is_err() {
        count(counter::PENDING_TABLE_FULL, 1);
    }
}

/// Marks a pending Write whose bytes were already emitted at its entry.
const EMITTED_AT_ENTRY: u8 = 1;

/// `(*Conn).Write` is emitted at its entry, not its return. Go reads and writes a connection
/// from two goroutines (net/http's readLoop and writeLoop) on different threads: the reader can
/// get the answer, and its record reach the ring, before the writer's goroutine runs again to
/// its `RET`, and a response ahead of its request pairs with the wrong request. At entry the
/// bytes are complete (Go's Write sends all of them or fails; a failed write is rare and its
/// connection ends), and the request's record is in the ring before it is even sent.
#[uprobe]
pub fn go_tls_write(ctx: ProbeContext) -> u32 {
    let Some(tgid) = current_tgid() else {
        return 0;
    };
    let regs = regs(&ctx);
    let (conn, buf, len, goroutine) = (regs.rax, regs.rbx, regs.rcx, regs.r14);
    let socket = tie_socket(conn, tgid);
    if len > 0 {
        emit_call(&Call {
            conn_id: conn,
            buf,
            len,
            direction: direction::EGRESS,
            source: source::OPENSSL,
            // SAFETY: plain helper on this program's context.
            attach_cookie: unsafe { bpf_get_attach_cookie(ctx.as_ptr()) },
            socket_id: socket,
            flags: 0,
            pid_tgid: bpf_get_current_pid_tgid(),
            identity: ThreadIdentity::current(),
        });
    }
    // Still remembered, so that its `RET` is not counted as an orphan.
    remember(
        conn,
        buf,
        goroutine,
        tgid,
        direction::EGRESS,
        EMITTED_AT_ENTRY,
        socket,
    );
    0
}

#[uprobe]
pub fn go_tls_read(ctx: ProbeContext) -> u32 {
    let Some(tgid) = current_tgid() else {
        return 0;
    };
    let regs = regs(&ctx);
    let (conn, buf, goroutine) = (regs.rax, regs.rbx, regs.r14);
    let socket = tie_socket(conn, tgid);
    remember(conn, buf, goroutine, tgid, direction::INGRESS, 0, socket);
    0
}

/// At a `RET` of Write or Read: RAX holds the byte count.
#[uprobe]
pub fn go_tls_return(ctx: ProbeContext) -> u32 {
    let Some(tgid) = current_tgid() else {
        return 0;
    };
    let regs = regs(&ctx);
    let key = GoCallKey {
        goroutine: regs.r14,
        tgid,
        _pad: 0,
    };
    let Some(pending) = (unsafe { GO_PENDING.get(&key) }).copied() else {
        count(counter::ORPHAN_RETURNS, 1);
        return 0;
    };
    let _ = GO_PENDING.remove(&key);
    let moved = regs.rax as i64;
    if moved <= 0 || pending.flag == EMITTED_AT_ENTRY {
        return 0;
    }
    // Known since the call's entry, unless another goroutine's call tied the conn meanwhile.
    let socket_id = if pending.socket != 0 {
        pending.socket
    } else {
        let key = SslKey {
            ssl: pending.conn_id,
            tgid,
            _pad: 0,
        };
        ssl_sockets::get(&key)
    };
    emit_call(&Call {
        conn_id: pending.conn_id,
        buf: pending.buf,
        len: moved as u64,
        direction: pending.direction,
        source: pending.source,
        // SAFETY: plain helper on this program's context.
        attach_cookie: unsafe { bpf_get_attach_cookie(ctx.as_ptr()) },
        socket_id,
        flags: 0,
        pid_tgid: bpf_get_current_pid_tgid(),
        identity: ThreadIdentity::current(),
    });
    0
}

/// `(*Conn).Close`: the stream ends here; the garbage collector may reuse the address for the
/// next connection.
#[uprobe]
pub fn go_tls_close(ctx: ProbeContext) -> u32 {
    let Some(tgid) = current_tgid() else {
        return 0;
    };
    let conn = regs(&ctx).rax;
    if conn == 0 {
        return 0;
    }
    ssl_sockets::remove(&SslKey {
        ssl: conn,
        tgid,
        _pad: 0,
    });
    // SAFETY: plain helper on this program's context.
    let cookie = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
    emit_marker(record_kind::CLOSE, conn, source::OPENSSL, cookie);
    0
}
