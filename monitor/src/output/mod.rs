//! Output sinks for API-call events. One so far: JSON lines on stdout.
mod json_lines;

pub use json_lines::JsonLinesSink;
