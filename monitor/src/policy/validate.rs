//! From text to a built policy: parses the document (stopping at the first syntax or type error,
//! which serde reports with its position), then checks how the parts fit together and compiles
//! the rules, collecting every semantic error (undefined or duplicate workloads, duplicate rule
//! ids, empty selectors and lists, impossible limits...) with its line and column.
use std::collections::{HashMap, HashSet};

use ipnet::IpNet;

use super::{
    DetectorSettings, Mode, Settings, defaults,
    directions::Directions,
    errors::{PolicyError, PolicyErrors, did_you_mean, duplicate_field, from_yaml_error},
    hosts::{HostPattern, HostSet},
    k8s_selector::{K8sSelector, RawK8sSelector},
    locate::{YamlPath, locate, within_text},
    model::{
        Action, Document, RateKey, RawAuthFailures, RawCredentials, RawDestinationRule,
        RawRateRule, RawSelector, RawSensitiveData, RawTransport,
    },
    rules::{
        AuthFailureRules, CredentialRules, DestinationRule, RateRule, Rules, SensitiveRules,
        TransportRule,
    },
    selector::{Scope, Selector},
    values::{Name, RuleId},
};
use crate::sensitive::KindSet;

/// The only document version so far.
const VERSION: u32 = 1;

/// Semantic errors reported at most: each costs a re-read of the document to find its position,
/// and a file with thousands of errors needs fixing at its first ones anyway.
const MAX_ERRORS: usize = 100;

/// Parses, checks and compiles a policy document.
pub(super) fn build(text: &str) -> Result<(Settings, Rules), PolicyErrors> {
    if text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        return Err(PolicyErrors::new(vec![PolicyError {
            line: 1,
            column: 1,
            message: "the policy document is empty".to_owned(),
            hint: Some(
                "start with `version: 1`; `monitor policy default` prints a full example"
                    .to_owned(),
            ),
        }]));
    }
    let document: Document = serde_yaml_ng::from_str(text).map_err(|e| {
        let mut error = from_yaml_error(&e);
        (error.line, error.column) = within_text(text, error.line, error.column);
        if let Some((mapping, field)) = duplicate_field(&error)
            && let Some(mapping) = YamlPath::from_serde(mapping)
        {
            (error.line, error.column) = locate(text, &mapping.key_nth(field, 1).the_key());
        }
        PolicyErrors::new(vec![error])
    })?;
    let mut checker = Checker {
        text,
        errors: Vec::new(),
        more_errors: 0,
        workloads: HashMap::new(),
        rule_ids: HashMap::new(),
    };
    let root = YamlPath::root();
    if document.version != VERSION {
        checker.error(
            &root.key("version"),
            format!("unsupported policy version {}", document.version),
            Some(format!("this monitor reads `version: {VERSION}`")),
        );
    }
    let selectors = checker.workloads(&document);
    let destinations = document
        .destinations
        .iter()
        .enumerate()
        .filter_map(|(i, rule)| checker.destination(rule, &root.key("destinations").index(i)))
        .collect::<Vec<_>>();
    let settings = checker.settings(&document);
    let transport = checker.transport(&document.transport);
    let credentials = checker.credentials(&document.credentials);
    let rate = document
        .rate_limits
        .iter()
        .enumerate()
        .filter_map(|(i, rule)| checker.rate_rule(rule, &root.key("rate_limits").index(i)))
        .collect();
    let auth_failures = checker.auth_failures(&document.auth_failures);
    let sensitive = checker.sensitive_data(&document.sensitive_data);
    if !checker.errors.is_empty() {
        let mut errors = PolicyErrors::new(checker.errors);
        if checker.more_errors > 0 {
            // Last, whatever its position: it is about the list, not a place in the file.
            let line = errors.errors.last().map_or(1, |e| e.line);
            errors.errors.push(PolicyError {
                line,
                column: 1,
                message: format!("... and {} more errors", checker.more_errors),
                hint: Some(format!("only the first {MAX_ERRORS} are shown")),
            });
        }
        return Err(errors);
    }
    Ok((
        settings,
        Rules {
            selectors,
            destinations,
            transport,
            credentials,
            rate,
            auth_failures,
            sensitive,
        },
    ))
}

struct Checker<'t> {
    text: &'t str,
    errors: Vec<PolicyError>,
    /// Errors beyond [`MAX_ERRORS`], counted but not located.
    more_errors: usize,
    /// Workload name to selector index (first definition).
    workloads: HashMap<String, usize>,
    /// Rule id to where it was first defined.
    rule_ids: HashMap<String, YamlPath>,
}

impl Checker<'_> {
    fn error(&mut self, at: &YamlPath, message: impl Into<String>, hint: Option<String>) {
        if self.errors.len() >= MAX_ERRORS {
            self.more_errors += 1;
            return;
        }
        let (line, column) = locate(self.text, at);
        self.errors.push(PolicyError {
            line,
            column,
            message: message.into(),
            hint,
        });
    }

    fn line_of(&self, at: &YamlPath) -> usize {
        locate(self.text, at).0
    }

    /// An explicitly empty list (`hosts: []`) is an error: it reads as "none" to some and "any"
    /// to others.
    fn not_empty<T>(&mut self, list: Option<&[T]>, parent: &YamlPath, key: &str, meaning: &str) {
        if list.is_some_and(<[T]>::is_empty) {
            self.error(
                &parent.key(key).the_key(),
                format!("empty `{key}` list"),
                Some(format!(
                    "remove `{key}` to {meaning}, or list at least one value"
                )),
            );
        }
    }

    fn settings(&mut self, document: &Document) -> Settings {
        let (raw, credentials) = (&document.settings, &document.credentials);
        let path = YamlPath::root().key("settings");
        let has_allow = document
            .destinations
            .iter()
            .any(|r| r.action == Action::Allow);
        if raw.mode == Mode::Allowlist && !has_allow {
            self.error(
                &path.key("mode"),
                "allowlist mode without any `allow` destination rule: every call would alert",
                Some(
                    "add `action: allow` rules under `destinations`, or use `mode: denylist`"
                        .to_owned(),
                ),
            );
        }
        let mut internal_networks: Vec<IpNet> = defaults::LOOPBACK.to_vec();
        for cidr in &raw.internal_networks {
            if !internal_networks.contains(&cidr.0) {
                internal_networks.push(cidr.0);
            }
        }
        Settings {
            mode: raw.mode,
            suppression_window: raw
                .suppression_window
                .map_or(defaults::SUPPRESSION_WINDOW, |d| d.0),
            discovery: raw.discovery.map_or(defaults::DISCOVERY, |d| d.0),
            internal_networks,
            not_allowed_severity: raw.not_allowed_severity.unwrap_or(defaults::NOT_ALLOWED),
            detector: DetectorSettings {
                extra_api_key_headers: dedup(credentials.api_key_headers.iter().map(|h| &h.0)),
                extra_query_parameters: dedup(credentials.query_parameters.iter().map(|p| &p.0)),
            },
        }
    }

    fn workloads(&mut self, document: &Document) -> Vec<Selector> {
        let path = YamlPath::root().key("workloads");
        let mut selectors = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (name, raw) in &document.workloads.0 {
            let occurrence = seen.entry(&name.0).or_insert(0);
            let here = path.key_nth(&name.0, *occurrence);
            *occurrence += 1;
            if *occurrence > 1 {
                let first = self.line_of(&path.key(&name.0).the_key());
                self.error(
                    &here.the_key(),
                    format!("workload `{}` is defined twice", name.0),
                    Some(format!(
                        "first defined on line {first}; merge the two or rename one"
                    )),
                );
                continue;
            }
            if let Some(selector) = self.selector(&name.0, raw.as_ref(), &here) {
                self.workloads.insert(name.0.clone(), selectors.len());
                selectors.push(selector);
            }
        }
        selectors
    }

    fn selector(
        &mut self,
        name: &str,
        raw: Option<&RawSelector>,
        here: &YamlPath,
    ) -> Option<Selector> {
        let empty = RawSelector::default();
        let raw = raw.unwrap_or(&empty);
        let errors_before = self.errors.len();
        let k8s = raw
            .k8s
            .as_ref()
            .and_then(|k8s| self.k8s_selector(k8s, &here.key("k8s")));
        let no_field = raw.command.is_none()
            && raw.executable.is_none()
            && raw.uid.is_none()
            && raw.container_id.is_none()
            && raw.k8s.is_none();
        if no_field {
            self.error(
                &here.the_key(),
                format!("workload `{name}` has an empty selector"),
                Some(
                    "give at least one of `command`, `executable`, `uid`, `container_id`, `k8s`"
                        .to_owned(),
                ),
            );
        }
        let any = "match any value of this field";
        self.not_empty(raw.command.as_deref(), here, "command", any);
        self.not_empty(raw.executable.as_deref(), here, "executable", any);
        self.not_empty(raw.uid.as_deref(), here, "uid", any);
        self.not_empty(raw.container_id.as_deref(), here, "container_id", any);
        if self.errors.len() > errors_before {
            return None;
        }
        match Selector::new(
            raw.command.as_deref(),
            raw.executable.as_deref(),
            raw.uid.as_deref(),
            raw.container_id.as_deref(),
            k8s,
        ) {
            Ok(selector) => Some(selector),
            Err(why) => {
                self.error(&here.the_key(), format!("workload `{name}`: {why}"), None);
                None
            }
        }
    }

    /// The `k8s` part of a selector; `None` after reporting what is wrong with it.
    fn k8s_selector(&mut self, raw: &RawK8sSelector, here: &YamlPath) -> Option<K8sSelector> {
        let errors_before = self.errors.len();
        if raw.namespace.is_none()
            && raw.labels.is_none()
            && raw.owner.is_none()
            && raw.service_account.is_none()
        {
            self.error(
                &here.the_key(),
                "empty `k8s` selector",
                Some(
                    "give at least one of `namespace`, `labels`, `owner`, `service_account`"
                        .to_owned(),
                ),
            );
        }
        let any = "match any value of this field";
        self.not_empty(raw.namespace.as_deref(), here, "namespace", any);
        self.not_empty(raw.owner.as_deref(), here, "owner", any);
        self.not_empty(raw.service_account.as_deref(), here, "service_account", any);
        if let Some(labels) = &raw.labels {
            let at = here.key("labels");
            if labels.match_labels.0.is_empty() && labels.match_expressions.is_empty() {
                self.error(
                    &at.the_key(),
                    "empty label selector",
                    Some("give `matchLabels` or `matchExpressions`".to_owned()),
                );
            }
            let mut seen = HashSet::new();
            for (key, _) in &labels.match_labels.0 {
                if !seen.insert(&key.0) {
                    self.error(
                        &at.key("matchLabels").key_nth(&key.0, 1).the_key(),
                        format!("label `{}` is given twice in `matchLabels`", key.0),
                        Some(
                            "keep one value per key, or use `matchExpressions` with `In`"
                                .to_owned(),
                        ),
                    );
                }
            }
        }
        match K8sSelector::new(raw) {
            Ok(selector) if self.errors.len() == errors_before => Some(selector),
            Ok(_) => None,
            Err(problems) => {
                for (index, why) in problems {
                    self.error(
                        &here.key("labels").key("matchExpressions").index(index),
                        why,
                        Some(
                            "`In`/`NotIn` take `values`; `Exists`/`DoesNotExist` take none"
                                .to_owned(),
                        ),
                    );
                }
                None
            }
        }
    }

    /// Resolves `workloads` / `exempt_workloads` of a rule to selector indexes.
    fn scope(&mut self, only: Option<&[Name]>, except: &[Name], here: &YamlPath) -> Scope {
        self.not_empty(only, here, "workloads", "apply the rule to every workload");
        Scope {
            only: only.map(|names| self.resolve(names, &here.key("workloads"))),
            except: self.resolve(except, &here.key("exempt_workloads")),
        }
    }

    fn resolve(&mut self, names: &[Name], here: &YamlPath) -> Vec<usize> {
        let mut indexes = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match self.workloads.get(&name.0) {
                Some(index) => indexes.push(*index),
                None => {
                    let hint =
                        match did_you_mean(&name.0, self.workloads.keys().map(String::as_str)) {
                            Some(best) => format!("did you mean `{best}`?"),
                            None => format!("define `{}` under `workloads`", name.0),
                        };
                    self.error(
                        &here.index(i),
                        format!("undefined workload `{}`", name.0),
                        Some(hint),
                    );
                }
            }
        }
        indexes
    }

    /// Records a rule id; a second use is an error.
    fn rule_id(&mut self, id: &RuleId, here: &YamlPath) {
        let at = here.key("id");
        if let Some(first) = self.rule_ids.get(&id.0).cloned() {
            let line = self.line_of(&first);
            self.error(
                &at,
                format!("duplicate rule id `{}`", id.0),
                Some(format!("first used on line {line}; rule ids must be unique across destinations and rate_limits")),
            );
        } else {
            self.rule_ids.insert(id.0.clone(), at);
        }
    }

    fn destination(
        &mut self,
        raw: &RawDestinationRule,
        here: &YamlPath,
    ) -> Option<DestinationRule> {
        let errors_before = self.errors.len();
        self.rule_id(&raw.id, here);
        let nothing = "leave this dimension unrestricted";
        self.not_empty(raw.hosts.as_deref(), here, "hosts", nothing);
        self.not_empty(raw.cidrs.as_deref(), here, "cidrs", nothing);
        self.not_empty(raw.ports.as_deref(), here, "ports", nothing);
        self.not_empty(raw.methods.as_deref(), here, "methods", nothing);
        self.not_empty(raw.paths.as_deref(), here, "paths", nothing);
        let hosts = raw.hosts.as_deref().unwrap_or_default();
        let cidrs = raw.cidrs.as_deref().unwrap_or_default();
        let ports = raw.ports.as_deref().unwrap_or_default();
        if raw.hosts.is_none()
            && raw.cidrs.is_none()
            && raw.ports.is_none()
            && raw.methods.is_none()
            && raw.paths.is_none()
        {
            self.error(
                here,
                format!("destination rule `{}` matches no destination", raw.id.0),
                Some(
                    "give `hosts`, `cidrs`, `ports`, `methods` or `paths`; `hosts: [\"*\"]` matches any host"
                        .to_owned(),
                ),
            );
        }
        if raw.action == Action::Allow && raw.severity.is_some() {
            self.error(
                &here.key("severity").the_key(),
                format!("`severity` on allow rule `{}` has no effect", raw.id.0),
                Some("destinations that no allow rule matches alert at `settings.not_allowed_severity`".to_owned()),
            );
        }
        if raw.action == Action::Allow
            && matches!(raw.direction, Some(Directions::Inbound | Directions::Both))
        {
            self.error(
                &here.key("direction"),
                format!(
                    "allow rule `{}` for calls served has no effect: the allowlist is about where workloads call",
                    raw.id.0
                ),
                Some("remove `direction` (allow rules are about outbound calls), or write a `deny` rule for served endpoints".to_owned()),
            );
        }
        let scope = self.scope(raw.workloads.as_deref(), &[], here);
        if self.errors.len() > errors_before {
            return None;
        }
        Some(DestinationRule {
            id: raw.id.0.clone(),
            action: raw.action,
            direction: raw.direction.unwrap_or(Directions::Outbound),
            hosts: HostSet::new(hosts),
            cidrs: cidrs.iter().map(|c| c.0).collect(),
            ports: ports.iter().map(|p| p.0).collect(),
            methods: raw.methods.iter().flatten().map(|m| m.0.clone()).collect(),
            paths: raw.paths.clone().unwrap_or_default(),
            scope,
            severity: raw.severity.unwrap_or(defaults::DENY),
        })
    }

    fn transport(&mut self, raw: &RawTransport) -> TransportRule {
        let here = YamlPath::root().key("transport");
        TransportRule {
            require_tls: raw.require_tls.unwrap_or(true),
            direction: raw.direction.unwrap_or(Directions::Both),
            severity: raw.severity.unwrap_or(defaults::TRANSPORT_PLAINTEXT),
            with_credential_severity: raw
                .with_credential_severity
                .unwrap_or(defaults::CREDENTIAL_PLAINTEXT),
            exempt_hosts: HostSet::new(&raw.exempt_hosts),
            scope: self.scope(raw.workloads.as_deref(), &raw.exempt_workloads, &here),
        }
    }

    fn credentials(&mut self, raw: &RawCredentials) -> CredentialRules {
        let here = YamlPath::root().key("credentials");
        let severities = &raw.severities;
        let mut allowed_destinations = crate::IdMap::default();
        if raw.default_allowed_destinations.unwrap_or(true) {
            for (kind, hosts) in defaults::ALLOWED_DESTINATIONS {
                let patterns: Vec<HostPattern> = hosts
                    .iter()
                    .filter_map(|h| HostPattern::parse(h).ok())
                    .collect();
                allowed_destinations.insert(*kind, HostSet::new(&patterns));
            }
        }
        let table = here.key("allowed_destinations");
        let mut seen: HashMap<_, usize> = HashMap::new();
        for (kind, hosts) in &raw.allowed_destinations.0 {
            let name = kind.0.as_str();
            let occurrence = seen.entry(kind.0).or_insert(0);
            let at = table.key_nth(name, *occurrence);
            *occurrence += 1;
            if *occurrence > 1 {
                let first = self.line_of(&table.key(name).the_key());
                self.error(
                    &at.the_key(),
                    format!("`{name}` is listed twice"),
                    Some(format!("first listed on line {first}; merge the two lists")),
                );
            } else if hosts.is_empty() {
                self.error(
                    &at,
                    format!("empty list: `{name}` could be sent nowhere"),
                    Some("list the allowed hosts, write `[\"*\"]` for anywhere, or remove the entry to keep the default".to_owned()),
                );
            } else {
                allowed_destinations.insert(kind.0, HostSet::new(hosts));
            }
        }
        CredentialRules {
            scope: self.scope(raw.workloads.as_deref(), &raw.exempt_workloads, &here),
            direction: raw.direction.unwrap_or(Directions::Both),
            new_workload: severities
                .new_workload
                .unwrap_or(defaults::CREDENTIAL_NEW_WORKLOAD),
            in_url: severities.in_url.unwrap_or(defaults::CREDENTIAL_IN_URL),
            wrong_destination: severities
                .wrong_destination
                .unwrap_or(defaults::CREDENTIAL_WRONG_DESTINATION),
            not_allowed: severities
                .not_allowed
                .unwrap_or(defaults::CREDENTIAL_NOT_ALLOWED),
            jwt_unsigned: severities.jwt_unsigned.unwrap_or(defaults::JWT_UNSIGNED),
            jwt_expired: severities.jwt_expired.unwrap_or(defaults::JWT_EXPIRED),
            allowed_destinations,
        }
    }

    fn rate_rule(&mut self, raw: &RawRateRule, here: &YamlPath) -> Option<RateRule> {
        let errors_before = self.errors.len();
        self.rule_id(&raw.id, here);
        if raw.limit == 0 {
            self.error(
                &here.key("limit"),
                "`limit` must be at least 1",
                Some("to forbid calls entirely, use a `deny` destination rule".to_owned()),
            );
        }
        if raw.per.0.is_zero() {
            self.error(
                &here.key("per"),
                "`per` must be longer than zero",
                Some("e.g. `1s`, `1m`, `1h`".to_owned()),
            );
        }
        if raw.burst == Some(0) {
            self.error(
                &here.key("burst"),
                "`burst` must be at least 1",
                Some(
                    "burst is how many calls may come at once; leave it out to use `limit`"
                        .to_owned(),
                ),
            );
        }
        for (i, key) in raw.by.iter().enumerate() {
            if raw.by[..i].contains(key) {
                self.error(
                    &here.key("by").index(i),
                    "listed twice in `by`",
                    Some("remove the duplicate".to_owned()),
                );
            }
        }
        let any = "match any host or method";
        self.not_empty(raw.hosts.as_deref(), here, "hosts", any);
        self.not_empty(raw.methods.as_deref(), here, "methods", any);
        let scope = self.scope(raw.workloads.as_deref(), &[], here);
        if self.errors.len() > errors_before {
            return None;
        }
        Some(RateRule {
            id: raw.id.0.clone(),
            limit: raw.limit,
            per: raw.per.0,
            burst: raw.burst.unwrap_or(raw.limit),
            by_method: raw.by.contains(&RateKey::Method),
            by_path: raw.by.contains(&RateKey::Path),
            by_client: raw.by.contains(&RateKey::Client),
            direction: raw.direction.unwrap_or(Directions::Outbound),
            severity: raw.severity.unwrap_or(defaults::RATE_LIMIT),
            scope,
            hosts: HostSet::new(raw.hosts.as_deref().unwrap_or_default()),
            methods: raw.methods.iter().flatten().map(|m| m.0.clone()).collect(),
            path: raw.path.clone(),
        })
    }
}

impl Checker<'_> {
    fn sensitive_data(&mut self, raw: &RawSensitiveData) -> SensitiveRules {
        let here = YamlPath::root().key("sensitive_data");
        if let Some(kinds) = &raw.kinds
            && kinds.is_empty()
        {
            self.error(
                &here.key("kinds"),
                "empty list: no kind of sensitive data would be looked for",
                Some("to turn the checks off, write `enabled: false`; remove `kinds` to look for all of them".to_owned()),
            );
        }
        let kinds: KindSet = match &raw.kinds {
            Some(kinds) => kinds.iter().map(|k| k.0).collect(),
            None => KindSet::all(),
        };
        let table = here.key("allowed_destinations");
        let mut allowed_destinations = crate::IdMap::default();
        let mut seen: HashMap<_, usize> = HashMap::new();
        for (kind, hosts) in &raw.allowed_destinations.0 {
            let name = kind.0.as_str();
            let occurrence = seen.entry(kind.0).or_insert(0);
            let at = table.key_nth(name, *occurrence);
            *occurrence += 1;
            if *occurrence > 1 {
                let first = self.line_of(&table.key(name).the_key());
                self.error(
                    &at.the_key(),
                    format!("`{name}` is listed twice"),
                    Some(format!("first listed on line {first}; merge the two lists")),
                );
            } else if hosts.is_empty() {
                self.error(
                    &at,
                    format!("empty list: `{name}` data could be sent nowhere"),
                    Some(
                        "list the allowed hosts, write `[\"*\"]` for anywhere, or remove the entry"
                            .to_owned(),
                    ),
                );
            } else {
                if !kinds.contains(kind.0) {
                    self.error(
                        &at.the_key(),
                        format!("`{name}` has allowed destinations but is not among `kinds`"),
                        Some(format!("add `{name}` to `kinds`, or remove this entry")),
                    );
                }
                allowed_destinations.insert(kind.0, HostSet::new(hosts));
            }
        }
        let severities = &raw.severities;
        SensitiveRules {
            kinds: if raw.enabled.unwrap_or(true) {
                kinds
            } else {
                KindSet::EMPTY
            },
            direction: raw.direction.unwrap_or(Directions::Both),
            card_plaintext: severities
                .card_plaintext
                .unwrap_or(defaults::SENSITIVE_CARD_PLAINTEXT),
            in_url: severities.in_url.unwrap_or(defaults::SENSITIVE_IN_URL),
            unapproved_destination: severities
                .unapproved_destination
                .unwrap_or(defaults::SENSITIVE_UNAPPROVED_DESTINATION),
            bulk_response: severities
                .bulk_response
                .unwrap_or(defaults::SENSITIVE_BULK_RESPONSE),
            bulk_response_threshold: raw.bulk_response_threshold.unwrap_or(0),
            allowed_destinations,
            scope: self.scope(raw.workloads.as_deref(), &raw.exempt_workloads, &here),
        }
    }

    fn auth_failures(&mut self, raw: &RawAuthFailures) -> AuthFailureRules {
        let here = YamlPath::root().key("auth_failures");
        for (key, value) in [
            ("threshold", raw.threshold),
            ("credential_threshold", raw.credential_threshold),
        ] {
            if value == Some(0) {
                self.error(
                    &here.key(key),
                    format!("`{key}` must be at least 1"),
                    Some("to turn the check off, write `enabled: false`".to_owned()),
                );
            }
        }
        if raw.window.is_some_and(|w| w.0.is_zero()) {
            self.error(
                &here.key("window"),
                "`window` must be longer than zero",
                Some("e.g. `30s`, `1m`, `10m`".to_owned()),
            );
        }
        AuthFailureRules {
            enabled: raw.enabled.unwrap_or(true),
            direction: raw.direction.unwrap_or(Directions::Both),
            threshold: raw.threshold.unwrap_or(defaults::AUTH_FAILURES_THRESHOLD),
            window: raw.window.map_or(defaults::AUTH_FAILURES_WINDOW, |w| w.0),
            severity: raw.severity.unwrap_or(defaults::AUTH_FAILURES),
            credential_threshold: raw
                .credential_threshold
                .unwrap_or(defaults::AUTH_CREDENTIAL_THRESHOLD),
            credential_severity: raw
                .credential_severity
                .unwrap_or(defaults::AUTH_CREDENTIAL_REJECTED),
        }
    }
}

fn dedup<'a>(items: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}
