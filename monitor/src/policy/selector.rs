//! Workload selectors (which processes a rule is about) and rule scopes (which selectors a rule
//! names). A selector matches when every field it lists matches (AND); a field matches when any
//! of its values does (OR). Evaluation matches each selector once per call and rules then look
//! the results up by index, so many rules naming the same workload cost nothing extra.
use std::collections::HashSet;

use globset::{GlobSet, GlobSetBuilder};

use super::{
    Workload,
    k8s_selector::K8sSelector,
    values::{Command, ContainerPattern, ExecutableGlob},
};

#[derive(Clone, Debug)]
pub(super) struct Selector {
    commands: Option<HashSet<String>>,
    executables: Option<GlobSet>,
    uids: Option<Vec<u32>>,
    container_ids: Option<ContainerSet>,
    k8s: Option<K8sSelector>,
}

#[derive(Clone, Debug)]
struct ContainerSet {
    exact: HashSet<String>,
    globs: GlobSet,
}

impl Selector {
    /// Builds a selector; a glob set that fails to build is reported as a message.
    pub(super) fn new(
        commands: Option<&[Command]>,
        executables: Option<&[ExecutableGlob]>,
        uids: Option<&[u32]>,
        container_ids: Option<&[ContainerPattern]>,
        k8s: Option<K8sSelector>,
    ) -> Result<Self, String> {
        let executables = match executables {
            Some(globs) => {
                let mut builder = GlobSetBuilder::new();
                for glob in globs {
                    builder.add(glob.0.clone());
                }
                Some(builder.build().map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let container_ids = match container_ids {
            Some(patterns) => {
                let mut exact = HashSet::new();
                let mut builder = GlobSetBuilder::new();
                for pattern in patterns {
                    match pattern {
                        ContainerPattern::Exact(id) => {
                            exact.insert(id.clone());
                        }
                        ContainerPattern::Glob(glob) => {
                            builder.add(glob.clone());
                        }
                    }
                }
                let globs = builder.build().map_err(|e| e.to_string())?;
                Some(ContainerSet { exact, globs })
            }
            None => None,
        };
        Ok(Self {
            commands: commands.map(|c| c.iter().map(|c| c.0.clone()).collect()),
            executables,
            uids: uids.map(<[u32]>::to_vec),
            container_ids,
            k8s,
        })
    }

    pub(super) fn matches(&self, workload: &Workload) -> bool {
        if let Some(commands) = &self.commands
            && !commands.contains(workload.command)
        {
            return false;
        }
        if let Some(executables) = &self.executables {
            match workload.executable {
                Some(path) if executables.is_match(path) => {}
                _ => return false,
            }
        }
        if let Some(uids) = &self.uids {
            match workload.uid {
                Some(uid) if uids.contains(&uid) => {}
                _ => return false,
            }
        }
        if let Some(containers) = &self.container_ids {
            let Some(id) = workload.container_id else {
                return false;
            };
            let matched = if id.bytes().any(|b| b.is_ascii_uppercase()) {
                let lower = id.to_ascii_lowercase();
                containers.exact.contains(&lower) || containers.globs.is_match(&lower)
            } else {
                containers.exact.contains(id) || containers.globs.is_match(id)
            };
            if !matched {
                return false;
            }
        }
        if let Some(k8s) = &self.k8s
            && !k8s.matches(workload.k8s)
        {
            return false;
        }
        true
    }
}

/// Which workloads a rule applies to: `only` (if given) names selectors of which one must
/// match; `except` names selectors none of which may match.
#[derive(Clone, Debug, Default)]
pub(super) struct Scope {
    pub only: Option<Vec<usize>>,
    pub except: Vec<usize>,
}

impl Scope {
    /// `matched[i]` tells whether selector `i` matches the call's workload.
    pub(super) fn applies(&self, matched: &[bool]) -> bool {
        let hit = |i: &usize| matched.get(*i).copied().unwrap_or(false);
        self.only.as_ref().is_none_or(|only| only.iter().any(hit)) && !self.except.iter().any(hit)
    }
}
