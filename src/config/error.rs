//! [`ConfigError`]: what is wrong with a configuration, naming the file and key.

use std::path::PathBuf;

/// Why a configuration could not be loaded. `Display` names the file, the key and the
/// problem, e.g. `config.toml: listeners[0].routes[0].upstream: not a URL: ...`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read the file: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema (unknown key, wrong type).
    #[error("{}: {message}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// The parser's message (it names the line, column and key).
        message: String,
    },
    /// A value is present but wrong.
    #[error("{}: {key}: {message}", file.display())]
    Invalid {
        /// The file (`<command line>` for flags).
        file: PathBuf,
        /// The key, e.g. `listeners[0].routes[1].upstream`.
        key: String,
        /// What is wrong.
        message: String,
    },
}
