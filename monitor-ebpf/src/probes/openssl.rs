//! OpenSSL (1.1.x and 3.x) `SSL_read`/`SSL_write` and their `_ex` variants, and `SSL_free`.
//!
//! Entry probes remember the arguments per thread; the return probe emits the bytes the call
//! really moved. Writes are captured on return too: a non-blocking `SSL_write` that returns
//! `WANT_WRITE` is retried by the application with the same bytes, and capturing at entry would
//! report them twice.
use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user, generated::bpf_get_attach_cookie},
    macros::{uprobe, uretprobe},
    programs::{ProbeContext, RetProbeContext},
};
use monitor_common::{counter, direction, record_kind, source};

use crate::{
    emit::{Call, emit_call, emit_marker},
    maps::{MONITOR_TGID, PENDING_CALLS, PendingCall, SSL_SOCKETS, SslKey, count},
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
    let pending = PendingCall {
        conn_id: ssl,
        buf,
        len_out,
        direction,
        source: source::OPENSSL,
        _pad: [0; 6],
    };
    if PENDING_CALLS.insert(&pid_tgid, &pending, 0).is_err() {
        count(counter::PENDING_TABLE_FULL, 1);
    }
    0
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
    // SAFETY: plain helper on this program's context.
    finish_call(ret, unsafe { bpf_get_attach_cookie(ctx.as_ptr()) })
}

/// The same, probed inside the function at the last instruction before a return (an
/// instruction the kernel emulates, unlike the function's first one: see `capture::placement`),
/// where the return value is already in RAX.
#[uprobe]
pub fn ssl_return_site(ctx: ProbeContext) -> u32 {
    // SAFETY: a uprobe's context is the user registers at the probe.
    let ret = unsafe { (*ctx.regs).rax } as u32 as i32;
    // SAFETY: plain helper on this program's context.
    finish_call(ret, unsafe { bpf_get_attach_cookie(ctx.as_ptr()) })
}

#[inline(always)]
fn finish_call(ret: i32, attach_cookie: u64) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_monitor(pid_tgid) {
        return 0;
    }
    let Some(pending) = (unsafe { PENDING_CALLS.get(&pid_tgid) }).copied() else {
        count(counter::ORPHAN_RETURNS, 1);
        return 0;
    };
    let _ = PENDING_CALLS.remove(&pid_tgid);
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
    let ssl_key = SslKey {
        ssl: pending.conn_id,
        tgid: (pid_tgid >> 32) as u32,
        _pad: 0,
    };
    // The socket under this SSL*, learnt by the socket probes from the syscall made inside
    // this very call.
    let socket_id = unsafe { SSL_SOCKETS.get(&ssl_key) }.copied().unwrap_or(0);
    emit_call(&Call {
        conn_id: pending.conn_id,
        buf: pending.buf,
        len,
        direction: pending.direction,
        source: pending.source,
        attach_cookie,
        socket_id,
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
    let _ = SSL_SOCKETS.remove(&SslKey {
        ssl,
        tgid: (pid_tgid >> 32) as u32,
        _pad: 0,
    });
    emit_marker(record_kind::CLOSE, ssl, source::OPENSSL, cookie);
    0
}
