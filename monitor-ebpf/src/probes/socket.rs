//! TCP connections through syscall tracepoints (kprobes are not available everywhere; these are
//! the most portable hooks): `connect`/`accept`/`accept4` give a process's fd a connection id and
//! its peer address, `close` ends it, and the read/write family captures plaintext on tracked
//! connections only.
//!
//! A connection's first bytes decide what it is. HTTP/1 and HTTP/2 keep being copied; anything
//! else (databases, TLS ciphertext, bulk transfers) stops costing payload copies at once. A
//! syscall made while the same thread is inside a probed TLS call is that library's ciphertext:
//! it ties the `SSL*` to the socket (so TLS calls get the socket's addresses) and marks the socket
//! TLS, so its bytes never become a second, garbage stream. Once tied, such syscalls pass after
//! two array reads (`tls_call_fds`).
//!
//! Libraries behind memory BIOs (node's static OpenSSL) do no socket I/O inside their calls:
//! the application reads ciphertext, then calls `SSL_read`; it calls `SSL_write`, then sends
//! the ciphertext. For them the thread's last ciphertext read, or its next ciphertext write,
//! ties the handle instead (`THREAD_TIES`, see `probes::openssl`), only ever to a socket whose
//! first bytes were a TLS record and that no handle is tied to yet.
//!
//! `accept` tells the peer's address only when the caller asks for it (node does not) and
//! `connect` never tells the local one; userspace's `/proc` lookup comes too late for a short
//! connection, whose fd may even belong to a later connection by then. So the connection's
//! first read that moves bytes reports both ends from the kernel: `tcp_rcv_space_adjust` fires
//! inside that very read (for each piece copied), in the reading thread, with the socket's
//! addresses. It can also fire from an interrupt for another socket while the thread is in its
//! read: the addresses are reported at the read's exit only if every firing during the read was
//! for one and the same socket (a read that copied bytes always fires for its own).
use aya_ebpf::{
    EbpfContext as _,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_probe_read_user,
    },
    macros::tracepoint,
    programs::TracePointContext,
};
use monitor_common::{
    AF_INET, AF_INET6, RECOVERED_ID_BIT, SockKey, SockState, SocketOpen, counter, direction,
    protocol, record_kind, role, source, tracked_slot,
};

use crate::{
    emit::{Call, emit_call, emit_marker, emit_socket_open, emit_tie, emit_vectored},
    maps::{
        ADDR_SEEN, AddrSeen, MAX_TIE_GAP_NS, MONITOR_TGID, NEXT_SOCKET_ID, PENDING_SOCKET_OPS,
        PendingIo, PendingSocketOp, SOCKETS, SslKey, TRACKED_TGIDS, TRACKING_ARMED, ThreadTie,
        count, may_await_addrs, may_be_pending, may_be_tracked, slot_add,
    },
    pending_calls, pending_io, ssl_sockets, thread_ties, tls_call_fds,
};

/// Syscall tracepoint records: arguments start at byte 16, 8 bytes each; `ret` is at 16.
const ARG0: usize = 16;
const RET: usize = 16;
const EINPROGRESS: i64 = 115;

/// A plain load from the tracepoint record, which a tracepoint program may read directly
/// (`TracePointContext::read_at` goes through the `bpf_probe_read_kernel` helper: a call that
/// costs more than the rest of an untracked syscall's work).
#[inline(always)]
fn record_u64(ctx: &TracePointContext, offset: usize) -> u64 {
    // SAFETY: an aligned offset inside the syscall tracepoint's record (its documented layout).
    unsafe { core::ptr::read((ctx.as_ptr() as *const u8).add(offset) as *const u64) }
}

#[inline(always)]
fn arg(ctx: &TracePointContext, n: usize) -> u64 {
    record_u64(ctx, ARG0 + 8 * n)
}

#[inline(always)]
fn ret(ctx: &TracePointContext) -> i64 {
    record_u64(ctx, RET) as i64
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
    // Not before every program is attached (see `TRACKING_ARMED`): the `/proc` scan that
    // follows the arming finds the connections opened until then.
    if TRACKING_ARMED.get(0).is_none_or(|armed| *armed == 0) {
        return;
    }
    let id = next_id();
    let state = SockState {
        id,
        role,
        protocol: protocol::UNKNOWN,
        tls_records: 0,
        tied: 0,
        addrs: 0,
        _pad: [0; 3],
    };
    if SOCKETS.insert(&SockKey { tgid, fd }, &state, 0).is_err() {
        count(counter::SOCKET_TABLE_FULL, 1);
        return;
    }
    slot_add(&TRACKED_TGIDS, tracked_slot(tgid), 1);
    tls_call_fds::socket_opened(tgid, fd, id);
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
    if !may_be_tracked(tgid) {
        return 0;
    }
    let key = SockKey {
        tgid,
        fd: arg(&ctx, 0) as u32,
    };
    if let Some(state) = (unsafe { SOCKETS.get(&key) }).copied() {
        tls_call_fds::socket_closed(tgid, key.fd);
        // Only the close that removed the entry takes it off the count (two threads may race).
        if SOCKETS.remove(&key).is_ok() {
            slot_add(&TRACKED_TGIDS, tracked_slot(tgid), u64::MAX);
        }
        emit_marker(record_kind::CLOSE, state.id, source::SOCKET, 0);
    }
    0
}

/// True when `first` (a call's first 8 bytes, little-endian) starts a TLS record: content type
/// 20..=23, version 3.x, a length a record may have. `len` is the bytes available.
#[inline(always)]
fn is_tls_record(first: u64, len: u64) -> bool {
    let byte = |i: u32| (first >> (8 * i)) as u8;
    let record_len = (u16::from(byte(3)) << 8) | u16::from(byte(4));
    len >= 5
        && (0x14..=0x17).contains(&byte(0))
        && byte(1) == 3
        && byte(2) <= 4
        && record_len != 0
        && record_len <= 16_384 + 2_048
}

/// The thread's last ciphertext read was on `socket` (`fd`): the next TLS call may take it.
#[inline(always)]
fn arm_read_tie(pid_tgid: u64, socket: u64, fd: u32) {
    // SAFETY: plain helper.
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some(tie) = thread_ties::get(pid_tgid) {
        // SAFETY: map value pointer, valid for this program run.
        unsafe {
            (*tie).read_socket = socket;
            (*tie).read_fd = fd;
            (*tie).read_ns = now;
        }
        return;
    }
    let tie = ThreadTie {
        read_socket: socket,
        read_ns: now,
        write_ssl: 0,
        write_cookie: 0,
        write_ns: 0,
        read_fd: fd,
        _pad: 0,
    };
    thread_ties::insert(pid_tgid, &tie);
}

/// A read or write on a tracked socket outside any TLS call. A read replaces the thread's last
/// ciphertext read (it is no longer the last one). A write takes the thread's pending
/// `SSL_write` handle: it is that call's ciphertext when the socket carries TLS records, has no
/// handle yet, and the bytes start with a TLS record; any other write means the ciphertext went
/// elsewhere, and the pending handle is dropped either way.
#[inline(always)]
fn outside_tls_call(
    pid_tgid: u64,
    (tgid, fd): (u32, u32),
    state: &mut SockState,
    direction: u8,
    (buf, vectored): (u64, bool),
) {
    let Some(tie) = thread_ties::get(pid_tgid) else {
        return;
    };
    // SAFETY: map value pointer, valid for this program run.
    let tie = unsafe { &mut *tie };
    if direction == direction::INGRESS {
        tie.read_socket = 0;
        thread_ties::release_if_empty(pid_tgid, tie);
        return;
    }
    let (ssl, write_ns, cookie) = (tie.write_ssl, tie.write_ns, tie.write_cookie);
    if ssl == 0 {
        return;
    }
    tie.write_ssl = 0;
    thread_ties::release_if_empty(pid_tgid, tie);
    // SAFETY: plain helper.
    let now = unsafe { bpf_ktime_get_ns() };
    if now.saturating_sub(write_ns) > MAX_TIE_GAP_NS
        || state.tied != 0
        || (state.tls_records == 0 && state.protocol != protocol::UNKNOWN)
    {
        return;
    }
    // The bytes are read only here, with an `SSL_write` pending on this thread.
    if !is_tls_record(first_bytes(buf, vectored), 8) {
        return;
    }
    let key = SslKey { ssl, tgid, _pad: 0 };
    if ssl_sockets::get(&key) != 0 {
        return;
    }
    if ssl_sockets::insert(&key, state.id).is_err() {
        return;
    }
    state.tied = 1;
    state.protocol = protocol::TLS;
    tls_call_fds::not_http(tgid, fd);
    // The call was emitted without its socket: userspace holds it for this record.
    emit_tie(ssl, state.id, cookie);
}

/// Entry of a read/write-family syscall on `fd`; `buf` is the buffer, or for vectored calls the
/// `iovec` array of `iov_count` entries.
fn io_enter(
    ctx: &TracePointContext,
    direction: u8,
    vectored: bool,
    buf: u64,
    iov_count: u64,
) -> u32 {
    let Some((pid_tgid, tgid)) = current() else {
        return 0;
    };
    // The common case on a busy host: a process with no tracked connection. One array read
    // and out; then a socket-table lookup for the processes that have some.
    if !may_be_tracked(tgid) {
        return 0;
    }
    let fd = arg(ctx, 0) as u32;
    if tls_call_fds::passes(pid_tgid, tgid, fd) {
        count(counter::TLS_SOCKET_CALLS_SKIPPED, 1);
        return 0;
    }
    // The syscall's entry for its exit, once its connection and what to do are known.
    let io = |id: u64, (cipher, addrs, http): (bool, bool, bool)| {
        move |identity| PendingIo {
            id,
            buf,
            iov_count,
            fd,
            direction,
            vectored: vectored as u8,
            cipher: cipher as u8,
            addrs: addrs as u8,
            active: 1,
            http: http as u8,
            _pad: [0; 2],
            identity,
        }
    };
    let in_tls_call = pending_calls::active(pid_tgid);
    // A settled plaintext HTTP connection (see `tls_call_fds`): the full path below would
    // only record the syscall, after a socket-table lookup that costs a third of this probe.
    if in_tls_call.is_none()
        && let Some(id) = tls_call_fds::http_socket(tgid, fd)
        && !thread_ties::may_exist(pid_tgid)
    {
        if !pending_io::begin(pid_tgid, false, io(id, (false, false, true))) {
            count(counter::PENDING_TABLE_FULL, 1);
        }
        return 0;
    }
    let Some(state) = SOCKETS.get_ptr_mut(&SockKey { tgid, fd }) else {
        return 0;
    };
    // SAFETY: map value pointer, valid for this program run.
    let state = unsafe { &mut *state };
    if let Some(pending) = in_tls_call {
        // SAFETY: map value pointer, valid for this program run.
        let pending = unsafe { &mut *pending };
        // Inside SSL_read/SSL_write on this thread: ciphertext of a probed library. Tied once
        // per connection: later calls find the handle already over this socket.
        if pending.socket != state.id || state.tied == 0 || state.protocol != protocol::TLS {
            tls_call_fds::not_http(tgid, fd);
            let key = SslKey {
                ssl: pending.conn_id,
                tgid,
                _pad: 0,
            };
            let _ = ssl_sockets::insert(&key, state.id);
            state.protocol = protocol::TLS;
            state.tied = 1;
            pending.socket = state.id;
        }
    } else {
        outside_tls_call(pid_tgid, (tgid, fd), state, direction, (buf, vectored));
    }
    // A read on an untied TLS socket is followed to its end: if it moves bytes, they are
    // ciphertext the thread's next TLS call consumes (memory BIO).
    let cipher = direction == direction::INGRESS && state.tied == 0 && state.tls_records != 0;
    // Until the kernel has reported both ends, a read is followed for them (whatever it carries).
    let addrs = direction == direction::INGRESS && state.addrs == 0;
    if addrs {
        let _ = ADDR_SEEN.remove(&pid_tgid);
    }
    if state.protocol == protocol::OTHER || state.protocol == protocol::TLS {
        if state.protocol == protocol::TLS {
            count(counter::TLS_SOCKET_CALLS_SKIPPED, 1);
        }
        if !cipher && !addrs {
            // Inside a TLS call on its tied socket, nothing was left to do: the syscalls of
            // TLS calls tied to it take the fast path from now on.
            if in_tls_call.is_some() && state.protocol == protocol::TLS && state.addrs != 0 {
                tls_call_fds::ready(tgid, fd, state.id);
            }
            return 0;
        }
    }
    let http = state.protocol == protocol::HTTP1 || state.protocol == protocol::HTTP2;
    if !pending_io::begin(pid_tgid, addrs, io(state.id, (cipher, addrs, http))) {
        count(counter::PENDING_TABLE_FULL, 1);
    }
    let settled = |state: &SockState| {
        (state.protocol == protocol::HTTP1 || state.protocol == protocol::HTTP2)
            && state.addrs != 0
            && state.tied == 0
            && state.tls_records == 0
    };
    if in_tls_call.is_none() && state.id & RECOVERED_ID_BIT == 0 && settled(state) {
        let (id, state) = (state.id, state as *const SockState);
        // SAFETY: the same map value pointer, valid for this program run, read again.
        tls_call_fds::http_ready(tgid, fd, id, || settled(unsafe { &*state }));
    }
    0
}

/// Takes the thread's pending read/write, if any: the exits run for every process on the host,
/// and the array read answers for nearly all of them.
#[inline(always)]
fn take_pending_io(pid_tgid: u64) -> Option<PendingIo> {
    if !may_be_pending(pid_tgid) {
        return None;
    }
    pending_io::take(pid_tgid)
}

/// The first 8 bytes a write sends (0 if unreadable).
#[inline(always)]
fn first_bytes(buf: u64, vectored: bool) -> u64 {
    let base = if vectored {
        // SAFETY: user memory through the helper: iov[0].iov_base.
        unsafe { bpf_probe_read_user(buf as *const u64) }.unwrap_or(0)
    } else {
        buf
    };
    // SAFETY: as above.
    unsafe { bpf_probe_read_user(base as *const u64) }.unwrap_or(0)
}

/// `sendmsg`/`recvmsg`: the iovec array and its length are inside the `user_msghdr`.
fn msg_enter(ctx: &TracePointContext, direction: u8) -> u32 {
    let Some((pid_tgid, tgid)) = current() else {
        return 0;
    };
    let fd = arg(ctx, 0) as u32;
    if !may_be_tracked(tgid) {
        return 0;
    }
    if tls_call_fds::passes(pid_tgid, tgid, fd) {
        count(counter::TLS_SOCKET_CALLS_SKIPPED, 1);
        return 0;
    }
    if tls_call_fds::http_socket(tgid, fd).is_none()
        && SOCKETS.get_ptr(&SockKey { tgid, fd }).is_none()
    {
        return 0;
    }
    let msg = arg(ctx, 1);
    // SAFETY: user memory through the helper; `msg_iov` at 16, `msg_iovlen` at 24 on 64-bit.
    let iov = unsafe { bpf_probe_read_user((msg + 16) as *const u64) }.unwrap_or(0);
    let iov_count = unsafe { bpf_probe_read_user((msg + 24) as *const u64) }.unwrap_or(0);
    io_enter(ctx, direction, true, iov, iov_count)
}

/// `tcp:tcp_rcv_space_adjust` record: ports in host order, IPv4 addresses as in `sockaddr`,
/// and for IPv6 sockets (IPv4 peers mapped) the IPv6 ones.
const TCP_SKADDR: usize = 8;
const TCP_SPORT: usize = 16;
const TCP_DPORT: usize = 18;
const TCP_FAMILY: usize = 20;
const TCP_SADDR: usize = 22;
const TCP_DADDR: usize = 26;
const TCP_SADDR_V6: usize = 30;
const TCP_DADDR_V6: usize = 46;

/// Fires inside `tcp_recvmsg` for each piece of data copied: when the current thread is in a
/// read of a tracked socket whose ends were not reported yet, remembers the addresses for the
/// read's exit (`report_addrs`), or that they were not all of one socket.
#[tracepoint]
pub fn tcp_rcv_space_adjust(ctx: TracePointContext) -> u32 {
    let Some((pid_tgid, _)) = current() else {
        return 0;
    };
    if !may_await_addrs(pid_tgid) || !pending_io::awaits_addrs(pid_tgid) {
        return 0;
    }
    // SAFETY (all reads): the tracepoint record at its documented layout.
    let sk = unsafe { ctx.read_at::<u64>(TCP_SKADDR) }.unwrap_or(0);
    if let Some(seen) = ADDR_SEEN.get_ptr_mut(&pid_tgid) {
        // SAFETY: map value pointer, valid for this program run.
        unsafe {
            if (*seen).sk != sk {
                (*seen).conflict = 1;
            }
        }
        return 0;
    }
    let family = unsafe { ctx.read_at::<u16>(TCP_FAMILY) }.unwrap_or(0);
    let mut open = SocketOpen {
        family,
        local_port: unsafe { ctx.read_at::<u16>(TCP_SPORT) }.unwrap_or(0),
        remote_port: unsafe { ctx.read_at::<u16>(TCP_DPORT) }.unwrap_or(0),
        // Not known here; userspace keeps the one the first announcement gave.
        listen_fd: u32::MAX,
        ..SocketOpen::default()
    };
    match family {
        AF_INET => {
            let local = unsafe { ctx.read_at::<[u8; 4]>(TCP_SADDR) };
            let remote = unsafe { ctx.read_at::<[u8; 4]>(TCP_DADDR) };
            let (Ok(local), Ok(remote)) = (local, remote) else {
                return 0;
            };
            open.local_addr[..4].copy_from_slice(&local);
            open.remote_addr[..4].copy_from_slice(&remote);
        }
        AF_INET6 => {
            let local = unsafe { ctx.read_at::<[u8; 16]>(TCP_SADDR_V6) };
            let remote = unsafe { ctx.read_at::<[u8; 16]>(TCP_DADDR_V6) };
            let (Ok(local), Ok(remote)) = (local, remote) else {
                return 0;
            };
            open.local_addr = local;
            open.remote_addr = remote;
        }
        _ => return 0,
    }
    let seen = AddrSeen {
        sk,
        conflict: 0,
        _pad: 0,
        open,
    };
    let _ = ADDR_SEEN.insert(&pid_tgid, &seen, 0);
    0
}

/// A read that moved bytes on a socket whose ends were not reported yet: reports what
/// `tcp_rcv_space_adjust` saw during it, if it was one socket. A second `SOCKET_OPEN` for the
/// same id carries the addresses (userspace completes the connection with them).
fn report_addrs(pid_tgid: u64, tgid: u32, io: &PendingIo) {
    // SAFETY: map value read by copy.
    let Some(seen) = (unsafe { ADDR_SEEN.get(&pid_tgid) }).copied() else {
        return;
    };
    let _ = ADDR_SEEN.remove(&pid_tgid);
    if seen.conflict != 0 {
        return;
    }
    let Some(state) = SOCKETS.get_ptr_mut(&SockKey { tgid, fd: io.fd }) else {
        return;
    };
    // SAFETY: map value pointer, valid for this program run.
    let state = unsafe { &mut *state };
    if state.id != io.id || state.addrs != 0 {
        return;
    }
    let mut open = seen.open;
    open.fd = io.fd;
    open.role = state.role;
    state.addrs = 1;
    emit_socket_open(io.id, &open);
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

/// What every exit needs: the pending call, the thread, the bytes moved, and whether the
/// connection's bytes are to be copied (deciding the protocol on its first bytes).
fn io_exit_prepare(ctx: &TracePointContext) -> Option<(PendingIo, u64, u64)> {
    let (pid_tgid, tgid) = current()?;
    let io = take_pending_io(pid_tgid)?;
    let moved = ret(ctx);
    if moved <= 0 {
        return None;
    }
    if io.addrs != 0 {
        report_addrs(pid_tgid, tgid, &io);
    }
    if io.cipher != 0 {
        arm_read_tie(pid_tgid, io.id, io.fd);
        return None;
    }
    // Nearly every captured call: the protocol was decided by an earlier call, as the entry
    // found, and the socket-table lookup below would find nothing to do. It differs only when
    // another thread changed the socket while this syscall ran: made it a TLS handle's socket,
    // or closed its fd (a read blocked on it returns later). The bytes are still this socket's
    // and are emitted; after a close they come after the connection's CLOSE record, and
    // userspace takes them as a new stream of that id (its parser counts what does not start
    // a message; the stream goes at the idle timeout). The lookup dropped them uncounted.
    if io.http != 0 {
        return Some((io, pid_tgid, moved as u64));
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
            // Mid-stream (a connection older than the monitor) any record type comes first.
            if is_tls_record(first, moved as u64) {
                state.tls_records = 1;
                if io.direction == direction::INGRESS && state.tied == 0 {
                    arm_read_tie(pid_tgid, state.id, io.fd);
                }
            }
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
    Some((io, pid_tgid, moved as u64))
}

fn socket_call(io: &PendingIo, pid_tgid: u64, buf: u64, len: u64) -> Call {
    Call {
        conn_id: io.id,
        buf,
        len,
        direction: io.direction,
        source: source::SOCKET,
        attach_cookie: 0,
        socket_id: io.id,
        flags: 0,
        pid_tgid,
        identity: io.identity,
    }
}

/// The exits' first test, made before calling into the rest: they run for every read and
/// write on the host, and nearly all find nothing pending. Kept in the program's first
/// instructions so that this common case also touches no more of its code than these.
#[inline(always)]
fn nothing_pending() -> bool {
    !may_be_pending(bpf_get_current_pid_tgid())
}

/// Exit of `read`/`write`/`recvfrom`/`sendto`: one buffer.
fn io_exit(ctx: &TracePointContext) -> u32 {
    if nothing_pending() {
        return 0;
    }
    if let Some((io, pid_tgid, moved)) = io_exit_prepare(ctx) {
        emit_call(&socket_call(&io, pid_tgid, io.buf, moved));
    }
    0
}

/// Exit of the vectored calls: the iovecs' bytes, in order, as if one buffer had been written
/// (see `emit_vectored`).
fn io_exit_vectored(ctx: &TracePointContext) -> u32 {
    if nothing_pending() {
        return 0;
    }
    if let Some((io, pid_tgid, moved)) = io_exit_prepare(ctx) {
        emit_vectored(&socket_call(&io, pid_tgid, io.buf, moved), io.iov_count);
    }
    0
}

macro_rules! io_probes {
    ($enter:ident, $exit:ident, $direction:expr, false) => {
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            io_enter(&ctx, $direction, false, arg(&ctx, 1), 0)
        }
        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            io_exit(&ctx)
        }
    };
    ($enter:ident, $exit:ident, $direction:expr, true) => {
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            io_enter(&ctx, $direction, true, arg(&ctx, 1), arg(&ctx, 2))
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
    io_enter(&ctx, direction::INGRESS, false, arg(&ctx, 1), 0)
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
