//! Path-template patterns for rate rules. A pattern is matched against the call's path template
//! (`/v1/users/{id}`), so `{` and `}` are literal here (a glob library would read them as
//! alternation); `*` matches within one segment and `**` matches across segments.
use regex::Regex;

use super::errors::with_hint;

#[derive(Clone, Debug)]
pub(super) struct PathPattern {
    text: String,
    /// `None` when the pattern has no wildcard: compared as a string.
    regex: Option<Regex>,
}

impl PathPattern {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        if !text.starts_with('/') {
            return Err(with_hint(
                format!("path pattern `{text}` does not start with `/`"),
                "write the path template only, without scheme, host or query: `/v1/chat/completions`",
            ));
        }
        if text.contains('?') {
            return Err(with_hint(
                format!("path pattern `{text}` contains `?`"),
                "path templates have no query string; remove it",
            ));
        }
        if !text.contains('*') {
            return Ok(Self {
                text: text.to_owned(),
                regex: None,
            });
        }
        let mut source = String::from("^");
        let mut rest = text;
        while let Some(star) = rest.find('*') {
            source.push_str(&regex::escape(&rest[..star]));
            if rest[star..].starts_with("**") {
                source.push_str(".*");
                rest = &rest[star + 2..];
            } else {
                source.push_str("[^/]*");
                rest = &rest[star + 1..];
            }
        }
        source.push_str(&regex::escape(rest));
        source.push('$');
        let regex = Regex::new(&source).map_err(|e| format!("path pattern `{text}`: {e}"))?;
        Ok(Self {
            text: text.to_owned(),
            regex: Some(regex),
        })
    }

    pub(super) fn matches(&self, path_template: &str) -> bool {
        match &self.regex {
            Some(regex) => regex.is_match(path_template),
            None => self.text == path_template,
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn literal_braces_and_wildcards() {
        let exact = PathPattern::parse("/v1/users/{id}").unwrap();
        assert!(exact.matches("/v1/users/{id}"));
        assert!(!exact.matches("/v1/users/id"));
        let one = PathPattern::parse("/v1/*/items").unwrap();
        assert!(one.matches("/v1/{id}/items"));
        assert!(!one.matches("/v1/a/b/items"));
        let any = PathPattern::parse("/v1/**").unwrap();
        assert!(any.matches("/v1/a/b/c"));
        assert!(!any.matches("/v2/a"));
        assert!(PathPattern::parse("v1/x").is_err());
        assert!(PathPattern::parse("/x?y=1").is_err());
    }
}
