//! gRPC over HTTP/2: recognising a call, splitting its path, naming its status, and counting
//! length-prefixed messages in DATA without buffering them.

/// `application/grpc`, `application/grpc+proto`, `application/grpc-web`...
pub fn is_grpc_content_type(value: &[u8]) -> bool {
    value
        .get(..16)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"application/grpc"))
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`).
pub fn split_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix('/')?;
    let (service, method) = rest.split_once('/')?;
    let ok = |s: &str| !s.is_empty() && !s.contains(['/', '?']) && s.len() <= 256;
    (ok(service) && ok(method)).then(|| (service.to_owned(), method.to_owned()))
}

/// The canonical name of a gRPC status code.
pub fn status_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNRECOGNISED",
    }
}

/// Length of a `grpc-message` once its percent-encoding (gRPC's wire form) is undone, so the
/// same text has the same length whichever library sent it.
pub fn decoded_message_len(value: &[u8]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < value.len() {
        let escape = value.get(i) == Some(&b'%')
            && value
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        i += if escape { 3 } else { 1 };
        len += 1;
    }
    len
}

/// Counts gRPC messages (1 flag byte, 4-byte big-endian length, payload) in one side's DATA.
#[derive(Clone, Debug, Default)]
pub struct MessageCounter {
    /// Bytes of the current 5-byte prefix seen so far.
    prefix: [u8; 5],
    prefix_len: usize,
    /// Payload bytes of the current message still to skip.
    remaining: u64,
    count: u64,
    /// A gap crossed a message boundary: the count is no longer known.
    lost: bool,
}

impl MessageCounter {
    pub fn data(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.lost {
            if self.remaining > 0 {
                let n = (self.remaining.min(bytes.len() as u64)) as usize;
                self.remaining -= n as u64;
                bytes = bytes.get(n..).unwrap_or_default();
                continue;
            }
            let want = 5 - self.prefix_len;
            let take = want.min(bytes.len());
            if let (Some(dst), Some(src)) = (
                self.prefix.get_mut(self.prefix_len..self.prefix_len + take),
                bytes.get(..take),
            ) {
                dst.copy_from_slice(src);
            }
            self.prefix_len += take;
            bytes = bytes.get(take..).unwrap_or_default();
            if self.prefix_len == 5 {
                self.count += 1;
                self.prefix_len = 0;
                let [_, a, b, c, d] = self.prefix;
                self.remaining = u64::from(u32::from_be_bytes([a, b, c, d]));
            }
        }
    }

    /// `len` bytes were not seen: harmless inside one message's payload.
    pub fn gap(&mut self, len: u64) {
        if self.prefix_len == 0 && len <= self.remaining {
            self.remaining -= len;
        } else {
            self.lost = true;
        }
    }

    pub fn count(&self) -> Option<u64> {
        (!self.lost).then_some(self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(len: u32) -> Vec<u8> {
        let mut m = vec![0];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend(std::iter::repeat_n(7u8, len as usize));
        m
    }

    #[test]
    fn counts_messages_split_anywhere() {
        let stream: Vec<u8> = [message(3), message(0), message(300)].concat();
        for split in 0..stream.len() {
            let mut c = MessageCounter::default();
            c.data(&stream[..split]);
            c.data(&stream[split..]);
            assert_eq!(c.count(), Some(3), "split at {split}");
        }
    }

    #[test]
    fn gap_inside_a_payload_keeps_the_count_one_across_a_boundary_loses_it() {
        let mut c = MessageCounter::default();
        c.data(&message(100)[..10]);
        c.gap(95);
        c.data(&message(1));
        assert_eq!(c.count(), Some(2));
        c.gap(10);
        assert_eq!(c.count(), None);
    }

    #[test]
    fn paths_and_statuses() {
        assert_eq!(
            split_path("/demo.Greeter/SayHello"),
            Some(("demo.Greeter".into(), "SayHello".into()))
        );
        assert_eq!(split_path("/index.html"), None);
        assert_eq!(status_name(5), "NOT_FOUND");
        assert_eq!(decoded_message_len(b"no%20such%20name"), 12);
        assert_eq!(decoded_message_len(b"100%"), 4);
        assert!(is_grpc_content_type(b"application/grpc+proto"));
        assert!(!is_grpc_content_type(b"application/json"));
    }
}
