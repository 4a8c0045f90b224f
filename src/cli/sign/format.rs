//! Output formats of `sign`: JSON (default), ready-to-use header lines, or a curl
//! command line.

use super::job::SignedJson;

/// How `sign` prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    /// One JSON object with every intermediate value.
    #[default]
    Json,
    /// `Name: value` lines, one per header to send.
    Headers,
    /// A curl command that sends the signed request.
    Curl,
}

/// Where the body of a `sign` request came from, for the curl command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodySource {
    /// No body.
    None,
    /// `--data STR`.
    Inline(String),
    /// `--data-file PATH`.
    File(String),
    /// Standard input.
    Stdin,
}

/// Quotes `s` for a POSIX shell.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `Name: value` lines.
pub(crate) fn headers_text(signed: &SignedJson) -> String {
    signed
        .headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\n"))
        .collect()
}

/// A curl command line sending the signed request.
pub(crate) fn curl_command(signed: &SignedJson, body: &BodySource) -> String {
    let mut cmd = format!(
        "curl -X {} {}",
        shell_quote(&signed.method),
        shell_quote(&signed.url)
    );
    for (n, v) in &signed.headers {
        cmd.push_str(" -H ");
        cmd.push_str(&shell_quote(&format!("{n}: {v}")));
    }
    match body {
        BodySource::None => {}
        BodySource::Inline(s) => {
            cmd.push_str(" --data-binary ");
            cmd.push_str(&shell_quote(s));
        }
        BodySource::File(p) => {
            cmd.push_str(" --data-binary ");
            cmd.push_str(&shell_quote(&format!("@{p}")));
        }
        BodySource::Stdin => cmd.push_str(" --data-binary @-"),
    }
    cmd.push('\n');
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
