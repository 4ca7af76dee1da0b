//! The sink contract: what every output (stdout, the alert file, Alertmanager, webhooks) is to
//! the daemon. A sink says what it wants (calls, alerts from a minimum severity), takes each
//! event without ever blocking capture (it queues or counts a drop), and delivers what it holds
//! when the daemon stops. Adding a sink (OTLP, syslog) is one file implementing [`Sink`] plus
//! its entry in `config.rs`.
use std::time::Duration;

use crate::{pipeline::Output, policy::Severity};

pub trait Sink: Send {
    /// The sink's label on its counters (`stdout`, `alert_file`, `alertmanager`, `webhook`...).
    fn name(&self) -> &str;

    /// Takes one event. Must return at once: a sink that cannot keep up drops and counts
    /// (`monitor_output_dropped_total{sink}`), it never holds up the pipeline.
    fn send(&mut self, output: &Output);

    /// The policy's suppression window, at start and after each reload: a repeated alert is
    /// summarised once per window, so a sink that tracks alert state (Alertmanager's `endsAt`)
    /// knows how long a quiet alert stays firing.
    fn set_suppression_window(&mut self, _window: Duration) {}

    /// No more events for now (the end of a turn of the daemon's loop): a sink that gathers
    /// events hands what it holds on.
    fn end_batch(&mut self) {}

    /// Delivers what is queued (within the sink's own time bound) and stops.
    fn close(&mut self);
}

/// Which events a sink is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest {
    pub calls: bool,
    pub alerts: bool,
    /// Alerts below this severity are not sent.
    pub min_severity: Severity,
}

impl Interest {
    pub const ALERTS: Self = Self {
        calls: false,
        alerts: true,
        min_severity: Severity::Info,
    };

    pub fn wants(&self, output: &Output) -> bool {
        match output {
            Output::Call(_) => self.calls,
            Output::Alert(alert) => self.alerts && alert.severity >= self.min_severity,
        }
    }
}

/// Every configured sink, each with what it wants: the daemon's one place to send an event.
#[derive(Default)]
pub struct Sinks {
    sinks: Vec<(Interest, Box<dyn Sink>)>,
}

impl Sinks {
    pub fn add(&mut self, interest: Interest, sink: Box<dyn Sink>) {
        self.sinks.push((interest, sink));
    }

    pub fn names(&self) -> Vec<&str> {
        self.sinks.iter().map(|(_, sink)| sink.name()).collect()
    }

    pub fn send(&mut self, output: &Output) {
        for (interest, sink) in &mut self.sinks {
            if interest.wants(output) {
                sink.send(output);
            }
        }
    }

    /// `send` as the pipeline's output callback. Borrowed per call rather than held in one
    /// closure across the daemon's loop, which also reaches the sinks on a policy reload.
    pub fn emitter(&mut self) -> impl FnMut(Output) + '_ {
        move |output| self.send(&output)
    }

    pub fn set_suppression_window(&mut self, window: Duration) {
        for (_, sink) in &mut self.sinks {
            sink.set_suppression_window(window);
        }
    }

    pub fn end_batch(&mut self) {
        for (_, sink) in &mut self.sinks {
            sink.end_batch();
        }
    }

    /// Closes every sink; each bounds its own wait (a hung receiver cannot hold up shutdown).
    pub fn close(&mut self) {
        for (_, sink) in &mut self.sinks {
            sink.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::alerts::Alert;

    /// Records what it is sent, by rule id (calls as `call`).
    struct Recording(Arc<Mutex<Vec<String>>>);
    impl Sink for Recording {
        fn name(&self) -> &str {
            "recording"
        }
        fn send(&mut self, output: &Output) {
            let what = match output {
                Output::Call(_) => "call".to_owned(),
                Output::Alert(a) => a.rule_id.clone(),
            };
            self.0.lock().unwrap().push(what);
        }
        fn close(&mut self) {
            self.0.lock().unwrap().push("closed".into());
        }
    }

    #[test]
    fn each_sink_gets_only_what_it_wants() {
        let everything = Arc::new(Mutex::new(Vec::new()));
        let high_alerts = Arc::new(Mutex::new(Vec::new()));
        let mut sinks = Sinks::default();
        sinks.add(
            Interest {
                calls: true,
                ..Interest::ALERTS
            },
            Box::new(Recording(everything.clone())),
        );
        sinks.add(
            Interest {
                min_severity: Severity::High,
                ..Interest::ALERTS
            },
            Box::new(Recording(high_alerts.clone())),
        );
        sinks.send(&Output::Alert(Alert::example("low.one", Severity::Low)));
        sinks.send(&Output::Alert(Alert::example("high.one", Severity::High)));
        sinks.send(&Output::Alert(Alert::example(
            "crit.one",
            Severity::Critical,
        )));
        sinks.close();
        assert_eq!(
            *everything.lock().unwrap(),
            ["low.one", "high.one", "crit.one", "closed"]
        );
        assert_eq!(
            *high_alerts.lock().unwrap(),
            ["high.one", "crit.one", "closed"]
        );
    }
}
