//! OpenSSL (1.1.x and 3.x) `SSL_read`/`SSL_write` and their `_ex` variants, and `SSL_free`.
//!
//! Entry probes remember the arguments per thread; the return probe emits the bytes the call
//! really moved. Writes are captured on return too: a non-blocking `SSL_write` that returns
//! `WANT_WRITE` is retried by the application with the same bytes, and capturing at entry would
//! report them twice.
//!
//! The socket under an `SSL*` is learnt from the syscalls the library makes inside a call
//! (`probes::socket`). A library behind memory BIOs (node) makes none: there the thread's
//! last ciphertext read before the call (taken at entry, used at return if no syscall inside the
//! call tied the handle), or, for an `SSL_write`, the thread's next ciphertext write after it
//! returns, ties the handle. The second comes after the call was emitted: its records carry
//! `TIE_PENDING` and an `SSL_TIE` record follows, which userspace waits for briefly.
use aya_ebpf::{
    EbpfContext as _,
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_user,
        generated::bpf_get_attach_cookie,
    },
    macros::{uprobe, uretprobe},
    programs::{ProbeContext, RetProbeContext},
};
use monitor_common::{SockKey, counter, direction, flags, protocol, record_kind, source};

use crate::{
    emit::{Call, emit_call, emit_marker},
    maps::{MAX_TIE_GAP_NS, MONITOR_TGID, PendingCall, SOCKETS, SslKey, ThreadTie, count},
    pending_calls, ssl_sockets, thread_ties, tls_call_fds,
};

#[inline(always)]
fn is_monitor(pid_tgid: u64) -> bool {
    (pid_tgid >> 32) as u32 == MONITOR_TGID.load()
}

#[inline(always)]
fn remember(ctx: &ProbeContext, direction: u8, is_ex: bool) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_monitor(pid_tgid) {
        return 0;
    }
    let (Some(ssl), Some(buf)) = (ctx.arg::<u64>(0), ctx.arg::<u64>(1)) else {
        return 0;
    };
    let len_out = if is_ex {
        ctx.arg::<u64>(3).unwrap_or(0)
    } else {
        0
    };
    let (tie_socket, tie_fd) = take_read_tie(pid_tgid, ssl);
    // Looked up once per call here: the syscalls inside the call and its return then compare
    // with it instead of updating or looking up the table each.
    let key = SslKey {
        ssl,
        tgid: (pid_tgid >> 32) as u32,
        _pad: 0,
    };
    let socket = ssl_sockets::get(&key);
    let pending = |identity| PendingCall {
        conn_id: ssl,
        buf,
        len_out,
        direction,
        source: source::OPENSSL,
        flag: 0,
        active: 1,
        _pad: [0; 4],
        tie_socket,
        tie_fd,
        identity,
        socket,
    };
    if !pending_calls::begin(pid_tgid, pending) {
        count(counter::PENDING_TABLE_FULL, 1);
        // Not a call in progress for the socket probes either.
        tls_call_fds::forget(pid_tgid);
        return 0;
    }
    // Only once the call is pending: its syscalls may pass only when the full path would see
    // them inside a call.
    tls_call_fds::call_starts(pid_tgid, socket);
    0
}

/// A TLS call starts on this thread: it takes the thread's last ciphertext read (if recent), which
/// no later call may take. A pending `SSL_write` handle stays only if this call is on the same
/// handle (node calls `SSL_read` on it between `SSL_write` and sending the ciphertext).
#[inline(always)]
fn take_read_tie(pid_tgid: u64, ssl: u64) -> (u64, u32) {
    let Some(tie) = thread_ties::get(pid_tgid) else {
        return (0, 0);
    };
    // SAFETY: map value pointer, valid for this program run.
    let tie = unsafe { &mut *tie };
    if tie.write_ssl != ssl {
        tie.write_ssl = 0;
    }
    let (socket, fd, read_ns) = (tie.read_socket, tie.read_fd, tie.read_ns);
    tie.read_socket = 0;
    thread_ties::release_if_empty(pid_tgid, tie);
    if socket == 0 {
        return (0, 0);
    }
    // SAFETY: plain helper.
    let now = unsafe { bpf_ktime_get_ns() };
    if now.saturating_sub(read_ns) > MAX_TIE_GAP_NS {
        return (0, 0);
    }
    (socket, fd)
}

/// Ties `key`'s handle to the socket of the ciphertext read taken at the call's entry, if that
/// socket still has no handle. Returns the socket, 0 if not tied.
#[inline(always)]
fn tie_from_read(key: &SslKey, socket: u64, fd: u32) -> u64 {
    let Some(state) = SOCKETS.get_ptr_mut(&SockKey { tgid: key.tgid, fd }) else {
        return 0;
    };
    // SAFETY: map value pointer, valid for this program run.
    let state = unsafe { &mut *state };
    if state.id != socket || state.tied != 0 || state.tls_records == 0 {
        return 0;
    }
    if ssl_sockets::insert(key, socket).is_err() {
        return 0;
    }
    state.tied = 1;
    state.protocol = protocol::TLS;
    socket
}

/// An `SSL_write` moved bytes with no socket known: its ciphertext is about to be sent by
/// this thread (memory BIO), and the socket write that carries it ties the handle.
#[inline(always)]
fn arm_write_tie(pid_tgid: u64, ssl: u64, attach_cookie: u64) {
    // SAFETY: plain helper.
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some(tie) = thread_ties::get(pid_tgid) {
        // SAFETY: map value pointer, valid for this program run.
        unsafe {
            (*tie).write_ssl = ssl;
            (*tie).write_cookie = attach_cookie;
            (*tie).write_ns = now;
        }
        return;
    }
    let tie = ThreadTie {
        read_socket: 0,
        read_ns: 0,
        write_ssl: ssl,
        write_cookie: attach_cookie,
        write_ns: now,
        read_fd: 0,
        _pad: 0,
    };
    thread_ties::insert(pid_tgid, &tie);
}

#[uprobe]
pub fn ssl_write(ctx: ProbeContext) -> u32 {
    remember(&ctx, direction::EGRESS, false)
}

#[uprobe]
pub fn ssl_write_ex(ctx: ProbeContext) -> u32 {
    remember(&ctx, direction::EGRESS, true)
}

#[uprobe]
pub fn ssl_read(ctx: ProbeContext) -> u32 {
    remember(&ctx, direction::INGRESS, false)
}

#[uprobe]
pub fn ssl_read_ex(ctx: ProbeContext) -> u32 {
    remember(&ctx, direction::INGRESS, true)
}

/// Return of any of the four calls above.
#[uretprobe]
pub fn ssl_return(ctx: RetProbeContext) -> u32 {
    // The return value is a C `int`: only the low 32 bits of the register are defined.
    let ret = ctx.ret::<u64>() as u32 as i32;
    finish_call(ret, ctx.as_ptr())
}

/// The same, probed inside the function at the last instruction before a return (an
/// instruction the kernel emulates, unlike the function's first one: see `capture::placement`),
/// where the return value is already in RAX.
#[uprobe]
pub fn ssl_return_site(ctx: ProbeContext) -> u32 {
    // SAFETY: a uprobe's context is the user registers at the probe.
    let ret = unsafe { (*ctx.regs).rax } as u32 as i32;
    finish_call(ret, ctx.as_ptr())
}

#[inline(always)]
/// `ctx` is the program's context, for its attach cookie: fetched only for a call that moved
/// bytes (the helper call is a measurable part of a return that moved none).
fn finish_call(ret: i32, ctx: *mut core::ffi::c_void) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_monitor(pid_tgid) {
        return 0;
    }
    tls_call_fds::forget(pid_tgid);
    let Some(pending) = pending_calls::take(pid_tgid) else {
        count(counter::ORPHAN_RETURNS, 1);
        return 0;
    };
    let ssl_key = SslKey {
        ssl: pending.conn_id,
        tgid: (pid_tgid >> 32) as u32,
        _pad: 0,
    };
    // The socket under this SSL*: known at the call's entry or learnt by the socket probes from
    // a syscall made inside this very call, else from the ciphertext read that preceded the
    // call. Done before looking at the result: a call that moves no bytes (a handshake step)
    // ties too.
    let mut socket_id = pending.socket;
    if socket_id == 0 && pending.tie_socket != 0 {
        socket_id = tie_from_read(&ssl_key, pending.tie_socket, pending.tie_fd);
    }
    let len = if pending.len_out != 0 {
        // `_ex`: 1 on success, byte count through the out-pointer.
        if ret != 1 {
            return 0;
        }
        // SAFETY: user pointer read through the helper.
        match unsafe { bpf_probe_read_user(pending.len_out as *const u64) } {
            Ok(len) => len,
            Err(_) => {
                count(counter::READ_FAULTS, 1);
                return 0;
            }
        }
    } else if ret > 0 {
        ret as u64
    } else {
        return 0;
    };
    if len == 0 {
        return 0;
    }
    // SAFETY: plain helper on this program's context.
    let attach_cookie = unsafe { bpf_get_attach_cookie(ctx) };
    let mut call_flags = 0;
    if socket_id == 0 && pending.direction == direction::EGRESS {
        arm_write_tie(pid_tgid, pending.conn_id, attach_cookie);
        call_flags = flags::TIE_PENDING;
    }
    emit_call(&Call {
        conn_id: pending.conn_id,
        buf: pending.buf,
        len,
        direction: pending.direction,
        source: pending.source,
        attach_cookie,
        socket_id,
        flags: call_flags,
        pid_tgid,
        identity: pending.identity,
    });
    0
}

#[uprobe]
pub fn ssl_free(ctx: ProbeContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_monitor(pid_tgid) {
        return 0;
    }
    let Some(ssl) = ctx.arg::<u64>(0) else {
        return 0;
    };
    if ssl == 0 {
        return 0;
    }
    // SAFETY: plain helper on this program's context.
    let cookie = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
    ssl_sockets::remove(&SslKey {
        ssl,
        tgid: (pid_tgid >> 32) as u32,
        _pad: 0,
    });
    // A freed handle's pending write will never be sent: its address may be reused at once.
    if let Some(tie) = thread_ties::get(pid_tgid) {
        // SAFETY: map value pointer, valid for this program run.
        let tie = unsafe { &mut *tie };
        if tie.write_ssl == ssl {
            tie.write_ssl = 0;
            thread_ties::release_if_empty(pid_tgid, tie);
        }
    }
    emit_marker(record_kind::CLOSE, ssl, source::OPENSSL, cookie);
    0
}
