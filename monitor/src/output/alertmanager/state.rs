//! The alerts the monitor has told Alertmanager about, and what each Alertmanager still needs
//! to hear. Alertmanager keeps an alert firing until its `endsAt`, and expects the sender to
//! send it again while it fires (it forgets alerts across restarts otherwise). So each alert,
//! keyed by its label set, gets `endsAt` = last occurrence + the suppression window + a grace
//! (the monitor summarises repeats once per window, so a firing alert is seen at least that
//! often). It is re-sent every resend interval, sent at once when it changes, and sent one last
//! time when it has ended, which resolves it. Pure: time is passed in.
use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use serde::Serialize;

use super::payload::Labels;
use crate::time::format_system_time as rfc3339;

/// Slack on top of the suppression window before a quiet alert resolves: the window's summary
/// is emitted by a housekeeping tick, up to a second or two after the window closes.
pub const GRACE: Duration = Duration::from_secs(5);
/// How long a quiet alert keeps firing when suppression is off (window 0): Alertmanager's own
/// `resolve_timeout` default.
pub const HOLD_WITHOUT_WINDOW: Duration = Duration::from_secs(300);

/// One alert in the v2 API's shape (`POST /api/v2/alerts` takes a list of these).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PostableAlert {
    pub labels: Labels,
    pub annotations: Labels,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
}

struct Entry {
    labels: Labels,
    annotations: Labels,
    starts_at: SystemTime,
    ends_at: SystemTime,
    occurrences: u64,
    /// Changed since the last round: every Alertmanager hears it in the next round.
    changed: bool,
    /// Reached at least one Alertmanager.
    delivered: bool,
}

/// What one round sends, and to whom.
pub struct Round {
    /// The entries changed since the last round, or ended (their last send).
    pub changed: Vec<PostableAlert>,
    /// Every entry: for an Alertmanager that missed rounds, and for the periodic re-send.
    pub all: Vec<PostableAlert>,
}

pub struct ActiveAlerts {
    entries: HashMap<String, Entry>,
    max_entries: usize,
    hold: Duration,
}

/// What `admit` did with an alert.
#[derive(Debug, PartialEq, Eq)]
pub enum Admitted {
    New,
    Repeat,
    /// The table is full of other firing alerts: this one is not tracked (a counted drop).
    Full,
}

impl ActiveAlerts {
    pub fn new(max_entries: usize, suppression_window: Duration) -> Self {
        let mut alerts = Self {
            entries: HashMap::new(),
            max_entries: max_entries.max(1),
            hold: Duration::ZERO,
        };
        alerts.set_window(suppression_window);
        alerts
    }

    pub fn set_window(&mut self, window: Duration) {
        self.hold = if window.is_zero() {
            HOLD_WITHOUT_WINDOW
        } else {
            window
        } + GRACE;
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// An occurrence (`count` of them, for a summary) of the alert with these labels at `now`.
    pub fn admit(
        &mut self,
        labels: Labels,
        annotations: impl FnOnce(u64) -> Labels,
        count: u64,
        now: SystemTime,
    ) -> Admitted {
        let key = key(&labels);
        if let Some(entry) = self.entries.get_mut(&key)
            && entry.ends_at > now
        {
            entry.occurrences += count;
            entry.annotations = annotations(entry.occurrences);
            entry.ends_at = now + self.hold;
            entry.changed = true;
            return Admitted::Repeat;
        }
        // Absent, or ended and not yet removed: it fires again, as a new alert.
        if !self.entries.contains_key(&key) && self.entries.len() >= self.max_entries {
            return Admitted::Full;
        }
        self.entries.insert(
            key,
            Entry {
                labels,
                annotations: annotations(count),
                starts_at: now,
                ends_at: now + self.hold,
                occurrences: count,
                changed: true,
                delivered: false,
            },
        );
        Admitted::New
    }

    /// Whether a round is due at `now` for changes alone (re-sends are the caller's clock).
    pub fn has_changes(&self, now: SystemTime) -> bool {
        self.entries.values().any(|e| e.changed || e.ends_at <= now)
    }

    /// The earliest `endsAt` still ahead: when the next alert resolves.
    pub fn next_end(&self, now: SystemTime) -> Option<SystemTime> {
        self.entries
            .values()
            .map(|e| e.ends_at)
            .filter(|end| *end > now)
            .min()
    }

    /// What to send now. Ended entries go out with their `endsAt` (in the past: resolved).
    pub fn round(&self, now: SystemTime) -> Round {
        let mut changed = Vec::new();
        let mut all = Vec::with_capacity(self.entries.len());
        for entry in self.entries.values() {
            let alert = PostableAlert {
                labels: entry.labels.clone(),
                annotations: entry.annotations.clone(),
                starts_at: rfc3339(entry.starts_at),
                ends_at: rfc3339(entry.ends_at),
            };
            if entry.changed || entry.ends_at <= now {
                changed.push(alert.clone());
            }
            all.push(alert);
        }
        Round { changed, all }
    }

    /// After a round at `now`: clears the changes, marks what reached an Alertmanager, and
    /// forgets ended entries. Returns how many ended without ever reaching one (lost).
    pub fn finish_round(&mut self, now: SystemTime, delivered: bool) -> u64 {
        let mut lost = 0;
        self.entries.retain(|_, entry| {
            entry.changed = false;
            entry.delivered |= delivered;
            if entry.ends_at <= now {
                lost += u64::from(!entry.delivered);
                return false;
            }
            true
        });
        lost
    }
}

/// Alertmanager identifies an alert by its label set; so does this table.
fn key(labels: &Labels) -> String {
    let mut key = String::new();
    for (name, value) in labels {
        key.push_str(name);
        key.push('\u{1f}');
        key.push_str(value);
        key.push('\u{1e}');
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(rule: &str) -> Labels {
        Labels::from([("alertname".to_owned(), rule.to_owned())])
    }

    fn notes(n: u64) -> Labels {
        Labels::from([("occurrences".to_owned(), n.to_string())])
    }

    const T0: SystemTime = SystemTime::UNIX_EPOCH;
    fn at(secs: u64) -> SystemTime {
        T0 + Duration::from_secs(1_800_000_000 + secs)
    }

    #[test]
    fn repeats_stay_one_alert_and_push_its_end() {
        let mut active = ActiveAlerts::new(10, Duration::from_secs(60));
        assert_eq!(active.admit(labels("a"), notes, 1, at(0)), Admitted::New);
        assert_eq!(
            active.admit(labels("a"), notes, 4, at(30)),
            Admitted::Repeat
        );
        assert_eq!(active.len(), 1);
        let round = active.round(at(30));
        assert_eq!(round.changed.len(), 1);
        let alert = &round.changed[0];
        assert_eq!(alert.starts_at, rfc3339(at(0)));
        assert_eq!(alert.ends_at, rfc3339(at(30 + 60 + 5)));
        assert_eq!(alert.annotations["occurrences"], "5");
        assert_eq!(active.finish_round(at(30), true), 0);
        assert!(!active.has_changes(at(31)));
        assert_eq!(active.next_end(at(31)), Some(at(95)));
    }

    #[test]
    fn a_quiet_alert_is_sent_once_more_resolved_then_forgotten() {
        let mut active = ActiveAlerts::new(10, Duration::from_secs(10));
        active.admit(labels("a"), notes, 1, at(0));
        active.finish_round(at(0), true);
        assert!(!active.has_changes(at(14)));
        assert!(active.has_changes(at(15)));
        let round = active.round(at(15));
        assert_eq!(round.changed.len(), 1);
        assert_eq!(round.changed[0].ends_at, rfc3339(at(15)));
        assert_eq!(active.finish_round(at(15), true), 0);
        assert!(active.is_empty());
        // It fires again: a new alert with a new start.
        assert_eq!(active.admit(labels("a"), notes, 1, at(20)), Admitted::New);
        assert_eq!(active.round(at(20)).changed[0].starts_at, rfc3339(at(20)));
    }

    #[test]
    fn an_alert_that_never_reached_alertmanager_is_counted_lost_when_it_ends() {
        let mut active = ActiveAlerts::new(10, Duration::from_secs(10));
        active.admit(labels("a"), notes, 1, at(0));
        assert_eq!(active.finish_round(at(0), false), 0);
        assert_eq!(active.finish_round(at(15), false), 1);
        assert!(active.is_empty());
    }

    #[test]
    fn a_full_table_refuses_new_alerts_but_takes_repeats() {
        let mut active = ActiveAlerts::new(2, Duration::from_secs(60));
        active.admit(labels("a"), notes, 1, at(0));
        active.admit(labels("b"), notes, 1, at(0));
        assert_eq!(active.admit(labels("c"), notes, 1, at(1)), Admitted::Full);
        assert_eq!(active.admit(labels("a"), notes, 1, at(1)), Admitted::Repeat);
    }

    #[test]
    fn without_suppression_a_quiet_alert_holds_five_minutes() {
        let mut active = ActiveAlerts::new(10, Duration::ZERO);
        active.admit(labels("a"), notes, 1, at(0));
        assert_eq!(active.next_end(at(0)), Some(at(305)));
    }
}
