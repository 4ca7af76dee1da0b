//! The table of documented token formats: what each looks like, which literal keyword must be
//! present for it to be worth running (the prefilter), and which public marker may be
//! reported as its prefix. Data only; [`super::scanner`] compiles and runs it.
//!
//! Regexes run on bytes with Unicode off. The secret is capture group 1. A trailing
//! `(?:[^...]|$)` stands in for a word boundary when the token may end in `-` or `_`.
//! Formats that are not one of the named [`CredentialKind`]s (Hugging Face, npm, ...) are
//! reported as [`CredentialKind::GenericSecret`] with their prefix.
use super::finding::CredentialKind;

/// Extra validation after the regex matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// The regex is enough.
    None,
    /// The part after the prefix must not be a placeholder (`ghp_xxxx...`, `...EXAMPLE`).
    Body,
    /// As `Body`, on the part after the last `-` only: the parts before are numeric ids
    /// (`xoxp-<team>-<user>-<bot>-<secret>`), which repeat digits without being placeholders.
    LastSegment,
    /// GitLab: per-prefix length rules.
    Gitlab,
    /// A JWT whose header decodes to JSON with `alg`.
    Jwt,
    /// A base64-wrapped JWT.
    JwtBase64,
    /// A PEM private key block (the match is the BEGIN line; the block is extended to END).
    PrivateKey,
}

pub(crate) struct FormatRule {
    pub id: &'static str,
    pub kind: CredentialKind,
    /// Literals (matched case-insensitively) one of which the text must contain.
    pub keywords: &'static [&'static str],
    pub pattern: &'static str,
    /// Public format markers; the first one the secret starts with becomes the prefix.
    pub prefixes: &'static [&'static str],
    pub check: Check,
}

use CredentialKind as K;

const AWS_PREFIXES: &[&str] = &[
    "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA", "A3T",
];
const GITLAB_PREFIXES: &[&str] = &[
    "glpat-",
    "gldt-",
    "glft-",
    "glsoat-",
    "glrt-",
    "glcbt-",
    "glffct-",
    "gloas-",
    "glimt-",
    "glptt-",
    "glagent-",
    "GR1348941",
];
const SLACK_PREFIXES: &[&str] = &[
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxr-",
    "xoxs-",
    "xoxo-",
    "xoxe.xoxb-",
    "xoxe.xoxp-",
    "xoxe-",
    "xapp-",
    "hooks.slack.com/",
];
const STRIPE_PREFIXES: &[&str] = &[
    "sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_", "pk_live_",
];

pub(crate) const FORMAT_RULES: &[FormatRule] = &[
    FormatRule {
        id: "aws-access-key-id",
        kind: K::AwsAccessKey,
        keywords: AWS_PREFIXES,
        pattern: r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}|A3T[A-Z0-9]{16,17})\b",
        prefixes: AWS_PREFIXES,
        check: Check::Body,
    },
    FormatRule {
        id: "aws-bedrock-api-key",
        kind: K::AwsAccessKey,
        keywords: &["ABSKQmVkcm9ja0FQSUtleS1", "bedrock-api-key-"],
        pattern: r"\b(ABSKQmVkcm9ja0FQSUtleS1[A-Za-z0-9+/]{40,400}={0,2}|bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%]*)",
        prefixes: &["ABSK", "bedrock-api-key-"],
        check: Check::Body,
    },
    FormatRule {
        id: "github-token",
        kind: K::GithubToken,
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: r"\b(gh[pousr]_[A-Za-z0-9]{36,251})\b",
        prefixes: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        check: Check::Body,
    },
    FormatRule {
        id: "github-fine-grained-pat",
        kind: K::GithubToken,
        keywords: &["github_pat_"],
        pattern: r"\b(github_pat_[A-Za-z0-9_]{50,255})\b",
        prefixes: &["github_pat_"],
        check: Check::Body,
    },
    FormatRule {
        id: "gitlab-token",
        kind: K::GitlabToken,
        keywords: GITLAB_PREFIXES,
        pattern: r"\b((?:gl(?:pat|dt|ft|soat|rt|cbt|ffct|oas|imt|ptt|agent)-[A-Za-z0-9_-]{20,1024}(?:\.[0-9a-z]{2}[0-9a-z]{7})?)|GR1348941[A-Za-z0-9_-]{20,50})(?:[^A-Za-z0-9_-]|$)",
        prefixes: GITLAB_PREFIXES,
        check: Check::Gitlab,
    },
    FormatRule {
        id: "gitlab-session-cookie",
        kind: K::GitlabToken,
        keywords: &["_gitlab_session="],
        pattern: r"_gitlab_session=([0-9a-z]{32})\b",
        prefixes: &[],
        check: Check::Body,
    },
    FormatRule {
        id: "stripe-key",
        kind: K::StripeKey,
        keywords: STRIPE_PREFIXES,
        pattern: r"\b((?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,247}|pk_live_[A-Za-z0-9]{10,247})\b",
        prefixes: STRIPE_PREFIXES,
        check: Check::Body,
    },
    FormatRule {
        id: "slack-token",
        kind: K::SlackToken,
        keywords: &[
            "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxo-", "xoxe", "xapp-",
        ],
        pattern: concat!(
            r"\b(",
            r"xoxb-[0-9]{8,13}-[0-9]{8,13}-?[A-Za-z0-9-]*",
            r"|xoxb-[0-9]{8,14}-[A-Za-z0-9]{18,26}",
            r"|xox[ar]-[0-9]-[0-9]+-[0-9]+-[0-9]+-[A-Za-z0-9]+",
            r"|xox[pe](?:-[0-9]{8,13}){3}-[A-Za-z0-9-]{20,40}",
            r"|xox[os]-[0-9]+-[0-9]+-[0-9]+-[A-Fa-f0-9]+",
            r"|xox[ar]-(?:[0-9]-)?[A-Za-z0-9]{8,48}",
            r"|xoxe\.xox[bp]-[0-9]-[A-Za-z0-9]{100,300}",
            r"|xoxe-[0-9]-[A-Za-z0-9]{100,300}",
            r"|xapp-[0-9]-[A-Z0-9]+-[0-9]+-[a-z0-9]+",
            // Legacy tokens: numeric ids, then the secret part.
            r"|xox[abposr]-(?:[0-9]{1,13}-){3,4}[A-Za-z0-9]{16,40}",
            r")(?:[^A-Za-z0-9_-]|$)"
        ),
        prefixes: SLACK_PREFIXES,
        check: Check::LastSegment,
    },
    FormatRule {
        id: "slack-webhook",
        kind: K::SlackToken,
        keywords: &["hooks.slack.com/"],
        pattern: r"(hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,120})",
        prefixes: &["hooks.slack.com/"],
        check: Check::None,
    },
    FormatRule {
        id: "google-api-key",
        kind: K::GoogleApiKey,
        keywords: &["AIza"],
        pattern: r"\b(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)",
        prefixes: &["AIza"],
        check: Check::Body,
    },
    FormatRule {
        id: "anthropic-key",
        kind: K::AnthropicKey,
        keywords: &["sk-ant-"],
        pattern: r"\b(sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_-]{80,120}AA)(?:[^A-Za-z0-9_-]|$)",
        prefixes: &["sk-ant-"],
        check: Check::None,
    },
    FormatRule {
        id: "openai-key",
        kind: K::OpenaiKey,
        keywords: &["T3BlbkFJ"],
        pattern: r"\b(sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{10,}T3BlbkFJ[A-Za-z0-9_-]{10,})(?:[^A-Za-z0-9_-]|$)",
        prefixes: &["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-", "sk-"],
        check: Check::None,
    },
    FormatRule {
        id: "twilio-api-key",
        kind: K::TwilioKey,
        keywords: &["SK"],
        pattern: r"\b(SK[0-9a-fA-F]{32})\b",
        prefixes: &["SK"],
        check: Check::Body,
    },
    FormatRule {
        id: "sendgrid-api-key",
        kind: K::SendgridKey,
        keywords: &["SG."],
        pattern: r"\b(SG\.[A-Za-z0-9_=-]{16,32}\.[A-Za-z0-9_=-]{16,64}|SG\.[A-Za-z0-9_=-]{66})(?:[^A-Za-z0-9_=.-]|$)",
        prefixes: &["SG."],
        check: Check::None,
    },
    FormatRule {
        id: "jwt",
        kind: K::Jwt,
        keywords: &["eyJ"],
        pattern: r"\b(eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*)?)",
        prefixes: &[],
        check: Check::Jwt,
    },
    FormatRule {
        id: "jwt-base64",
        kind: K::Jwt,
        keywords: &["ZXlK"],
        pattern: r"\b(ZXlK[A-Za-z0-9+/]{40,}={0,2})",
        prefixes: &[],
        check: Check::JwtBase64,
    },
    FormatRule {
        id: "private-key",
        kind: K::PrivateKey,
        keywords: &["-----BEGIN"],
        pattern: r"(-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----)",
        prefixes: &[],
        check: Check::PrivateKey,
    },
    // Other documented formats, reported as generic secrets with their public prefix.
    FormatRule {
        id: "azure-ad-client-secret",
        kind: K::GenericSecret,
        keywords: &["Q~"],
        pattern: r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)",
        prefixes: &[],
        check: Check::Body,
    },
    FormatRule {
        id: "microsoft-teams-webhook",
        kind: K::GenericSecret,
        keywords: &[".webhook.office.com/"],
        pattern: r"([a-z0-9-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/_-]{40,300})",
        prefixes: &[],
        check: Check::None,
    },
    FormatRule {
        id: "telegram-bot-token",
        kind: K::GenericSecret,
        keywords: &[":A"],
        pattern: r"\b([0-9]{5,16}:A[A-Za-z0-9_-]{34})(?:[^A-Za-z0-9_-]|$)",
        prefixes: &[],
        check: Check::None,
    },
    FormatRule {
        id: "prefixed-token",
        kind: K::GenericSecret,
        keywords: &[
            "hf_",
            "api_org_",
            "npm_",
            "pypi-AgE",
            "_v1_",
            "shpat_",
            "shpca_",
            "shppa_",
            "shpss_",
            "glsa_",
            "glc_",
            "sntrys_",
            "sntryu_",
            "pscale_",
            "lin_api_",
            "PMAK-",
            "dapi",
            "hvs.",
            "hvb.",
            "ops_eyJ",
            "AGE-SECRET-KEY-1",
            "xkeysib-",
            "NRAK-",
            "NRII-",
            "NRJS-",
            "dp.pt.",
            "dt0c01.",
            "ATATT3",
            "sha256~",
            "HRKU-",
            "pplx-",
            "ntn_",
            "sgp_",
            "key-",
            "fm1",
            "fm2",
            "CLOJARS_",
            "rubygems_",
            "pul-",
            "pnu_",
            "rdme_",
            "tfp_",
            "sm_",
            "shippo_",
            "LTAI",
            "sq0",
            "EZAK",
            "EZTK",
            "FLWSECK",
            "FLWPUBK",
            "EAA",
            "s-s4t2",
            "fo1_",
            "-us",
            "fio-u-",
            "tk-us-",
            "AQVN",
            "duffel_",
            "dnkey-",
            "A3-",
        ],
        pattern: concat!(
            r"\b(",
            r"hf_[A-Za-z]{34}|api_org_[A-Za-z]{34}|npm_[A-Za-z0-9]{36}",
            r"|pypi-AgE[A-Za-z0-9_-]{50,}",
            r"|do[opr]_v1_[a-f0-9]{64}|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
            r"|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,400}={0,2}",
            r"|sntrys_eyJ[A-Za-z0-9+/]{30,400}={0,2}_[A-Za-z0-9+/]{43}|sntryu_[a-f0-9]{64}",
            r"|pscale_(?:tkn|oauth|pw)_[A-Za-z0-9=._-]{32,64}",
            r"|lin_api_[A-Za-z0-9]{40}|PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}",
            r"|dapi[a-f0-9]{32}(?:-[0-9])?|hv[sb]\.[A-Za-z0-9_-]{90,}",
            r"|ops_eyJ[A-Za-z0-9+/]{64,}={0,3}",
            r"|AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
            r"|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}|NRAK-[A-Za-z0-9]{27}|NRII-[A-Za-z0-9-]{32}",
            r"|NRJS-[a-f0-9]{19}|dp\.pt\.[A-Za-z0-9]{43}|dt0c01\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}",
            r"|ATATT3[A-Za-z0-9_=-]{150,}|HRKU-AA[0-9A-Za-z_-]{58}|pplx-[A-Za-z0-9]{48}",
            r"|ntn_[0-9]{11}[A-Za-z0-9]{35}|sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40}",
            r"|(?:pub)?key-[a-f0-9]{32}|fm[12][ar]?_[A-Za-z0-9+/]{100,}={0,3}",
            r"|CLOJARS_[a-z0-9]{60}|rubygems_[a-f0-9]{48}|pul-[a-f0-9]{40}|pnu_[a-z0-9]{36}",
            r"|rdme_[a-z0-9]{70}|tfp_[a-z0-9_.=-]{59}|sm_[aps]at_[a-z0-9]{16}",
            r"|shippo_(?:live|test)_[a-f0-9]{40}|LTAI[A-Za-z0-9]{20}",
            r"|sq0(?:atp|csp)-[0-9A-Za-z_-]{22,43}|EZ[AT]K[A-Za-z0-9]{54}",
            r"|FLW(?:SECK|PUBK)_TEST-[a-hA-H0-9]{32}-X|FLWSECK_TEST-[a-hA-H0-9]{12}",
            r"|EAA[MC][A-Za-z0-9]{100,}|s-s4t2(?:ud|af)-[a-f0-9]{64}|fo1_[A-Za-z0-9_-]{43}",
            r"|[0-9a-f]{32}-us[0-9]{1,2}",
            r"|fio-u-[A-Za-z0-9_=-]{64}|tk-us-[A-Za-z0-9_-]{48}|AQVN[A-Za-z0-9_-]{35,38}",
            r"|duffel_(?:test|live)_[A-Za-z0-9_=-]{43}|dnkey-[a-z0-9=_-]{26}-[a-z0-9=_-]{52}",
            r"|A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}",
            r"|sha256~[A-Za-z0-9_-]{43}",
            r")(?:[^A-Za-z0-9_=-]|$)"
        ),
        prefixes: &[
            "hf_",
            "api_org_",
            "npm_",
            "pypi-",
            "dop_v1_",
            "doo_v1_",
            "dor_v1_",
            "shpat_",
            "shpca_",
            "shppa_",
            "shpss_",
            "glsa_",
            "glc_",
            "sntrys_",
            "sntryu_",
            "pscale_tkn_",
            "pscale_oauth_",
            "pscale_pw_",
            "lin_api_",
            "PMAK-",
            "dapi",
            "hvs.",
            "hvb.",
            "ops_",
            "AGE-SECRET-KEY-1",
            "xkeysib-",
            "NRAK-",
            "NRII-",
            "NRJS-",
            "dp.pt.",
            "dt0c01.",
            "ATATT3",
            "HRKU-",
            "pplx-",
            "ntn_",
            "sgp_",
            "pubkey-",
            "key-",
            "fm1",
            "fm2",
            "CLOJARS_",
            "rubygems_",
            "pul-",
            "pnu_",
            "rdme_",
            "tfp_",
            "sm_aat_",
            "sm_pat_",
            "sm_sat_",
            "shippo_live_",
            "shippo_test_",
            "LTAI",
            "sq0atp-",
            "sq0csp-",
            "EZAK",
            "EZTK",
            "FLWSECK_TEST-",
            "FLWPUBK_TEST-",
            "EAA",
            "s-s4t2",
            "fo1_",
            "fio-u-",
            "tk-us-",
            "AQVN",
            "duffel_test_",
            "duffel_live_",
            "dnkey-",
            "A3-",
            "sha256~",
        ],
        check: Check::Body,
    },
];

/// Values that announce a documented format: every rule's public prefixes of four bytes or
/// more (shorter ones such as `SK` or `sk-` start ordinary values too). A generic
/// `token = <value>` whose value starts like this but did not pass that format's own rule is an
/// example or a mangled token (`xoxp-1234-1234-1234-...`), not a secret to report as generic.
/// Derived from [`FORMAT_RULES`], so a format added there is claimed without a second list.
pub(crate) fn claimed_prefixes() -> impl Iterator<Item = &'static str> {
    FORMAT_RULES
        .iter()
        .flat_map(|rule| rule.prefixes.iter().copied())
        .filter(|p| p.len() >= 4)
}

/// `<digits>:A...` is the shape of a Telegram bot token; see [`claimed_prefixes`].
pub(crate) fn claims_telegram_shape(value: &[u8]) -> bool {
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    digits >= 3 && value.get(digits) == Some(&b':') && value.get(digits + 1) == Some(&b'A')
}

/// GitLab token lengths (after the prefix), from GitLab's token documentation as encoded in
/// detect-secrets: most are 20..=50, some exact.
pub(crate) fn gitlab_length_ok(token: &[u8]) -> bool {
    let Some(dash) = token.iter().position(|&b| b == b'-') else {
        // GR1348941 runner registration tokens: the regex already bounds them to 20..=50.
        return token.starts_with(b"GR1348941");
    };
    let (prefix, body) = (&token[..dash], &token[dash + 1..]);
    // Routable tokens (`glpat-<payload>.<2><7>`) have their own, longer, length range.
    let routable = body.iter().rposition(|&b| b == b'.').is_some();
    if routable {
        return (27..=320).contains(&body.len());
    }
    match prefix {
        b"glimt" => body.len() == 25,
        b"glptt" => body.len() == 40,
        b"gloas" => body.len() == 64,
        b"glagent" => (50..=1024).contains(&body.len()),
        _ => (20..=50).contains(&body.len()),
    }
}

/// Labels of PEM private key blocks, as static strings usable as a prefix.
pub(crate) const PEM_LABELS: &[&str] = &[
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "PGP PRIVATE KEY BLOCK",
    "PRIVATE KEY",
];
