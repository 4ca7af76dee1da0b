//! The passive HPACK decoder: one per connection direction, fed every header block in wire
//! order, resolving what it can and reporting `None` for what refers to entries it never saw.

use bytes::Bytes;

use super::primitives::Cursor;
use super::table::{DynamicTable, ENTRY_OVERHEAD, Entry, Slot};
use super::{Field, HpackError, static_table};

/// RFC 7541 / RFC 9113 default for SETTINGS_HEADER_TABLE_SIZE.
pub const DEFAULT_TABLE_SIZE: usize = 4096;
/// Largest dynamic table we agree to track, whatever the peer advertised: it bounds the memory a
/// hostile encoder can make us hold per connection direction.
pub const MAX_TRACKED_TABLE_SIZE: usize = 256 * 1024;
/// Largest decoded name or value.
pub const MAX_STRING: usize = 64 * 1024;
/// Largest decoded header list (RFC 9113 §6.5.2 sizing: name + value + 32 per field). An indexed
/// field is one byte on the wire but up to a table's worth decoded, so the output needs its own
/// bound.
pub const MAX_HEADER_LIST: usize = 1024 * 1024;

/// Fields a block's list has room for before it grows: a request's pseudo-headers and a few
/// more.
const TYPICAL_FIELDS: usize = 12;

/// Decoding state for one direction of one connection.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// The SETTINGS_HEADER_TABLE_SIZE the decoding side advertised (and the peer acknowledged);
    /// `None` when it was never seen, then only [`MAX_TRACKED_TABLE_SIZE`] applies.
    settings_limit: Option<usize>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder for a connection seen from its start: empty table, everything known.
    pub fn new() -> Self {
        Self {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            settings_limit: Some(DEFAULT_TABLE_SIZE),
        }
    }

    /// A decoder for a connection first seen mid-way: the table may hold entries we never saw,
    /// and the settings limit is unknown. The maximum size is assumed to be the default until a
    /// size update says otherwise (see [`Decoder::lose_state`] for why this cannot produce
    /// wrong fields).
    pub fn new_unknown() -> Self {
        let mut decoder = Self {
            settings_limit: None,
            ..Self::new()
        };
        decoder.table.forget();
        decoder
    }

    /// A header block was not decoded (lost in a gap, over a size limit, undecodable): every
    /// entry currently in the table becomes unknown. Entries inserted afterwards resolve again.
    ///
    /// The lost block may also have carried a size update we did not see. The maximum size is
    /// only used for eviction, and eviction only ever removes the *oldest* entries: positions
    /// of the entries we know are unaffected, and an entry the encoder evicted is one it will
    /// not reference. So a stale maximum can make us resolve an index a strict decoder would
    /// reject, but never resolve one to a wrong field.
    pub fn lose_state(&mut self) {
        self.table.forget();
    }

    /// Decodes one complete header block. On error the table state becomes unknown (as after
    /// [`Decoder::lose_state`]) and the fields decoded so far are discarded.
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<Field>, HpackError> {
        let result = self.decode_block(block);
        if result.is_err() {
            self.lose_state();
        }
        result
    }

    /// Lower bound of the current dynamic table size (exact when every entry is known).
    pub fn table_size(&self) -> usize {
        self.table.known_size_min()
    }

    /// Current maximum dynamic table size (the last size update, or the default).
    pub fn max_table_size(&self) -> usize {
        self.table.max_size()
    }

    /// Whether the table may hold entries we never saw.
    pub fn has_unknown_entries(&self) -> bool {
        self.table.has_unknown_tail() || self.table_size() != self.table.known_size_max()
    }

    /// The decoding side's SETTINGS_HEADER_TABLE_SIZE took effect (call it when the peer
    /// acknowledges the SETTINGS frame): later size updates must not exceed it.
    pub fn set_settings_limit(&mut self, limit: u32) {
        self.settings_limit = Some(usize::try_from(limit).unwrap_or(usize::MAX));
    }

    fn decode_block(&mut self, block: &[u8]) -> Result<Vec<Field>, HpackError> {
        let mut cur = Cursor::new(block);
        // Room for a typical block's fields up front: grown from empty, a request's list was
        // reallocated once or twice.
        let mut fields = Vec::with_capacity(TYPICAL_FIELDS);
        let mut list_size = 0usize;
        while let Some(first) = cur.peek() {
            let field = if first & 0x80 != 0 {
                let index = cur.integer(7)?;
                self.indexed(index)?
            } else if first & 0xc0 == 0x40 {
                self.literal(&mut cur, 6, true, false)?
            } else if first & 0xe0 == 0x20 {
                // Size updates are only allowed before the first field (RFC 7541 §4.2).
                if !fields.is_empty() {
                    return Err(HpackError::LateSizeUpdate);
                }
                let size = cur.integer(5)?;
                let limit = self.settings_limit.unwrap_or(MAX_TRACKED_TABLE_SIZE);
                if size > limit || size > MAX_TRACKED_TABLE_SIZE {
                    return Err(HpackError::SizeUpdateTooLarge { size, limit });
                }
                self.table.set_max_size(size);
                continue;
            } else {
                // 0001xxxx never indexed, 0000xxxx without indexing.
                self.literal(&mut cur, 4, false, first & 0x10 != 0)?
            };
            let size = field.name.as_ref().map_or(0, Bytes::len)
                + field.value.as_ref().map_or(0, Bytes::len)
                + ENTRY_OVERHEAD;
            list_size = list_size.saturating_add(size);
            if list_size > MAX_HEADER_LIST {
                return Err(HpackError::HeaderListTooLarge);
            }
            fields.push(field);
        }
        Ok(fields)
    }

    fn indexed(&self, index: usize) -> Result<Field, HpackError> {
        if let Some((name, value)) = static_table::get(index) {
            return Ok(Field::new(
                Some(Bytes::from_static(name)),
                Some(Bytes::from_static(value)),
            ));
        }
        match self.dynamic(index)? {
            Slot::Known(entry) => Ok(Field::new(entry.name.clone(), Some(entry.value.clone()))),
            Slot::Unknown => Ok(Field::new(None, None)),
        }
    }

    fn dynamic(&self, index: usize) -> Result<Slot<'_>, HpackError> {
        let pos = index
            .checked_sub(static_table::STATIC_TABLE.len() + 1)
            .ok_or(HpackError::BadIndex(index))?;
        self.table.get(pos).ok_or(HpackError::BadIndex(index))
    }

    /// A literal field (RFC 7541 §6.2) whose index has `prefix_bits` bits.
    fn literal(
        &mut self,
        cur: &mut Cursor<'_>,
        prefix_bits: u8,
        indexing: bool,
        never_indexed: bool,
    ) -> Result<Field, HpackError> {
        let index = cur.integer(prefix_bits)?;
        // The name, plus bounds on its length when it is unknown.
        let (name, name_min, name_max) = if index == 0 {
            let name = Bytes::from(cur.string(MAX_STRING)?);
            let len = name.len();
            (Some(name), len, len)
        } else if let Some((name, _)) = static_table::get(index) {
            (Some(Bytes::from_static(name)), name.len(), name.len())
        } else {
            match self.dynamic(index)? {
                Slot::Known(entry) => (entry.name.clone(), entry.name_min, entry.name_max),
                // Whatever it is, it fitted in the table.
                Slot::Unknown => (
                    None,
                    0,
                    self.table.max_size().saturating_sub(ENTRY_OVERHEAD),
                ),
            }
        };
        let value = Bytes::from(cur.string(MAX_STRING)?);
        if indexing {
            self.table.insert(Entry {
                name: name.clone(),
                value: value.clone(),
                name_min,
                name_max,
            });
        }
        Ok(Field {
            name,
            value: Some(value),
            never_indexed,
        })
    }
}
