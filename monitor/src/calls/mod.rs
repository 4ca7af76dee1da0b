//! API-call events: what the monitor reports for each request/response exchange.
//!
//! This is the boundary where raw traffic becomes output, so it decides what may leave the
//! process: header values are never copied out except `Host`; the query string is reduced to its
//! parameter names (values may carry credentials); token-like path segments are redacted.
mod api_call;
mod json;
mod query_names;
mod target;
mod workload_name;

pub(crate) use api_call::Ipv4Text;
pub use api_call::{ApiCall, EndpointOut, ProcessOut, TlsOut, build_api_call};
pub use json::write_api_call;
pub use query_names::QueryNames;
pub use target::{SplitTarget, redact_path_and_template, split_target};
pub use workload_name::workload_name;
