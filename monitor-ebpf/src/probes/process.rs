//! Process lifetime. `exec` gives userspace the executable path while the process still exists
//! (a short-lived client such as curl is often gone before its records are read, and with it
//! `/proc/<pid>/exe`); `exit` tells it to free the process's connections and cached identity at
//! once instead of at the idle timeout. An executable `mmap` of a file tells it that a process
//! loaded a shared object (`dlopen`), which may be a TLS library to probe before its first call.
use aya_ebpf::{
    EbpfContext as _, helpers::bpf_get_current_pid_tgid, macros::tracepoint,
    programs::TracePointContext,
};
use monitor_common::{record_kind, source};

use crate::{
    emit::{emit_exec, emit_marker},
    maps::{MONITOR_TGID, ThreadIdentity},
    pending_calls, pending_io, tls_call_fds,
};

/// `prot` and `fd` in the `syscalls/sys_enter_mmap` record (arguments are 8 bytes each from 16).
const MMAP_PROT_OFFSET: usize = 16 + 2 * 8;
const MMAP_FD_OFFSET: usize = 16 + 4 * 8;
const PROT_EXEC: u64 = 0x4;

/// Offset of `__data_loc char[] filename` in `sched/sched_process_exec` (after the 8 bytes of
/// common fields); stable since the tracepoint was added in 3.4.
const EXEC_FILENAME_LOC_OFFSET: usize = 8;
/// `pid` and `old_pid` in the same record: the thread's id after and before `exec`. They differ
/// when a thread other than the leader ran it: it takes the leader's id.
const EXEC_PID_OFFSET: usize = 12;
const EXEC_OLD_PID_OFFSET: usize = 16;

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    if (bpf_get_current_pid_tgid() >> 32) as u32 == MONITOR_TGID.load() {
        return 0;
    }
    // SAFETY: reading the tracepoint record at a fixed offset of its documented format.
    let Ok(loc) = (unsafe { ctx.read_at::<u32>(EXEC_FILENAME_LOC_OFFSET) }) else {
        return 0;
    };
    // The thread's entries keep the identity its data records carry: `exec` changes its command
    // (and may change its user), and the kernel has set both by this tracepoint.
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: as above.
    let (pid, old_pid) = unsafe {
        (
            ctx.read_at::<u32>(EXEC_PID_OFFSET).unwrap_or(0),
            ctx.read_at::<u32>(EXEC_OLD_PID_OFFSET).unwrap_or(0),
        )
    };
    if old_pid != pid && old_pid != 0 {
        // A non-leader thread ran `exec` and now has the leader's id (whose own entries went
        // when the leader exited): its entries under its old id would outlive it, and pass the
        // old program's identity to a later thread given that id.
        forget_thread((pid_tgid & !0xffff_ffff) | u64::from(old_pid));
    }
    refresh_thread(pid_tgid);
    // The new image's TLS calls start afresh (its fds may be others).
    tls_call_fds::forget(pid_tgid);
    let offset = (loc & 0xffff) as usize;
    emit_exec(unsafe { (ctx.as_ptr() as *const u8).add(offset) });
    0
}

/// Called on every `mmap` on the host: two reads and out, unless it maps a file executable,
/// which only loading code does.
#[tracepoint]
pub fn sys_enter_mmap(ctx: TracePointContext) -> u32 {
    if (bpf_get_current_pid_tgid() >> 32) as u32 == MONITOR_TGID.load() {
        return 0;
    }
    // SAFETY: reading the tracepoint record at its documented layout.
    let prot = unsafe { ctx.read_at::<u64>(MMAP_PROT_OFFSET) }.unwrap_or(0);
    if prot & PROT_EXEC == 0 {
        return 0;
    }
    // SAFETY: as above. Anonymous executable memory (JITs) has fd -1.
    let fd = unsafe { ctx.read_at::<u64>(MMAP_FD_OFFSET) }.unwrap_or(u64::MAX) as i32;
    if fd < 0 {
        return 0;
    }
    emit_marker(record_kind::CODE_MAPPED, 0, source::NONE, 0);
    0
}

#[tracepoint]
pub fn sched_process_exit(_ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // Per-thread entries live as long as their thread (and one that dies inside a call never
    // returns from it).
    forget_thread(pid_tgid);
    if (pid_tgid >> 32) as u32 == pid_tgid as u32 {
        emit_marker(record_kind::PROCESS_EXIT, 0, source::NONE, 0);
    }
    0
}

/// The thread ran `exec`: its per-call entries carry the new image's user and command.
#[inline(always)]
fn refresh_thread(pid_tgid: u64) {
    let identity = ThreadIdentity::current();
    pending_calls::refresh_identity(pid_tgid, &identity);
    pending_io::refresh_identity(pid_tgid, &identity);
}

/// Drops a thread's per-call entries. A lookup first, as most threads have none: a delete
/// takes the bucket lock even for a missing key.
#[inline(always)]
fn forget_thread(pid_tgid: u64) {
    tls_call_fds::forget(pid_tgid);
    pending_calls::forget(pid_tgid);
    pending_io::forget(pid_tgid);
}
