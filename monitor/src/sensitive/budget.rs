//! The per-call scanning budget: how many bytes all parts of one exchange may have scanned,
//! and how many candidates (values that reach a kind's check) may be examined. Every cut is
//! recorded, so the caller can count it ("nothing is lost silently").

/// Bytes scanned per exchange, all parts together (target, headers, both body samples).
pub const MAX_BYTES_PER_CALL: usize = 64 * 1024;
/// Candidates examined per exchange.
pub const MAX_CANDIDATES_PER_CALL: u32 = 512;

/// What one exchange may still spend, and what was cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    bytes_left: usize,
    candidates_left: u32,
    /// Parts (or their tails) left unscanned because the bytes ran out.
    pub bytes_cut: u32,
    /// Set when the candidates ran out (the rest of that part and later parts unscanned).
    pub candidates_cut: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Self::new(MAX_BYTES_PER_CALL, MAX_CANDIDATES_PER_CALL)
    }
}

impl Budget {
    pub fn new(bytes: usize, candidates: u32) -> Self {
        Self {
            bytes_left: bytes,
            candidates_left: candidates,
            bytes_cut: 0,
            candidates_cut: 0,
        }
    }

    /// The part of `text` that may be scanned (the bytes are spent); a cut is recorded.
    pub(crate) fn take_bytes<'t>(&mut self, text: &'t [u8]) -> &'t [u8] {
        let allowed = text.len().min(self.bytes_left);
        if allowed < text.len() {
            self.bytes_cut += 1;
        }
        self.bytes_left -= allowed;
        &text[..allowed]
    }

    /// One more candidate examined; `false` (and a recorded cut, once) when none is left.
    pub(crate) fn take_candidate(&mut self) -> bool {
        if self.candidates_left == 0 {
            if self.candidates_cut == 0 {
                self.candidates_cut = 1;
            }
            return false;
        }
        self.candidates_left -= 1;
        true
    }
}
