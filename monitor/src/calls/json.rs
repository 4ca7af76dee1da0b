//! An API call's JSON line, written field by field into the line's buffer.
//!
//! Written by hand because serde_json escapes every object key byte by byte: the ~50 keys of a
//! call (its own, its processes', endpoints', library's and credentials') cost about 150
//! instructions each, a tenth of the monitor's whole work per call in the records bench. Here
//! keys are constants copied whole, a string value is copied whole when it holds nothing to
//! escape (almost always), and the line is a `String` from the start (no UTF-8 check of the
//! finished line). Anything else (escapes, the rare nested parts) still goes through
//! serde_json, and floats through the crate serde_json formats them with, so the text is
//! serde_json's.
//!
//! The derived `Serialize` on `ApiCall` stays the definition of the line: the tests check this
//! writer against it byte for byte, with every optional part present and absent, so a field
//! added there and not here fails them.
use std::{fmt::Write as _, net::IpAddr};

use serde::Serialize;

use super::{ApiCall, EndpointOut, ProcessOut, TlsOut, api_call::Ipv4Text};
use crate::credentials::{Finding, Location};

/// Appends `call` as one JSON object (no newline) to `out`: the same text as
/// `serde_json::to_string(call)`.
pub fn write_api_call(call: &ApiCall, out: &mut String) -> Result<(), serde_json::Error> {
    let mut o = Object::open(out);
    let mut time = [0u8; crate::time::RFC3339_MAX];
    // Out of range prints "", as `WallTime`'s `Serialize` does.
    o.str("time", call.time.write(&mut time).unwrap_or_default());
    o.str("event", call.event);
    o.str("role", call.role.as_str());
    o.str("direction", call.direction.as_str());
    o.key("process");
    process(o.out, &call.process)?;
    o.key("peer_process");
    match &call.peer_process {
        Some(peer) => process(o.out, peer)?,
        None => o.out.push_str("null"),
    }
    o.bool("tls", call.tls);
    o.key("tls_library");
    match &call.tls_library {
        Some(library) => tls_library(o.out, library),
        None => o.out.push_str("null"),
    }
    o.key("local");
    endpoint(o.out, call.local.as_ref());
    o.key("remote");
    endpoint(o.out, call.remote.as_ref());
    o.str("connection_id", call.connection_id.hex(&mut [0; 18]));
    o.opt_str("method", call.method.as_deref());
    o.opt_str("host", call.host.as_deref());
    o.opt_str("path", call.path.as_deref());
    o.key("query_params");
    o.out.push('[');
    for (i, name) in call.query_params.iter().enumerate() {
        if i > 0 {
            o.out.push(',');
        }
        string(o.out, name);
    }
    o.out.push(']');
    o.str("http_version", call.http_version);
    o.opt_uint("status", call.status.map(u64::from));
    o.uint("request_bytes", call.request_bytes);
    o.uint("request_body_bytes", call.request_body_bytes);
    o.opt_uint("response_bytes", call.response_bytes);
    o.opt_uint("response_body_bytes", call.response_body_bytes);
    o.key("latency_ms");
    match call.latency_ms {
        // serde_json's own float writer, and its `null` for what JSON cannot hold.
        Some(ms) if ms.is_finite() => o.out.push_str(zmij::Buffer::new().format_finite(ms)),
        _ => o.out.push_str("null"),
    }
    o.bool("complete", call.complete);
    if let Some(stream_id) = call.stream_id {
        o.uint("stream_id", u64::from(stream_id));
    }
    if let Some(start) = &call.capture_start {
        o.value("capture_start", start)?;
    }
    if !call.unknown_fields.is_empty() {
        o.value("unknown_fields", &call.unknown_fields)?;
    }
    if let Some(reset) = &call.reset {
        o.value("reset", reset)?;
    }
    if let Some(grpc) = &call.grpc {
        o.value("grpc", grpc)?;
    }
    if let Some(rejected) = call.rejected {
        o.str("rejected", rejected);
    }
    o.key("credentials");
    o.out.push('[');
    for (i, finding) in call.credentials.iter().enumerate() {
        if i > 0 {
            o.out.push(',');
        }
        credential(o.out, finding)?;
    }
    o.out.push(']');
    if !call.sensitive_data.is_empty() {
        o.value("sensitive_data", &call.sensitive_data)?;
    }
    o.close();
    Ok(())
}

fn process(out: &mut String, p: &ProcessOut) -> Result<(), serde_json::Error> {
    let mut o = Object::open(out);
    o.uint("pid", u64::from(p.pid));
    o.uint("tid", u64::from(p.tid));
    o.str("command", &p.command);
    o.opt_str("executable", p.executable.as_deref());
    o.uint("uid", u64::from(p.uid));
    o.opt_str("container_id", p.container_id.as_deref());
    if let Some(k8s) = &p.k8s {
        o.value("k8s", k8s)?;
    }
    o.close();
    Ok(())
}

/// Most calls to an API carry one credential, and its object cost as much as the rest of the
/// line through serde_json.
fn credential(out: &mut String, finding: &Finding) -> Result<(), serde_json::Error> {
    let mut o = Object::open(out);
    o.str("kind", finding.kind.as_str());
    o.key("location");
    let mut location = Object::open(o.out);
    match &finding.location {
        Location::Header { name } => {
            location.str("in", "header");
            location.str("name", name);
        }
        Location::Query { parameter } => {
            location.str("in", "query");
            location.str("parameter", parameter);
        }
        Location::Path => location.str("in", "path"),
        Location::Body => location.str("in", "body"),
    }
    location.close();
    o.uint("length", finding.length as u64);
    o.opt_str("prefix", finding.prefix.as_deref());
    o.str("fingerprint", &finding.fingerprint);
    if let Some(jwt) = &finding.jwt {
        o.value("jwt", jwt)?;
    }
    o.close();
    Ok(())
}

fn tls_library(out: &mut String, library: &TlsOut) {
    let mut o = Object::open(out);
    o.str("name", library.name.as_str());
    o.str("path", &library.library.path);
    o.close();
}

fn endpoint(out: &mut String, endpoint: Option<&EndpointOut>) {
    let Some(endpoint) = endpoint else {
        out.push_str("null");
        return;
    };
    let mut o = Object::open(out);
    o.key("ip");
    o.out.push('"');
    match endpoint.ip {
        IpAddr::V4(v4) => o.out.push_str(Ipv4Text::new(v4).as_str()),
        // Writing into a String cannot fail.
        IpAddr::V6(v6) => {
            let _ = write!(o.out, "{v6}");
        }
    }
    o.out.push('"');
    o.uint("port", u64::from(endpoint.port));
    o.close();
}

/// One JSON object being written: the separator before each key, the braces around them.
struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    /// `key` is one of this file's constants: nothing in it needs escaping.
    fn key(&mut self, key: &'static str) {
        debug_assert!(!needs_escape(key));
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    fn str(&mut self, key: &'static str, value: &str) {
        self.key(key);
        string(self.out, value);
    }

    fn opt_str(&mut self, key: &'static str, value: Option<&str>) {
        self.key(key);
        match value {
            Some(value) => string(self.out, value),
            None => self.out.push_str("null"),
        }
    }

    fn uint(&mut self, key: &'static str, value: u64) {
        self.key(key);
        self.out.push_str(itoa::Buffer::new().format(value));
    }

    fn opt_uint(&mut self, key: &'static str, value: Option<u64>) {
        match value {
            Some(value) => self.uint(key, value),
            None => {
                self.key(key);
                self.out.push_str("null");
            }
        }
    }

    fn bool(&mut self, key: &'static str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }

    /// A value with its own `Serialize` (enums, floats, nested findings), through serde_json.
    fn value<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.key(key);
        self.out.push_str(&serde_json::to_string(value)?);
        Ok(())
    }

    fn close(self) {
        self.out.push('}');
    }
}

/// A JSON string: copied whole when nothing in it needs escaping, else serde_json escapes it.
fn string(out: &mut String, value: &str) {
    if needs_escape(value) {
        // serde_json fails only when its writer does, and writing into a String cannot.
        out.push_str(&serde_json::to_string(value).unwrap_or_default());
    } else {
        out.reserve(value.len() + 2);
        out.push('"');
        out.push_str(value);
        out.push('"');
    }
}

/// What serde_json escapes: `"`, `\` and the control characters below 0x20. (It leaves DEL and
/// all non-ASCII text as they are.) The loop has no early exit, so it compiles to vector code.
fn needs_escape(value: &str) -> bool {
    value.bytes().fold(false, |seen, b| {
        seen | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

#[cfg(test)]
mod tests;
