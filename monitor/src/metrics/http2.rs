//! The `monitor_http2_*` counters: how HTTP/2 connections were first seen, what could not be
//! known, and what was lost or bounded.
use prometheus::{IntCounter, IntCounterVec, Registry};

use super::{counter, counter_vec};
use crate::protocols::http2::Stat;

pub(super) struct Http2Metrics {
    connections: IntCounterVec,
    unknown: IntCounterVec,
    blocks_lost: IntCounter,
    streams_evicted: IntCounter,
    events: IntCounterVec,
}

impl Http2Metrics {
    pub(super) fn new(registry: &Registry) -> Self {
        Self {
            connections: counter_vec(
                registry,
                "monitor_http2_connections_total",
                "HTTP/2 connections, by how the capture started (preface, upgrade, mid_connection: its HPACK state was partly unknown).",
                &["capture_start"],
            ),
            unknown: counter_vec(
                registry,
                "monitor_http2_hpack_unknown_total",
                "HTTP/2 calls reported with a field unknown (it referred to a header table entry the monitor never saw), by field.",
                &["field"],
            ),
            blocks_lost: counter(
                registry,
                "monitor_http2_header_blocks_lost_total",
                "HTTP/2 header blocks lost (a gap, or over the size limit): the direction's header table is partly unknown after each.",
            ),
            streams_evicted: counter(
                registry,
                "monitor_http2_streams_evicted_total",
                "HTTP/2 streams dropped unreported because a connection had too many open.",
            ),
            events: counter_vec(
                registry,
                "monitor_http2_stream_events_total",
                "HTTP/2 pushes, stream resets and GOAWAYs seen.",
                &["event"],
            ),
        }
    }

    pub(super) fn count(&self, stat: Stat) {
        match stat {
            Stat::Connection(start) => self.connections.with_label_values(&[start.label()]).inc(),
            Stat::UnknownField(field) => self.unknown.with_label_values(&[field.label()]).inc(),
            Stat::HeaderBlockLost => self.blocks_lost.inc(),
            Stat::StreamEvicted => self.streams_evicted.inc(),
            Stat::Push => self.events.with_label_values(&["push"]).inc(),
            Stat::Reset => self.events.with_label_values(&["reset"]).inc(),
            Stat::Goaway => self.events.with_label_values(&["goaway"]).inc(),
        }
    }
}
