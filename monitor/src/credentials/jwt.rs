//! JSON Web Tokens: recognises a compact JWS (`header.claims.signature`) and extracts the
//! facts worth an alert (algorithm, `alg: none`, expiry, issuer). The signature is not
//! verified: we have no keys, and a captured token is a credential whether or not it is valid.
//!
//! Also unwraps the base64-encoded form (`ZXlK...` is base64 of `eyJ...`), which shows up
//! when tokens are stored in environment files or Kubernetes secrets.
use base64::{
    Engine as _,
    engine::{
        DecodePaddingMode,
        general_purpose::{GeneralPurpose, GeneralPurposeConfig},
    },
};
use serde_json::Value;

use super::finding::JwtFacts;

/// Longest token we try to decode. Larger "tokens" are not parsed (bounded work).
pub(crate) const MAX_JWT_LEN: usize = 16 * 1024;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
/// base64url, padding optional: the JWT segments.
pub(crate) const URL_SAFE_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
/// Standard base64, padding optional: `Basic` credentials and base64-wrapped tokens.
pub(crate) const STANDARD_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);

/// If `token` is a JWT, the facts about it. A JWT here is `header.claims.signature` (or
/// `header.claims` with the signature cut off, when the claims decode) whose header is a JSON
/// object. `alg` is not required: gitleaks and detect-secrets count headers such as
/// `{"kid":..}` or `{"iss":..}` as tokens, and a captured token is a credential whether or not
/// it is well formed; what the header says is reported when it says it.
pub(crate) fn parse(token: &[u8], now_unix_secs: u64) -> Option<JwtFacts> {
    if token.len() > MAX_JWT_LEN {
        return None;
    }
    let mut parts = token.split(|&b| b == b'.');
    let header = parts.next()?;
    let claims = parts.next()?;
    let signature = parts.next();
    if parts.next().is_some() || header.is_empty() || claims.is_empty() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_LENIENT.decode(header).ok()?).ok()?;
    let header = header.as_object().filter(|h| !h.is_empty())?;
    let alg = header.get("alg").and_then(Value::as_str);
    let claims: Option<Value> = URL_SAFE_LENIENT
        .decode(claims)
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok());
    let claims = claims.as_ref().and_then(Value::as_object);
    // Without a signature segment, only decodable claims make it a token.
    if signature.is_none() && claims.is_none() {
        return None;
    }
    let expired = claims
        .and_then(|c| c.get("exp"))
        .and_then(Value::as_f64)
        .is_some_and(|exp| exp < now_unix_secs as f64);
    let issuer = claims
        .and_then(|c| c.get("iss"))
        .and_then(Value::as_str)
        .map(|s| sanitize(s, 256));
    let public = claims
        .and_then(|c| c.get("role"))
        .and_then(Value::as_str)
        .is_some_and(|role| role == "anon");
    Some(JwtFacts {
        alg: alg.map(|a| sanitize(a, 32)),
        unsigned: alg.is_some_and(|a| a.eq_ignore_ascii_case("none")),
        expired,
        issuer,
        public,
    })
}

/// Decodes a base64-wrapped JWT (`ZXlK...`) and returns the inner token and its facts.
pub(crate) fn parse_base64_wrapped(
    wrapped: &[u8],
    now_unix_secs: u64,
) -> Option<(Vec<u8>, JwtFacts)> {
    if wrapped.len() > MAX_JWT_LEN * 2 {
        return None;
    }
    // Truncated samples may cut the base64 mid-quantum: decode the whole quanta only.
    let usable = wrapped.len() - wrapped.len() % 4;
    let trimmed = wrapped[..usable].trim_ascii_end();
    let decoded = STANDARD_LENIENT.decode(trimmed).ok()?;
    let end = decoded
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
        .unwrap_or(decoded.len());
    let token = decoded[..end].to_vec();
    let facts = parse(&token, now_unix_secs)?;
    Some((token, facts))
}

/// Header and claim strings are attacker-chosen: keep them short and printable.
fn sanitize(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn token(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn facts() {
        let t = token(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"iss":"auth.example","exp":100}"#,
        );
        let f = parse(t.as_bytes(), 200).unwrap();
        assert_eq!(f.alg.as_deref(), Some("HS256"));
        assert!(f.expired);
        assert!(!f.unsigned);
        assert_eq!(f.issuer.as_deref(), Some("auth.example"));
        let f = parse(t.as_bytes(), 50).unwrap();
        assert!(!f.expired);
    }

    #[test]
    fn unsigned() {
        let t = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#)
        );
        assert!(parse(t.as_bytes(), 0).unwrap().unsigned);
    }

    #[test]
    fn rejects_non_jwts() {
        for t in [
            "eyJAAAA.eyJBBB",
            "eyJBB.eyJCC.eyJDDDD",
            "bm90X3ZhbGlkX2pzb25fYXRfYWxs.bm90X3ZhbGlkX2pzb25fYXRfYWxs.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            // Header truncated: `{"alg":"HS256","typ":"JWT"` is not JSON.
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxw",
        ] {
            assert!(parse(t.as_bytes(), 0).is_none(), "{t}");
        }
        // An empty header is not a JWT header; nor is a two-part token whose claims do not decode.
        assert!(parse(token("{}", "{}").as_bytes(), 0).is_none());
        let two = format!(
            "{}.bm90IGpzb24",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#)
        );
        assert!(parse(two.as_bytes(), 0).is_none());
    }

    #[test]
    fn headers_without_alg_and_cut_signatures() {
        // `{"kid":..}` headers (gitleaks counts them): a token, its algorithm unknown.
        let f = parse(token(r#"{"kid":"k1"}"#, r#"{"sub":"x"}"#).as_bytes(), 0).unwrap();
        assert_eq!(f.alg, None);
        assert!(!f.unsigned);
        // The signature cut off: still the claims of a token.
        let two = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"iss":"a"}"#)
        );
        assert_eq!(
            parse(two.as_bytes(), 0).unwrap().issuer.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn anonymous_role_tokens_are_public_by_design() {
        let anon = token(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"iss":"supabase","ref":"abcdefghijklmnop","role":"anon","iat":1700000000}"#,
        );
        assert!(parse(anon.as_bytes(), 0).unwrap().public);
        let service = token(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"iss":"supabase","role":"service_role"}"#,
        );
        assert!(!parse(service.as_bytes(), 0).unwrap().public);
    }

    #[test]
    fn base64_wrapped() {
        let inner = token(r#"{"alg":"RS256"}"#, r#"{"iss":"joe"}"#);
        let wrapped = base64::engine::general_purpose::STANDARD.encode(&inner);
        let (tok, facts) = parse_base64_wrapped(wrapped.as_bytes(), 0).unwrap();
        assert_eq!(tok, inner.as_bytes());
        assert_eq!(facts.alg.as_deref(), Some("RS256"));
    }
}
