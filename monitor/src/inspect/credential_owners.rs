//! Who uses which credential. The first workload seen sending a credential (by fingerprint)
//! owns it; another workload sending the same credential later is worth an alert
//! (`credential.new_workload`): a key copied into another program, or stolen and replayed from
//! the same host. Workloads are keyed as rates key them (executable and container), so worker
//! processes and restarts of one program are one workload.
//!
//! Fingerprints come from traffic, so the table is bounded (least recently used forgotten
//! first, counted), and so is the list of users per credential.
use std::collections::VecDeque;

use compact_str::CompactString;

use crate::rates::RecencyMap;

/// Workloads remembered per credential beyond its owner.
const MAX_USERS: usize = 16;

struct Users {
    owner: String,
    others: VecDeque<String>,
}

pub(super) struct CredentialOwners {
    /// Keyed by fingerprint, inline (16 hex digits): a lookup builds its key without an
    /// allocation (the table's keys borrow only as themselves).
    table: RecencyMap<CompactString, Users>,
    max_entries: usize,
    evicted: u64,
}

impl CredentialOwners {
    pub fn new(max_entries: usize) -> Self {
        let max_entries = max_entries.max(1);
        Self {
            table: RecencyMap::with_capacity(max_entries),
            max_entries,
            evicted: 0,
        }
    }

    /// `workload` sent the credential `fingerprint`. Returns its owner when `workload` is not
    /// the owner and had not been seen with it before.
    pub fn observe(&mut self, fingerprint: &str, workload: &str) -> Option<String> {
        let key = CompactString::from(fingerprint);
        if let Some(users) = self.table.get_mut_touch(&key) {
            if users.owner == workload || users.others.iter().any(|w| w == workload) {
                return None;
            }
            if users.others.len() >= MAX_USERS {
                users.others.pop_front();
            }
            users.others.push_back(workload.to_owned());
            return Some(users.owner.clone());
        }
        if self.table.len() >= self.max_entries && self.table.pop_lru().is_some() {
            self.evicted += 1;
        }
        self.table.insert(
            key,
            Users {
                owner: workload.to_owned(),
                others: VecDeque::new(),
            },
        );
        None
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_workload_is_reported_once_with_the_owner() {
        let mut owners = CredentialOwners::new(8);
        assert_eq!(owners.observe("fp", "/usr/bin/curl@host"), None);
        assert_eq!(owners.observe("fp", "/usr/bin/curl@host"), None);
        assert_eq!(
            owners.observe("fp", "/usr/bin/python3@host").as_deref(),
            Some("/usr/bin/curl@host")
        );
        assert_eq!(owners.observe("fp", "/usr/bin/python3@host"), None);
        assert_eq!(owners.observe("other", "/usr/bin/python3@host"), None);
    }

    #[test]
    fn the_table_is_bounded_and_counts_what_it_forgets() {
        let mut owners = CredentialOwners::new(1);
        assert_eq!(owners.observe("a", "w1"), None);
        assert_eq!(owners.observe("b", "w1"), None);
        assert_eq!(owners.len(), 1);
        assert_eq!(owners.evicted(), 1);
        // "a" was forgotten: w2 becomes its owner.
        assert_eq!(owners.observe("a", "w2"), None);
    }
}
