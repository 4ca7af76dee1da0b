//! Programs that do nothing, attached instead of the real ones by `monitor run --empty-probes`:
//! what a probe costs before any of our work (the kernel's trap, single-step and dispatch), so
//! the overhead benchmark can separate that floor from the monitor's own cost.
use aya_ebpf::{
    macros::{tracepoint, uprobe, uretprobe},
    programs::{ProbeContext, RetProbeContext, TracePointContext},
};

#[uprobe]
pub fn empty_uprobe(_ctx: ProbeContext) -> u32 {
    0
}

#[uretprobe]
pub fn empty_uretprobe(_ctx: RetProbeContext) -> u32 {
    0
}

#[tracepoint]
pub fn empty_tracepoint(_ctx: TracePointContext) -> u32 {
    0
}
