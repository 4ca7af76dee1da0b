//! Coverage: for every process with TCP connections, which TLS stack it uses and whether the
//! monitor reads it, and if not, why. None of the tools users compare us with says what it
//! cannot see; this is how the monitor is never silently blind. `monitor coverage` prints it;
//! the daemon exports it as `monitor_coverage_processes{stack, state}`.
mod survey;

pub use survey::{CoverageState, ProcessCoverage, render_table, survey};
