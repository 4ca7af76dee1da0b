//! Alerts: what the monitor says when a call breaks the policy. One JSON object per line, with a
//! documented, stable schema (`docs/alert-schema.md`). Evidence is redacted by construction: it is
//! built from credential findings, which never hold a credential.
mod alert;
mod suppress;

pub use alert::{
    Alert, AlertDestination, AlertEndpoint, AlertRequest, AlertWorkload, AuthFailureEvidence,
    Evidence, RateEvidence, SensitiveEvidence,
};
pub use suppress::Suppressor;
