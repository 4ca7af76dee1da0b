//! TCP connections through syscall tracepoints (kprobes are not available everywhere; these are
//! the most portable hooks): `connect`/`accept`/`accept4` give a process's fd a connection id and
//! its peer address, `close` ends it, and the read/write family captures plaintext on tracked
//! connections only.
//!
//! A connection's first bytes decide what it is. HTTP/1 and HTTP/2 keep being copied; anything
//! else (databases, TLS ciphertext, bulk transfers) stops costing payload copies at once. A
//! syscall made while the same thread is inside a probed TLS call is that library's ciphertext:
//! it ties the `SSL*` to the socket (so TLS calls get the socket's addresses) and marks the socket
//! TLS, so its bytes never become a second, garbage stream.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_probe_read_user},
    macros::tracepoint,
    programs::TracePointContext,
};
use monitor_common::{
    AF_INET, AF_INET6, RECOVERED_ID_BIT, SockKey, SockState, SocketOpen, counter, direction,
    protocol, record_kind, role, source,
};

use crate::{
    emit::{Call, emit_call, emit_marker, emit_socket_open, emit_vectored},
    maps::{
        MONITOR_TGID, NEXT_SOCKET_ID, PENDING_CALLS, PENDING_IO, PENDING_SOCKET_OPS, PendingIo,
        PendingSocketOp, SOCKETS, SSL_SOCKETS, SslKey, count,
    },
};

/// Syscall tracepoint records: arguments start at byte 16, 8 bytes each; `ret` is at 16.
const ARG0: usize = 16;
const RET: usize = 16;
const EINPROGRESS: i64 = 115;

#[inline(always)]
fn arg(ctx: &TracePointContext, n: usize) -> u64 {
    // SAFETY: reading the tracepoint record at its documented layout.
    unsafe { ctx.read_at::<u64>(ARG0 + 8 * n) }.unwrap_or(0)
}

#[inline(always)]
fn ret(ctx: &TracePointContext) -> i64 {
    // SAFETY: as above.
    unsafe { ctx.read_at::<i64>(RET) }.unwrap_or(-1)
}

#[inline(always)]
fn current() -> Option<(u64, u32)> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    (tgid != MONITOR_TGID.load()).then_some((pid_tgid, tgid))
}

fn next_id() -> u64 {
    // SAFETY: plain helper.
    let cpu = u64::from(unsafe { bpf_get_smp_processor_id() });
    let Some(counter) = NEXT_SOCKET_ID.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: per-CPU slot.
    let n = unsafe {
        *counter += 1;
        *counter
    };
    // Unique across CPUs; never 0 (which means "unknown"); bit 63 is userspace's.
    ((cpu & 0xff) << 55) | (n & ((1 << 55) - 1))
}

/// Reads a `sockaddr_in`/`sockaddr_in6` from user memory into `open`'s remote address. False
/// for any other family (unix sockets, netlink...), which are not tracked.
fn read_remote(sockaddr: u64, open: &mut SocketOpen) -> bool {
    if sockaddr == 0 {
        return false;
    }
    // SAFETY: user memory through the helper.
    let Ok(family) = (unsafe { bpf_probe_read_user(sockaddr as *const u16) }) else {
        return false;
    };
    // SAFETY: as above; `sin_port`/`sin6_port` at offset 2 in both layouts.
    let port = unsafe { bpf_probe_read_user((sockaddr + 2) as *const u16) }.unwrap_or(0);
    open.remote_port = u16::from_be(port);
    open.family = family;
    match family {
        AF_INET => {
            // SAFETY: as above.
            let addr = unsafe { bpf_probe_read_user((sockaddr + 4) as *const [u8; 4]) };
            if let Ok(addr) = addr {
                open.remote_addr[..4].copy_from_slice(&addr);
            }
            true
        }
        AF_INET6 => {
            // SAFETY: as above.
            let addr = unsafe { bpf_probe_read_user((sockaddr + 8) as *const [u8; 16]) };
            if let Ok(addr) = addr {
                open.remote_addr = addr;
            }
            true
        }
        _ => false,
    }
}

fn remember_op(ctx: &TracePointContext, role: u8) -> u32 {
    let Some((pid_tgid, _)) = current() else {
        return 0;
    };
    let op = PendingSocketOp {
        fd: arg(ctx, 0),
        sockaddr: arg(ctx, 1),
        role,
        _pad: [0; 7],
    };
    if PENDING_SOCKET_OPS.insert(&pid_tgid, &op, 0).is_err() {
        count(counter::PENDING_TABLE_FULL, 1);
    }
    0
}

fn track(tgid: u32, fd: u32, role: u8, open: &mut SocketOpen) {
    let id = next_id();
    let state = SockState {
        id,
        role,
        protocol: protocol::UNKNOWN,
        _pad: [0; 6],
    };
    if SOCKETS.insert(&SockKey { tgid, fd }, &state, 0).is_err() {
        count(counter::SOCKET_TABLE_FULL, 1);
        return;
    }
    open.role = role;
    open.fd = fd;
    emit_socket_open(id, open);
}

#[tracepoint]
pub fn sys_enter_connect(ctx: TracePointContext) -> u32 {
    remember_op(&ctx, role::CLIENT)
}

#[tracepoint]
pub fn sys_exit_connect(ctx: TracePointContext) -> u32 {
    let Some((pid_tgid, tgid)) = current() else {
        return 0;
    };
    let Some(op) = (unsafe { PENDING_SOCKET_OPS.get(&pid_tgid) }).copied() else {
        return 0;
    };
    let _ = PENDING_SOCKET_OPS.remove(&pid_tgid);
    let result = ret(&ctx);
    // A non-blocking connect returns EINPROGRESS and completes later on the same fd.
    if result != 0 && result != -EINPROGRESS {
        return 0;
    }
    let mut open = SocketOpen::default();
    if read_remote(op.sockaddr, &mut open) {
        track(tgid, op.fd as u32, role::CLIENT, &mut open);
    }
    0
}

#[tracepoint]
pub fn sys_enter_accept(ctx: TracePointContext) -> u32 {
    remember_op(&ctx, role::SERVER)
}

#[tracepoint]
pub fn sys_enter_accept4(ctx: TracePointContext) -> u32 {
    remember_op(&ctx, role::SERVER)
}

fn accept_exit(ctx: &TracePointContext) -> u32 {
    let Some((pid_tgid, tgid)) = current() else {
        return 0;
    };
    // No entry: the accept was already blocked when the probes attached (a threaded server
    // waiting for its next client). The new fd is still a connection to track; userspace looks
    // its addresses up (the listening fd is unknown).
    let op = (unsafe { PENDING_SOCKET_OPS.get(&pid_tgid) })
        .copied()
        .unwrap_or(PendingSocketOp {
            fd: u64::from(u32::MAX),
            sockaddr: 0,
            role: role::SERVER,
            _pad: [0; 7],
        });
    let _ = PENDING_SOCKET_OPS.remove(&pid_tgid);
    let fd = ret(ctx);
    if fd < 0 {
        return 0;
    }
    let mut open = SocketOpen {
        listen_fd: op.fd as u32,
        ..SocketOpen::default()
    };
    // Without a peer buffer the family stays 0: userspace looks the addresses up.
    let known = read_remote(op.sockaddr, &mut open);
    if known && open.family != AF_INET && open.family != AF_INET6 {
        return 0;
    }
    track(tgid, fd as u32, role::SERVER, &mut open);
    0
}

#[tracepoint]
pub fn sys_exit_accept(ctx: TracePointContext) -> u32 {
    accept_exit(&ctx)
}

#[tracepoint]
pub fn sys_exit_accept4(ctx: TracePointContext) -> u32 {
    accept_exit(&ctx)
}

#[tracepoint]
pub fn sys_enter_close(ctx: TracePointContext) -> u32 {
    let Some((_, tgid)) = current() else {
        return 0;
    };
    let key = SockKey {
        tgid,
        fd: arg(&ctx, 0) as u32,
    };
    if let Some(state) = (unsafe { SOCKETS.get(&key) }).copied() {
        let _ = SOCKETS.remove(&key);
        emit_marker(record_kind::CLOSE, state.id, source::SOCKET, 0);
    }
    0
}

/// Entry of a read/write-family syscall on `fd`.
fn io_enter(ctx: &TracePointContext, direction: u8, vectored: bool) -> u32 {
    let Some((pid_tgid, tgid)) = current() else {
        return 0;
    };
    let fd = arg(ctx, 0) as u32;
    // The common case on a busy host: not a tracked connection. One lookup and out.
    let Some(state) = SOCKETS.get_ptr_mut(&SockKey { tgid, fd }) else {
        return 0;
    };
    // SAFETY: map value pointer, valid for this program run.
    let state = unsafe { &mut *state };
    if let Some(pending) = unsafe { PENDING_CALLS.get(&pid_tgid) } {
        // Inside SSL_read/SSL_write on this thread: ciphertext of a probed library.
        let key = SslKey {
            ssl: pending.conn_id,
            tgid,
            _pad: 0,
        };
        let _ = SSL_SOCKETS.insert(&key, &state.id, 0);
        state.protocol = protocol::TLS;
    }
    if state.protocol == protocol::OTHER || state.protocol == protocol::TLS {
        if state.protocol == protocol::TLS {
            count(counter::TLS_SOCKET_CALLS_SKIPPED, 1);
        }
        return 0;
    }
    let (buf, iov_count) = if vectored {
        (arg(ctx, 1), arg(ctx, 2))
    } else {
        (arg(ctx, 1), 0)
    };
    let io = PendingIo {
        id: state.id,
        buf,
        iov_count,
        fd,
        direction,
        vectored: vectored as u8,
        _pad: [0; 2],
    };
    if PENDING_IO.insert(&pid_tgid, &io, 0).is_err() {
        count(counter::PENDING_TABLE_FULL, 1);
    }
    0
}

/// `sendmsg`/`recvmsg`: the iovec array and its length are inside the `user_msghdr`.
fn msg_enter(ctx: &TracePointContext, direction: u8) -> u32 {
    let Some((pid_tgid, tgid)) = current() else {
        return 0;
    };
    let fd = arg(ctx, 0) as u32;
    if SOCKETS.get_ptr(&SockKey { tgid, fd }).is_none() {
        return 0;
    }
    let msg = arg(ctx, 1);
    // SAFETY: user memory through the helper; `msg_iov` at 16, `msg_iovlen` at 24 on 64-bit.
    let iov = unsafe { bpf_probe_read_user((msg + 16) as *const u64) }.unwrap_or(0);
    let iov_count = unsafe { bpf_probe_read_user((msg + 24) as *const u64) }.unwrap_or(0);
    let r = io_enter(ctx, direction, true);
    if let Some(io) = PENDING_IO.get_ptr_mut(&pid_tgid) {
        // SAFETY: map value pointer.
        unsafe {
            (*io).buf = iov;
            (*io).iov_count = iov_count;
        }
    }
    r
}

/// Classifies a connection from its first bytes (at least 4 are needed).
fn classify(first: u64, len: i64) -> u8 {
    if len < 4 {
        return protocol::UNKNOWN;
    }
    let word = first as u32;
    const fn w(s: &[u8; 4]) -> u32 {
        u32::from_le_bytes(*s)
    }
    if word == w(b"PRI ") || (len >= 9 && is_settings_frame(first)) {
        return protocol::HTTP2;
    }
    if word == w(b"HTTP")
        || word == w(b"GET ")
        || word == w(b"POST")
        || word == w(b"PUT ")
        || word == w(b"HEAD")
        || word == w(b"DELE")
        || word == w(b"PATC")
        || word == w(b"OPTI")
        || word == w(b"CONN")
        || word == w(b"TRAC")
    {
        return protocol::HTTP1;
    }
    protocol::OTHER
}

/// An HTTP/2 server's first bytes: a SETTINGS frame header on stream 0 (servers often write it
/// before reading the client's preface). Bytes: length (3, a multiple of 6), type 4, flags 0,
/// then the stream id, whose first three bytes are in `first` and must be 0.
fn is_settings_frame(first: u64) -> bool {
    let byte = |i: u32| (first >> (8 * i)) as u8;
    let len = (u32::from(byte(0)) << 16) | (u32::from(byte(1)) << 8) | u32::from(byte(2));
    byte(3) == 4
        && byte(4) == 0
        && byte(5) == 0
        && byte(6) == 0
        && byte(7) == 0
        && len % 6 == 0
        && len <= 16_384
}

/// A plausible HTTP/2 frame header in the first 8 bytes: length at most 16 KiB, a defined type
/// with only that type's flags, the reserved bit clear.
fn is_frame_header(first: u64) -> bool {
    let byte = |i: u32| (first >> (8 * i)) as u8;
    let len = (u32::from(byte(0)) << 16) | (u32::from(byte(1)) << 8) | u32::from(byte(2));
    let allowed_flags: u8 = match byte(3) {
        0 => 0x09,
        1 => 0x2d,
        4 | 6 => 0x01,
        5 => 0x0c,
        9 => 0x04,
        2 | 3 | 7 | 8 => 0,
        _ => return false,
    };
    len <= 16_384 && byte(4) & !allowed_flags == 0 && byte(5) & 0x80 == 0
}

/// What every exit needs: the pending call, the bytes moved, and whether the connection's bytes
/// are to be copied (deciding the protocol on its first bytes).
fn io_exit_prepare(ctx: &TracePointContext) -> Option<(PendingIo, u64)> {
    let (pid_tgid, tgid) = current()?;
    let io = (unsafe { PENDING_IO.get(&pid_tgid) }).copied()?;
    let _ = PENDING_IO.remove(&pid_tgid);
    let moved = ret(ctx);
    if moved <= 0 {
        return None;
    }
    let state = SOCKETS.get_ptr_mut(&SockKey { tgid, fd: io.fd })?;
    // SAFETY: map value pointer.
    let state = unsafe { &mut *state };
    if state.id != io.id {
        return None;
    }
    if state.protocol == protocol::UNKNOWN {
        let first_buf = if io.vectored != 0 {
            // SAFETY: user memory through the helper: iov[0].iov_base.
            unsafe { bpf_probe_read_user(io.buf as *const u64) }.unwrap_or(0)
        } else {
            io.buf
        };
        // SAFETY: as above.
        let first = unsafe { bpf_probe_read_user(first_buf as *const u64) }.unwrap_or(0);
        state.protocol = classify(first, moved);
        // A connection older than the monitor is seen mid-stream: an HTTP/2 one starts with
        // any frame, not with the preface (userspace checks the frames strictly).
        if state.protocol == protocol::OTHER
            && state.id & RECOVERED_ID_BIT != 0
            && moved >= 9
            && is_frame_header(first)
        {
            state.protocol = protocol::HTTP2;
        }
        if state.protocol == protocol::OTHER {
            count(counter::SOCKETS_NOT_HTTP, 1);
            // A TLS record header (handshake, version 3.x): tell userspace, which knows whether
            // a probed library reads this connection.
            if first as u16 == 0x0316 {
                emit_marker(record_kind::TLS_HANDSHAKE, state.id, source::SOCKET, 0);
            }
        }
    }
    if state.protocol != protocol::HTTP1 && state.protocol != protocol::HTTP2 {
        return None;
    }
    Some((io, moved as u64))
}

fn socket_call(io: &PendingIo, buf: u64, len: u64) -> Call {
    Call {
        conn_id: io.id,
        buf,
        len,
        direction: io.direction,
        source: source::SOCKET,
        attach_cookie: 0,
        socket_id: io.id,
    }
}

/// Exit of `read`/`write`/`recvfrom`/`sendto`: one buffer.
fn io_exit(ctx: &TracePointContext) -> u32 {
    if let Some((io, moved)) = io_exit_prepare(ctx) {
        emit_call(&socket_call(&io, io.buf, moved));
    }
    0
}

/// Exit of the vectored calls: the iovecs' bytes, in order, as if one buffer had been written
/// (see `emit_vectored`).
fn io_exit_vectored(ctx: &TracePointContext) -> u32 {
    if let Some((io, moved)) = io_exit_prepare(ctx) {
        emit_vectored(&socket_call(&io, io.buf, moved), io.iov_count);
    }
    0
}

macro_rules! io_probes {
    ($enter:ident, $exit:ident, $direction:expr, false) => {
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            io_enter(&ctx, $direction, false)
        }
        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            io_exit(&ctx)
        }
    };
    ($enter:ident, $exit:ident, $direction:expr, true) => {
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            io_enter(&ctx, $direction, true)
        }
        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            io_exit_vectored(&ctx)
        }
    };
}

io_probes!(sys_enter_write, sys_exit_write, direction::EGRESS, false);
io_probes!(sys_enter_read, sys_exit_read, direction::INGRESS, false);
io_probes!(sys_enter_sendto, sys_exit_sendto, direction::EGRESS, false);
/// `recv(..., MSG_PEEK)`: bytes that a later read returns again (curl peeks one byte to see
/// whether a kept-alive connection is still open). Copying them would put them twice in the
/// stream.
const MSG_PEEK: u64 = 0x2;

#[tracepoint]
pub fn sys_enter_recvfrom(ctx: TracePointContext) -> u32 {
    if arg(&ctx, 3) & MSG_PEEK != 0 {
        return 0;
    }
    io_enter(&ctx, direction::INGRESS, false)
}

#[tracepoint]
pub fn sys_exit_recvfrom(ctx: TracePointContext) -> u32 {
    io_exit(&ctx)
}
io_probes!(sys_enter_writev, sys_exit_writev, direction::EGRESS, true);
io_probes!(sys_enter_readv, sys_exit_readv, direction::INGRESS, true);

#[tracepoint]
pub fn sys_enter_sendmsg(ctx: TracePointContext) -> u32 {
    msg_enter(&ctx, direction::EGRESS)
}

#[tracepoint]
pub fn sys_exit_sendmsg(ctx: TracePointContext) -> u32 {
    io_exit_vectored(&ctx)
}

#[tracepoint]
pub fn sys_enter_recvmsg(ctx: TracePointContext) -> u32 {
    if arg(&ctx, 2) & MSG_PEEK != 0 {
        return 0;
    }
    msg_enter(&ctx, direction::INGRESS)
}

#[tracepoint]
pub fn sys_exit_recvmsg(ctx: TracePointContext) -> u32 {
    io_exit_vectored(&ctx)
}
