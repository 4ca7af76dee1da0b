//! An API call's JSON line, written field by field into the line's buffer.
//!
//! Written by hand because serde_json escapes every object key byte by byte: the ~45 keys of a
//! call (the call's own, its processes', endpoints' and library's) cost about 150 instructions
//! each, a tenth of the monitor's whole work per call in the records bench. Here keys are
//! constants copied whole, and a string value is copied whole when it holds nothing to escape
//! (almost always); anything else still goes through serde_json, so the text is serde_json's.
//!
//! The derived `Serialize` on `ApiCall` stays the definition of the line: the tests check this
//! writer against it byte for byte, with every optional part present and absent, so a field
//! added there and not here fails them.
use std::{io::Write as _, net::IpAddr};

use serde::Serialize;

use super::{ApiCall, EndpointOut, ProcessOut, TlsOut, api_call::Ipv4Text};

/// Appends `call` as one JSON object (no newline) to `out`: the same bytes as
/// `serde_json::to_writer(out, call)`.
pub fn write_api_call(call: &ApiCall, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
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
        None => o.out.extend_from_slice(b"null"),
    }
    o.bool("tls", call.tls);
    o.key("tls_library");
    match &call.tls_library {
        Some(library) => tls_library(o.out, library),
        None => o.out.extend_from_slice(b"null"),
    }
    o.key("local");
    endpoint(o.out, call.local.as_ref());
    o.key("remote");
    endpoint(o.out, call.remote.as_ref());
    o.value("connection_id", &call.connection_id)?;
    o.opt_str("method", call.method.as_deref());
    o.opt_str("host", call.host.as_deref());
    o.opt_str("path", call.path.as_deref());
    o.key("query_params");
    o.out.push(b'[');
    for (i, name) in call.query_params.iter().enumerate() {
        if i > 0 {
            o.out.push(b',');
        }
        string(o.out, name);
    }
    o.out.push(b']');
    o.str("http_version", call.http_version);
    o.opt_uint("status", call.status.map(u64::from));
    o.uint("request_bytes", call.request_bytes);
    o.uint("request_body_bytes", call.request_body_bytes);
    o.opt_uint("response_bytes", call.response_bytes);
    o.opt_uint("response_body_bytes", call.response_body_bytes);
    o.value("latency_ms", &call.latency_ms)?;
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
    o.value("credentials", &call.credentials)?;
    if !call.sensitive_data.is_empty() {
        o.value("sensitive_data", &call.sensitive_data)?;
    }
    o.close();
    Ok(())
}

fn process(out: &mut Vec<u8>, p: &ProcessOut) -> Result<(), serde_json::Error> {
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

fn tls_library(out: &mut Vec<u8>, library: &TlsOut) {
    let mut o = Object::open(out);
    o.str("name", library.name.as_str());
    o.str("path", &library.library.path);
    o.close();
}

fn endpoint(out: &mut Vec<u8>, endpoint: Option<&EndpointOut>) {
    let Some(endpoint) = endpoint else {
        out.extend_from_slice(b"null");
        return;
    };
    let mut o = Object::open(out);
    o.key("ip");
    o.out.push(b'"');
    match endpoint.ip {
        IpAddr::V4(v4) => o.out.extend_from_slice(Ipv4Text::new(v4).as_bytes()),
        // Writing into a Vec cannot fail.
        IpAddr::V6(v6) => {
            let _ = write!(o.out, "{v6}");
        }
    }
    o.out.push(b'"');
    o.uint("port", u64::from(endpoint.port));
    o.close();
}

/// One JSON object being written: the separator before each key, the braces around them.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// `key` is one of this file's constants: nothing in it needs escaping.
    fn key(&mut self, key: &'static str) {
        debug_assert!(!needs_escape(key));
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn str(&mut self, key: &'static str, value: &str) {
        self.key(key);
        string(self.out, value);
    }

    fn opt_str(&mut self, key: &'static str, value: Option<&str>) {
        self.key(key);
        match value {
            Some(value) => string(self.out, value),
            None => self.out.extend_from_slice(b"null"),
        }
    }

    fn uint(&mut self, key: &'static str, value: u64) {
        self.key(key);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    fn opt_uint(&mut self, key: &'static str, value: Option<u64>) {
        match value {
            Some(value) => self.uint(key, value),
            None => {
                self.key(key);
                self.out.extend_from_slice(b"null");
            }
        }
    }

    fn bool(&mut self, key: &'static str, value: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// A value with its own `Serialize` (enums, floats, nested findings), through serde_json.
    fn value<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.key(key);
        serde_json::to_writer(&mut *self.out, value)
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// A JSON string: copied whole when nothing in it needs escaping, else serde_json escapes it.
fn string(out: &mut Vec<u8>, value: &str) {
    if needs_escape(value) {
        // Writing into a Vec cannot fail, and a str always serialises.
        let _ = serde_json::to_writer(&mut *out, value);
    } else {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
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
