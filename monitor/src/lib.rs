//! The monitor's userspace pipeline, one module per stage, in data-path order:
//!
//! ```text
//! capture ─▶ streams ─▶ protocols ─▶ calls ─▶ output
//!  (kernel    (per-connection   (request/      (API-call    (JSON lines)
//!  records)    byte streams)     response)      events)
//!                  ▲                               ▲
//!                  └──────────── enrich ───────────┘ (process identity)
//! ```
//! Everything after `capture` is plain Rust that runs without root and is driven by
//! [`capture::CaptureEvent`] values, so it can be tested from synthetic or recorded captures.
pub mod alerts;
pub mod calls;
pub mod capture;
pub mod coverage;
pub mod credentials;
pub mod enrich;
pub mod inspect;
pub mod inventory;
pub mod kubernetes;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod protocols;
pub mod rates;
pub mod recording;
pub mod replay;
pub mod sensitive;
pub mod streams;
pub mod time;
