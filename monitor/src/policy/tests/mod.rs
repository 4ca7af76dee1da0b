//! Tests of the policy module: one file per rule kind, plus broken documents and the default
//! policy. The helpers build calls and findings directly, without the capture pipeline.
mod credentials;
mod default_policy;
mod destinations;
mod directions;
mod errors;
mod rates;
mod selectors;
mod sensitive;
mod transport;

use std::net::IpAddr;

use super::{CallView, Client, Destination, Policy, Violation, Workload};
use crate::credentials::{CredentialKind, Finding, JwtFacts, Location};
use crate::protocols::CallDirection;

/// Builds a policy or fails the test with the errors as `policy check` prints them.
pub(super) fn policy(yaml: &str) -> Policy {
    match Policy::from_yaml(yaml) {
        Ok(policy) => policy,
        Err(errors) => panic!("policy does not load:\n{errors}\n---\n{yaml}"),
    }
}

pub(super) fn finding(kind: CredentialKind, location: Location) -> Finding {
    Finding {
        kind,
        location,
        length: 40,
        prefix: Some("AKIA".to_owned()),
        fingerprint: "f1e2d3c4b5a69788".into(),
        jwt: None,
    }
}

pub(super) fn header(name: &str) -> Location {
    Location::Header {
        name: name.to_owned().into(),
    }
}

pub(super) fn jwt(unsigned: bool, expired: bool) -> Finding {
    Finding {
        jwt: Some(JwtFacts {
            public: false,
            alg: Some(if unsigned { "none" } else { "RS256" }.to_owned()),
            unsigned,
            expired,
            issuer: None,
        }),
        ..finding(CredentialKind::Jwt, header("authorization"))
    }
}

/// An owned call, turned into a [`CallView`] on demand.
#[derive(Clone, Debug)]
pub(super) struct Call {
    pub command: String,
    pub executable: Option<String>,
    pub uid: Option<u32>,
    pub container_id: Option<String>,
    pub k8s: Option<crate::kubernetes::K8sIdentity>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub ip: Option<IpAddr>,
    pub tls: bool,
    pub method: String,
    pub path: String,
    pub findings: Vec<Finding>,
    pub direction: CallDirection,
    pub client_label: Option<String>,
    pub client_ip: Option<IpAddr>,
}

impl Call {
    /// A TLS `GET /` from `app` (uid 1000, on the host) to `host`:443 at a public address.
    pub(super) fn to(host: &str) -> Self {
        Self {
            command: "app".to_owned(),
            executable: Some("/usr/bin/app".to_owned()),
            uid: Some(1000),
            container_id: None,
            k8s: None,
            host: Some(host.to_owned()),
            port: Some(443),
            ip: Some("198.51.100.7".parse().unwrap()),
            tls: true,
            method: "GET".to_owned(),
            path: "/".to_owned(),
            findings: Vec::new(),
            direction: CallDirection::Outbound,
            client_label: None,
            client_ip: None,
        }
    }

    /// The same exchange seen by the server: `app` serves it to `client` (an address).
    pub(super) fn served_to(mut self, client: &str) -> Self {
        self.direction = CallDirection::Inbound;
        self.client_label = Some(client.to_owned());
        self.client_ip = client.parse().ok();
        self
    }

    pub(super) fn no_host(mut self) -> Self {
        self.host = None;
        self
    }
    pub(super) fn ip(mut self, ip: &str) -> Self {
        self.ip = Some(ip.parse().unwrap());
        self
    }
    pub(super) fn no_ip(mut self) -> Self {
        self.ip = None;
        self
    }
    pub(super) fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
    pub(super) fn plaintext(mut self) -> Self {
        self.tls = false;
        self.port = Some(80);
        self
    }
    pub(super) fn command(mut self, command: &str) -> Self {
        self.command = command.to_owned();
        self
    }
    pub(super) fn executable(mut self, executable: Option<&str>) -> Self {
        self.executable = executable.map(str::to_owned);
        self
    }
    pub(super) fn uid(mut self, uid: Option<u32>) -> Self {
        self.uid = uid;
        self
    }
    pub(super) fn pod(mut self, identity: Option<crate::kubernetes::K8sIdentity>) -> Self {
        self.k8s = identity;
        self
    }
    pub(super) fn container(mut self, id: Option<&str>) -> Self {
        self.container_id = id.map(str::to_owned);
        self
    }
    pub(super) fn request(mut self, method: &str, path: &str) -> Self {
        self.method = method.to_owned();
        self.path = path.to_owned();
        self
    }
    pub(super) fn with(mut self, finding: Finding) -> Self {
        self.findings.push(finding);
        self
    }

    pub(super) fn view<R>(&self, f: impl FnOnce(&CallView) -> R) -> R {
        let workload = Workload {
            pid: 4242,
            command: &self.command,
            executable: self.executable.as_deref(),
            uid: self.uid,
            container_id: self.container_id.as_deref(),
            k8s: self.k8s.as_ref(),
        };
        let destination = Destination {
            host: self.host.as_deref(),
            port: self.port,
            ip: self.ip,
            tls: self.tls,
        };
        let view = CallView {
            direction: self.direction,
            client: Client {
                label: self.client_label.as_deref(),
                ip: self.client_ip,
            },
            workload: &workload,
            destination: &destination,
            method: &self.method,
            path_template: &self.path,
            findings: &self.findings,
        };
        f(&view)
    }

    pub(super) fn eval(&self, policy: &Policy) -> Vec<Violation> {
        self.view(|view| policy.evaluate(view))
    }

    /// Rule ids of the violations.
    pub(super) fn ids(&self, policy: &Policy) -> Vec<String> {
        self.eval(policy).into_iter().map(|v| v.rule_id).collect()
    }

    /// Ids of the rate rules that apply.
    pub(super) fn rates(&self, policy: &Policy) -> Vec<String> {
        self.view(|view| {
            policy
                .rate_rules_for(view)
                .into_iter()
                .map(|r| r.id.clone())
                .collect()
        })
    }
}

#[test]
fn policy_is_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Policy>();
}
