//! The `config.toml` schema, merged with CLI flags and validated into typed values.
//! (Issue 3 fills this in.)
