//! Process lifetime. `exec` gives userspace the executable path while the process still exists
//! (a short-lived client such as curl is often gone before its records are read, and with it
//! `/proc/<pid>/exe`); `exit` tells it to free the process's connections and cached identity at
//! once instead of at the idle timeout.
use aya_ebpf::{
    EbpfContext as _, helpers::bpf_get_current_pid_tgid, macros::tracepoint,
    programs::TracePointContext,
};
use monitor_common::{record_kind, source};

use crate::{
    emit::{emit_exec, emit_marker},
    maps::{MONITOR_TGID, PENDING_CALLS},
};

/// Offset of `__data_loc char[] filename` in `sched/sched_process_exec` (after the 8 bytes of
/// common fields); stable since the tracepoint was added in 3.4.
const EXEC_FILENAME_LOC_OFFSET: usize = 8;

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    if (bpf_get_current_pid_tgid() >> 32) as u32 == MONITOR_TGID.load() {
        return 0;
    }
    // SAFETY: reading the tracepoint record at a fixed offset of its documented format.
    let Ok(loc) = (unsafe { ctx.read_at::<u32>(EXEC_FILENAME_LOC_OFFSET) }) else {
        return 0;
    };
    let offset = (loc & 0xffff) as usize;
    emit_exec(unsafe { (ctx.as_ptr() as *const u8).add(offset) });
    0
}

#[tracepoint]
pub fn sched_process_exit(_ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // A thread that dies inside a call never returns from it.
    let _ = PENDING_CALLS.remove(&pid_tgid);
    if (pid_tgid >> 32) as u32 == pid_tgid as u32 {
        emit_marker(record_kind::PROCESS_EXIT, 0, source::NONE, 0);
    }
    0
}
