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
//! writer against it byte for byte, with every optional part present and absent. The writer
//! takes each struct apart whole (`let ApiCall { .. } = call`), so a field added to a struct it
//! writes does not compile until it is written here too.
use std::{fmt::Write as _, net::IpAddr};

use serde::Serialize;

use super::{ApiCall, EndpointOut, ProcessOut, TlsOut, api_call::Ipv4Text};
use crate::credentials::{Finding, Location};

/// A key as [`Object::key`] takes it: `,"name":`.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

/// Appends `call` as one JSON object (no newline) to `out`: the same text as
/// `serde_json::to_string(call)`.
pub fn write_api_call(call: &ApiCall, out: &mut String) -> Result<(), serde_json::Error> {
    // Taken apart whole, so that a field added to `ApiCall` does not compile until it is
    // written here too.
    let ApiCall {
        time,
        event,
        role,
        direction,
        process: own,
        peer_process,
        tls,
        tls_library: library,
        local,
        remote,
        connection_id,
        method,
        host,
        path,
        // Not printed: the inspector's.
        path_template: _,
        query_params,
        http_version,
        status,
        request_bytes,
        request_body_bytes,
        response_bytes,
        response_body_bytes,
        latency_ms,
        complete,
        stream_id,
        capture_start,
        unknown_fields,
        reset,
        grpc,
        rejected,
        credentials,
        sensitive_data,
    } = call;
    let mut o = Object::open(out);
    let mut text = [0u8; crate::time::RFC3339_MAX];
    // Out of range prints "", as `WallTime`'s `Serialize` does.
    o.str(key!("time"), time.write(&mut text).unwrap_or_default());
    o.str(key!("event"), event);
    o.str(key!("role"), role.as_str());
    o.str(key!("direction"), direction.as_str());
    o.key(key!("process"));
    process(o.out, own)?;
    o.key(key!("peer_process"));
    match peer_process {
        Some(peer) => process(o.out, peer)?,
        None => o.out.push_str("null"),
    }
    o.bool(key!("tls"), *tls);
    o.key(key!("tls_library"));
    match library {
        Some(library) => tls_library(o.out, library),
        None => o.out.push_str("null"),
    }
    o.key(key!("local"));
    endpoint(o.out, local.as_ref());
    o.key(key!("remote"));
    endpoint(o.out, remote.as_ref());
    o.str(key!("connection_id"), connection_id.hex(&mut [0; 18]));
    o.opt_str(key!("method"), method.as_deref());
    o.opt_str(key!("host"), host.as_deref());
    o.opt_str(key!("path"), path.as_deref());
    o.key(key!("query_params"));
    array(o.out, query_params, |out, name| {
        string(out, name);
        Ok(())
    })?;
    o.str(key!("http_version"), http_version);
    o.opt_uint(key!("status"), status.map(u64::from));
    o.uint(key!("request_bytes"), *request_bytes);
    o.uint(key!("request_body_bytes"), *request_body_bytes);
    o.opt_uint(key!("response_bytes"), *response_bytes);
    o.opt_uint(key!("response_body_bytes"), *response_body_bytes);
    o.key(key!("latency_ms"));
    match *latency_ms {
        // serde_json's own float writer, and its `null` for what JSON cannot hold.
        Some(ms) if ms.is_finite() => o.out.push_str(zmij::Buffer::new().format_finite(ms)),
        _ => o.out.push_str("null"),
    }
    o.bool(key!("complete"), *complete);
    if let Some(stream_id) = *stream_id {
        o.uint(key!("stream_id"), u64::from(stream_id));
    }
    if let Some(start) = capture_start {
        o.value(key!("capture_start"), start)?;
    }
    if !unknown_fields.is_empty() {
        o.value(key!("unknown_fields"), unknown_fields)?;
    }
    if let Some(reset) = reset {
        o.value(key!("reset"), reset)?;
    }
    if let Some(grpc) = grpc {
        o.value(key!("grpc"), grpc)?;
    }
    if let Some(rejected) = *rejected {
        o.str(key!("rejected"), rejected);
    }
    o.key(key!("credentials"));
    array(o.out, credentials, credential)?;
    if !sensitive_data.is_empty() {
        o.value(key!("sensitive_data"), sensitive_data)?;
    }
    o.close();
    Ok(())
}

fn process(out: &mut String, p: &ProcessOut) -> Result<(), serde_json::Error> {
    let ProcessOut {
        pid,
        tid,
        command,
        executable,
        uid,
        container_id,
        k8s,
    } = p;
    let mut o = Object::open(out);
    o.uint(key!("pid"), u64::from(*pid));
    o.uint(key!("tid"), u64::from(*tid));
    o.str(key!("command"), command);
    o.opt_str(key!("executable"), executable.as_deref());
    o.uint(key!("uid"), u64::from(*uid));
    o.opt_str(key!("container_id"), container_id.as_deref());
    if let Some(k8s) = k8s {
        o.value(key!("k8s"), k8s)?;
    }
    o.close();
    Ok(())
}

/// Most calls to an API carry one credential, and its object cost as much as the rest of the
/// line through serde_json.
fn credential(out: &mut String, finding: &Finding) -> Result<(), serde_json::Error> {
    let Finding {
        kind,
        location,
        length,
        prefix,
        fingerprint,
        jwt,
    } = finding;
    let mut o = Object::open(out);
    o.str(key!("kind"), kind.as_str());
    o.key(key!("location"));
    let mut place = Object::open(o.out);
    match location {
        Location::Header { name } => {
            place.str(key!("in"), "header");
            place.str(key!("name"), name);
        }
        Location::Query { parameter } => {
            place.str(key!("in"), "query");
            place.str(key!("parameter"), parameter);
        }
        Location::Path => place.str(key!("in"), "path"),
        Location::Body => place.str(key!("in"), "body"),
    }
    place.close();
    o.uint(key!("length"), *length as u64);
    o.opt_str(key!("prefix"), prefix.as_deref());
    o.str(key!("fingerprint"), fingerprint);
    if let Some(jwt) = jwt {
        o.value(key!("jwt"), jwt)?;
    }
    o.close();
    Ok(())
}

fn tls_library(out: &mut String, library: &TlsOut) {
    let TlsOut { name, library } = library;
    let mut o = Object::open(out);
    o.str(key!("name"), name.as_str());
    o.str(key!("path"), &library.path);
    o.close();
}

fn endpoint(out: &mut String, endpoint: Option<&EndpointOut>) {
    let Some(EndpointOut { ip, port }) = endpoint else {
        out.push_str("null");
        return;
    };
    let mut o = Object::open(out);
    o.key(key!("ip"));
    o.out.push('"');
    match *ip {
        IpAddr::V4(v4) => o.out.push_str(Ipv4Text::new(v4).as_str()),
        // Writing into a String cannot fail.
        IpAddr::V6(v6) => {
            let _ = write!(o.out, "{v6}");
        }
    }
    o.out.push('"');
    o.uint(key!("port"), u64::from(*port));
    o.close();
}

/// A JSON array of `items`, each written by `write`.
fn array<T>(
    out: &mut String,
    items: &[T],
    mut write: impl FnMut(&mut String, &T) -> Result<(), serde_json::Error>,
) -> Result<(), serde_json::Error> {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, item)?;
    }
    out.push(']');
    Ok(())
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

    /// `key` is `key!(name)`: the separator, the quoted name and the colon in one constant,
    /// copied in one go (without its comma before an object's first key). Once inlined, its
    /// length is a constant and the copy a few moves: written as four pieces, the keys cost
    /// about fifty instructions each, a twentieth of the line.
    #[inline(always)]
    fn key(&mut self, key: &'static str) {
        debug_assert!(key.starts_with(",\"") && key.ends_with("\":"));
        debug_assert!(!needs_escape(&key[2..key.len() - 2]));
        if self.first {
            self.first = false;
            self.out.push_str(&key[1..]);
        } else {
            self.out.push_str(key);
        }
    }

    #[inline(always)]
    fn str(&mut self, key: &'static str, value: &str) {
        self.key(key);
        string(self.out, value);
    }

    #[inline(always)]
    fn opt_str(&mut self, key: &'static str, value: Option<&str>) {
        self.key(key);
        match value {
            Some(value) => string(self.out, value),
            None => self.out.push_str("null"),
        }
    }

    #[inline(always)]
    fn uint(&mut self, key: &'static str, value: u64) {
        self.key(key);
        self.out.push_str(itoa::Buffer::new().format(value));
    }

    #[inline(always)]
    fn opt_uint(&mut self, key: &'static str, value: Option<u64>) {
        match value {
            Some(value) => self.uint(key, value),
            None => {
                self.key(key);
                self.out.push_str("null");
            }
        }
    }

    #[inline(always)]
    fn bool(&mut self, key: &'static str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }

    /// A part written by its own `Serialize` through serde_json: the HTTP/2 and gRPC fields,
    /// JWT facts, sensitive-data summaries and the Kubernetes identity. Each costs a `String`;
    /// only the identity is on every call, and only in Kubernetes.
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
        return escaped(out, value);
    }
    out.reserve(value.len() + 2);
    out.push('"');
    out.push_str(value);
    out.push('"');
}

/// Out of line: with serde_json's call inside it, `string` saved and restored a handful of
/// registers on each of the twenty-odd strings of a line, for a path almost never taken.
#[cold]
#[inline(never)]
fn escaped(out: &mut String, value: &str) {
    // serde_json fails only when its writer does, and writing into a String cannot.
    out.push_str(&serde_json::to_string(value).unwrap_or_default());
}

/// What serde_json escapes: `"`, `\\` and the control characters below 0x20. (It leaves DEL and
/// all non-ASCII text as they are.)
fn needs_escape(value: &str) -> bool {
    needs_escape_bytes(value.as_bytes())
}

/// Eight bytes at a time (the last word overlapping the one before): a byte-wise loop cost
/// about five instructions a byte, on the twenty-odd strings of every line.
fn needs_escape_bytes(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // High bit set in the word's mask when some byte of `w` is below `n` (n <= 128): exact for
    // the word as a whole (a borrow can set the bit of a byte above a matching one, never of a
    // word with no match). The three masks are or-ed before one test, not tested in turn.
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w;
    let equal = |w: u64, b: u64| below(w ^ (ONES * b), 1);
    let special =
        |w: u64| (below(w, 0x20) | equal(w, b'"' as u64) | equal(w, b'\\' as u64)) & HIGH != 0;
    // Many values are shorter than a word ("GET", "1.1", a command name): from four bytes on,
    // two overlapping four-byte reads make the word (a byte loop cost five instructions a
    // byte). Bytes read twice are the same bytes, so the answer is the same.
    if bytes.len() < 8 {
        if bytes.len() < 4 {
            return bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
        }
        let half = |at: usize| {
            u64::from(u32::from_le_bytes(
                bytes[at..at + 4].try_into().expect("four bytes"),
            ))
        };
        return special(half(0) | (half(bytes.len() - 4) << 32));
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    let mut at = 0;
    while at + 8 <= bytes.len() {
        if special(word(at)) {
            return true;
        }
        at += 8;
    }
    at < bytes.len() && special(word(bytes.len() - 8))
}

#[cfg(test)]
mod tests;
