//! The `k8s` part of a workload selector: namespace, labels (`matchLabels` and
//! `matchExpressions`, as Kubernetes label selectors), owner workload and service account.
//!
//! A `k8s` selector only matches a process whose pod metadata is known: a process of a pod the
//! watch has not delivered yet (its calls carry only `pod_uid`) matches no `k8s` selector, so
//! that an `exempt_workloads` or a `NotIn` never lets a stranger through by accident.
use std::{
    collections::{BTreeMap, HashSet},
    marker::PhantomData,
};

use serde::{Deserialize, Deserializer};

use super::{
    errors::with_hint,
    values::{Entries, Scalar, ScalarVisitor, scalar_deserialize},
};
use crate::kubernetes::K8sIdentity;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a Kubernetes selector mapping (`namespace`, `labels`, `owner`, `service_account`)"
)]
pub(super) struct RawK8sSelector {
    pub namespace: Option<Vec<K8sName>>,
    pub labels: Option<RawLabelSelector>,
    pub owner: Option<Vec<OwnerRef>>,
    pub service_account: Option<Vec<K8sName>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a label selector mapping (`matchLabels`, `matchExpressions`)"
)]
pub(super) struct RawLabelSelector {
    #[serde(default)]
    pub match_labels: Entries<LabelKey, LabelValue>,
    #[serde(default)]
    pub match_expressions: Vec<RawLabelExpression>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a label expression mapping (`key`, `operator`, `values`)"
)]
pub(super) struct RawLabelExpression {
    pub key: LabelKey,
    pub operator: LabelOperator,
    pub values: Option<Vec<LabelValue>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub(super) enum LabelOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// A namespace or service account name (a DNS subdomain: lowercase letters, digits, `-`, `.`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct K8sName(pub String);

impl Scalar for K8sName {
    const EXPECTING: &'static str = "a Kubernetes object name";
    fn parse(text: &str) -> Result<Self, String> {
        let valid = !text.is_empty()
            && text.len() <= 253
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && alphanumeric_ends(text);
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(with_hint(
                format!("`{text}` is not a Kubernetes name"),
                "names are lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit",
            ))
        }
    }
}

/// An owner workload: `Kind/name`, e.g. `Deployment/checkout`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct OwnerRef {
    pub kind: String,
    pub name: String,
}

impl Scalar for OwnerRef {
    const EXPECTING: &'static str = "an owner workload `Kind/name`";
    fn parse(text: &str) -> Result<Self, String> {
        let hint = "write the owner as `Kind/name`, e.g. `Deployment/checkout`, `StatefulSet/db`, `DaemonSet/agent`, `Job/migrate`";
        let Some((kind, name)) = text.split_once('/') else {
            return Err(with_hint(format!("owner `{text}` has no kind"), hint));
        };
        let kind_ok = kind.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            && kind.bytes().all(|b| b.is_ascii_alphanumeric());
        if !kind_ok {
            return Err(with_hint(
                format!("`{kind}` is not a Kubernetes kind"),
                hint,
            ));
        }
        // (A ReplicaSet is a valid owner: of bare ReplicaSets and of Argo Rollouts' pods. A
        // Deployment's pods are shown as owned by the Deployment.)
        if kind == "CronJob" {
            return Err(with_hint(
                format!("owner kind `{kind}` never matches"),
                "the monitor knows a pod's Job, not the CronJob that made it: select by a label the CronJob's template sets",
            ));
        }
        let name = K8sName::parse(name)?;
        Ok(Self {
            kind: kind.to_owned(),
            name: name.0,
        })
    }
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct LabelKey(pub String);

impl Scalar for LabelKey {
    const EXPECTING: &'static str = "a label key";
    fn parse(text: &str) -> Result<Self, String> {
        let name = text.rsplit_once('/').map_or(text, |(_, name)| name);
        if name.is_empty() || name.len() > 63 || !label_chars(name) {
            return Err(with_hint(
                format!("`{text}` is not a label key"),
                "a key is an optional `prefix/` then at most 63 letters, digits, `-`, `_` or `.`",
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

/// A label value: at most 63 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct LabelValue(pub String);

impl Scalar for LabelValue {
    // An unquoted `2` or `true` reads as its text, as Kubernetes users mean it.
    const EXPECTING: &'static str = "a label value";
    fn parse(text: &str) -> Result<Self, String> {
        if text.len() > 63 || !(text.is_empty() || label_chars(text)) {
            return Err(with_hint(
                format!("`{text}` is not a label value"),
                "a value is at most 63 letters, digits, `-`, `_` or `.`",
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

fn label_chars(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && alphanumeric_ends(text)
}

/// Kubernetes names and label parts start and end with a letter or digit.
fn alphanumeric_ends(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

scalar_deserialize!(K8sName, OwnerRef, LabelKey, LabelValue);

/// A label requirement, checked.
#[derive(Clone, Debug)]
enum Requirement {
    In(String, HashSet<String>),
    NotIn(String, HashSet<String>),
    Exists(String),
    DoesNotExist(String),
}

/// The `k8s` part of a selector, ready to match.
#[derive(Clone, Debug, Default)]
pub(super) struct K8sSelector {
    namespaces: Option<HashSet<String>>,
    owners: Option<Vec<(String, String)>>,
    service_accounts: Option<HashSet<String>>,
    requirements: Vec<Requirement>,
}

impl K8sSelector {
    /// Builds the selector; `Err` says what is wrong with which label expressions (by index).
    pub(super) fn new(raw: &RawK8sSelector) -> Result<Self, Vec<(usize, String)>> {
        let mut requirements = Vec::new();
        let mut problems = Vec::new();
        if let Some(labels) = &raw.labels {
            // Later duplicates of a key are reported by validation; the last one wins here.
            let exact: BTreeMap<&str, &str> = labels
                .match_labels
                .0
                .iter()
                .map(|(k, v)| (k.0.as_str(), v.0.as_str()))
                .collect();
            for (key, value) in exact {
                requirements.push(Requirement::In(key.to_owned(), [value.to_owned()].into()));
            }
            for (i, expression) in labels.match_expressions.iter().enumerate() {
                let key = expression.key.0.clone();
                // Kubernetes accepts `values: []` with Exists/DoesNotExist: as absent.
                let values: Option<HashSet<String>> = expression
                    .values
                    .as_ref()
                    .filter(|v| !v.is_empty())
                    .map(|v| v.iter().map(|v| v.0.clone()).collect());
                let requirement = match (expression.operator, values) {
                    (LabelOperator::In, Some(values)) => Requirement::In(key, values),
                    (LabelOperator::NotIn, Some(values)) => Requirement::NotIn(key, values),
                    (LabelOperator::In | LabelOperator::NotIn, _) => {
                        problems.push((
                            i,
                            format!(
                                "`{:?}` needs a non-empty `values` list",
                                expression.operator
                            ),
                        ));
                        continue;
                    }
                    (LabelOperator::Exists, None) => Requirement::Exists(key),
                    (LabelOperator::DoesNotExist, None) => Requirement::DoesNotExist(key),
                    (LabelOperator::Exists | LabelOperator::DoesNotExist, Some(_)) => {
                        problems
                            .push((i, format!("`{:?}` takes no `values`", expression.operator)));
                        continue;
                    }
                };
                requirements.push(requirement);
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            namespaces: raw
                .namespace
                .as_ref()
                .map(|n| n.iter().map(|n| n.0.clone()).collect()),
            owners: raw
                .owner
                .as_ref()
                .map(|o| o.iter().map(|o| (o.kind.clone(), o.name.clone())).collect()),
            service_accounts: raw
                .service_account
                .as_ref()
                .map(|s| s.iter().map(|s| s.0.clone()).collect()),
            requirements,
        })
    }

    pub(super) fn matches(&self, identity: Option<&K8sIdentity>) -> bool {
        let Some(identity) = identity else {
            return false;
        };
        let Some(namespace) = identity.namespace.as_deref() else {
            return false;
        };
        if let Some(namespaces) = &self.namespaces
            && !namespaces.contains(namespace)
        {
            return false;
        }
        if let Some(owners) = &self.owners {
            let Some(owner) = &identity.owner else {
                return false;
            };
            if !owners
                .iter()
                .any(|(kind, name)| *kind == owner.kind && *name == owner.name)
            {
                return false;
            }
        }
        if let Some(accounts) = &self.service_accounts {
            match identity.service_account.as_deref() {
                Some(account) if accounts.contains(account) => {}
                _ => return false,
            }
        }
        self.requirements.iter().all(|r| match r {
            Requirement::In(key, values) => {
                identity.labels.get(key).is_some_and(|v| values.contains(v))
            }
            Requirement::NotIn(key, values) => {
                identity.labels.get(key).is_none_or(|v| !values.contains(v))
            }
            Requirement::Exists(key) => identity.labels.get(key).is_some(),
            Requirement::DoesNotExist(key) => identity.labels.get(key).is_none(),
        })
    }
}
