//! Parsing `~/.aws/config` and `~/.aws/credentials` the way the AWS CLI and SDKs do.
//!
//! - `#` and `;` start comment lines; on a property line they start a comment only when
//!   preceded by whitespace (`key = a#b` keeps `a#b`); on a section line, anywhere
//!   after the `]`.
//! - In the config file, profiles are `[default]` or `[profile NAME]` (`[profile
//!   default]` wins over `[default]`), plus `[sso-session NAME]` and `[services NAME]`;
//!   other sections are ignored. In the credentials file every `[NAME]` is a profile.
//! - A property with an empty value followed by indented `key = value` lines has
//!   sub-properties (`s3 =` / `  endpoint_url = ...`); an indented line after a
//!   property with a value continues that value.
//! - Property names are case-insensitive (stored lower-case); values are trimmed.
//! - Repeated sections merge (later properties win); the credentials file's
//!   properties win over the config file's for the same profile.
//!
//! This module only parses; [`super::resolve`] decides what a profile means.

use std::collections::HashMap;

/// Which file a text came from (the section naming rules differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Config,
    Credentials,
}

/// One section's properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Section {
    props: HashMap<String, String>,
    sub: HashMap<String, HashMap<String, String>>,
}

impl Section {
    /// A property's value (empty values count as unset).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.props
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A sub-property (`key =` followed by indented `sub = value`).
    pub(crate) fn get_sub(&self, key: &str, sub: &str) -> Option<&str> {
        self.sub
            .get(key)?
            .get(sub)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn merge(&mut self, other: Section) {
        self.props.extend(other.props);
        for (k, v) in other.sub {
            self.sub.entry(k).or_default().extend(v);
        }
    }
}

/// All sections of both files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProfileFiles {
    pub(crate) profiles: HashMap<String, Section>,
    pub(crate) sso_sessions: HashMap<String, Section>,
    pub(crate) services: HashMap<String, Section>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Header {
    Profile(String),
    /// `[default]` in the config file: loses to `[profile default]`.
    BareDefault,
    SsoSession(String),
    Services(String),
}

fn strip_comment(s: &str, need_whitespace: bool) -> &str {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if (b == b'#' || b == b';')
            && (!need_whitespace || (i > 0 && bytes[i - 1].is_ascii_whitespace()))
        {
            return &s[..i];
        }
    }
    s
}

fn parse_header(line: &str, kind: FileKind) -> Option<Header> {
    let line = line.trim();
    let rest = line.strip_prefix('[')?;
    let (name, after) = rest.split_once(']')?;
    if !strip_comment(after, false).trim().is_empty() {
        return None;
    }
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    if kind == FileKind::Credentials {
        return Some(Header::Profile(name.to_owned()));
    }
    if name == "default" {
        return Some(Header::BareDefault);
    }
    let (prefix, rest) = name.split_once(char::is_whitespace)?;
    let rest = rest.trim();
    if rest.is_empty() {
        return None;
    }
    match prefix {
        "profile" => Some(Header::Profile(rest.to_owned())),
        "sso-session" => Some(Header::SsoSession(rest.to_owned())),
        "services" => Some(Header::Services(rest.to_owned())),
        _ => None,
    }
}

/// Parses one file's text into sections, in order of appearance.
fn parse_sections(text: &str, kind: FileKind) -> Vec<(Header, Section)> {
    let mut out: Vec<(Header, Section)> = Vec::new();
    // None: before any section or inside an ignored one.
    let mut current: Option<(Header, Section)> = None;
    let mut last_key: Option<String> = None;
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.starts_with('[') {
            if let Some(done) = current.take() {
                out.push(done);
            }
            last_key = None;
            current = parse_header(trimmed, kind).map(|h| (h, Section::default()));
            if current.is_none() {
                tracing::debug!(line = trimmed, "ignoring unrecognised profile file section");
            }
            continue;
        }
        let Some((_, section)) = current.as_mut() else {
            continue;
        };
        let indented = raw.starts_with([' ', '\t']);
        let line = strip_comment(trimmed, true).trim();
        if indented {
            if let Some(key) = &last_key {
                let value = section.props.entry(key.clone()).or_default();
                if value.is_empty() {
                    if let Some((k, v)) = line.split_once('=') {
                        section
                            .sub
                            .entry(key.clone())
                            .or_default()
                            .insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                } else {
                    value.push('\n');
                    value.push_str(line);
                }
                continue;
            }
        }
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                let key = k.trim().to_ascii_lowercase();
                section.props.insert(key.clone(), v.trim().to_owned());
                last_key = Some(key);
            }
            _ => {
                tracing::debug!("ignoring a profile file line without `=`");
                last_key = None;
            }
        }
    }
    if let Some(done) = current {
        out.push(done);
    }
    out
}

impl ProfileFiles {
    /// Parses the config file text and then the credentials file text.
    pub(crate) fn parse(config: &str, credentials: &str) -> Self {
        let mut files = Self::default();
        let config_sections = parse_sections(config, FileKind::Config);
        let has_profile_default = config_sections
            .iter()
            .any(|(h, _)| *h == Header::Profile("default".into()));
        for (header, section) in config_sections {
            let (map, name) = match header {
                Header::Profile(n) => (&mut files.profiles, n),
                Header::BareDefault if has_profile_default => continue,
                Header::BareDefault => (&mut files.profiles, "default".to_owned()),
                Header::SsoSession(n) => (&mut files.sso_sessions, n),
                Header::Services(n) => (&mut files.services, n),
            };
            map.entry(name).or_default().merge(section);
        }
        for (header, section) in parse_sections(credentials, FileKind::Credentials) {
            if let Header::Profile(name) = header {
                files.profiles.entry(name).or_default().merge(section);
            }
        }
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_comments_and_precedence() {
        let config = "\
# a comment
; another
region = ignored-outside-any-section
[default]
region = us-west-2
[profile dev] ; comment after a section
region=eu-west-1 # trailing comment
output = a#b
Role_Arn = arn:aws:iam::123456789012:role/dev
[not-a-profile]
region = nowhere
[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
[services local]
sts =
  endpoint_url = http://127.0.0.1:5000
s3 =
  endpoint_url = http://127.0.0.1:9000
";
        let credentials = "\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secret/with+chars=
[dev]
region = ap-south-1
[profile odd]
aws_access_key_id = X
";
        let f = ProfileFiles::parse(config, credentials);
        let default = &f.profiles["default"];
        assert_eq!(default.get("region"), Some("us-west-2"));
        assert_eq!(default.get("aws_access_key_id"), Some("AKIDDEFAULT"));
        assert_eq!(
            default.get("aws_secret_access_key"),
            Some("secret/with+chars=")
        );
        let dev = &f.profiles["dev"];
        assert_eq!(
            dev.get("region"),
            Some("ap-south-1"),
            "credentials file wins"
        );
        assert_eq!(
            dev.get("output"),
            Some("a#b"),
            "# without whitespace is not a comment"
        );
        assert_eq!(
            dev.get("role_arn"),
            Some("arn:aws:iam::123456789012:role/dev")
        );
        assert!(!f.profiles.contains_key("not-a-profile"));
        assert!(
            f.profiles.contains_key("profile odd"),
            "credentials file names are literal"
        );
        assert_eq!(
            f.sso_sessions["corp"].get("sso_start_url"),
            Some("https://corp.awsapps.com/start")
        );
        assert_eq!(
            f.services["local"].get_sub("sts", "endpoint_url"),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            f.services["local"].get_sub("s3", "endpoint_url"),
            Some("http://127.0.0.1:9000")
        );
    }

    #[test]
    fn profile_default_beats_bare_default_and_continuations_append() {
        let config = "\
[default]
region = from-bare
[profile default]
output = json
credential_process = /bin/echo
  --flag
";
        let f = ProfileFiles::parse(config, "");
        let d = &f.profiles["default"];
        assert_eq!(
            d.get("region"),
            None,
            "[default] is ignored when [profile default] exists"
        );
        assert_eq!(d.get("output"), Some("json"));
        assert_eq!(d.get("credential_process"), Some("/bin/echo\n--flag"));
    }

    #[test]
    fn repeated_sections_merge_and_blank_values_are_unset() {
        let config = "[profile a]\nx = 1\ny =\n[profile a]\nx = 2\nz = 3\n";
        let f = ProfileFiles::parse(config, "");
        let a = &f.profiles["a"];
        assert_eq!(
            (a.get("x"), a.get("y"), a.get("z")),
            (Some("2"), None, Some("3"))
        );
    }
}
