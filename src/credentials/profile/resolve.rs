//! What a profile means: follows `source_profile` links to a base source and the
//! roles to assume on top of it, with the AWS SDKs' precedence rules.
//!
//! - A profile with `role_arn` assumes that role, using `source_profile` (another
//!   profile, or itself for its own static keys), `credential_source` (`Environment`,
//!   `Ec2InstanceMetadata`, `EcsContainer`) or `web_identity_token_file` (then it is a
//!   single `AssumeRoleWithWebIdentity`).
//! - In a source profile (not the first), static keys win over its own `role_arn`.
//! - A profile without `role_arn` is, by precedence: `credential_source`,
//!   `web_identity_token_file` (needs `role_arn`), SSO (`sso_session` /
//!   `sso_start_url`), `credential_process`, static keys.
//! - A loop of `source_profile`s is an error.
//!
//! Nothing here does I/O; [`super::ProfileProvider`] runs the result.

use super::parse::{ProfileFiles, Section};
use crate::credentials::{Credentials, CredentialsError};
use crate::secret::SecretString;

pub(crate) const NAME: &str = "Profile";

/// Where the first credentials of a profile chain come from.
#[derive(Debug, Clone)]
pub(crate) enum Base {
    /// Static keys in the profile.
    AccessKey(Credentials),
    /// `credential_source`.
    NamedSource(NamedSource),
    /// `role_arn` + `web_identity_token_file`.
    WebIdentity {
        role_arn: String,
        token_file: String,
        session_name: Option<String>,
    },
    /// `credential_process`.
    Process(String),
    /// An SSO profile (the name of the profile holding the SSO settings).
    Sso(String),
}

/// The values of `credential_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamedSource {
    Environment,
    Ec2InstanceMetadata,
    EcsContainer,
}

/// One `AssumeRole` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleSpec {
    pub(crate) role_arn: String,
    pub(crate) external_id: Option<String>,
    pub(crate) session_name: Option<String>,
    pub(crate) duration_seconds: Option<u32>,
    /// The profile the role is defined in.
    pub(crate) profile: String,
}

/// A base source and the roles to assume on top of it, innermost first.
#[derive(Debug, Clone)]
pub(crate) struct ProfileChain {
    pub(crate) base: Base,
    pub(crate) roles: Vec<RoleSpec>,
}

fn invalid(message: String) -> CredentialsError {
    CredentialsError::invalid(NAME, message)
}

/// Static keys of `section`: `Ok(None)` when it has none.
pub(crate) fn static_keys(
    name: &str,
    section: &Section,
) -> Result<Option<Credentials>, CredentialsError> {
    let Some(akid) = section.get("aws_access_key_id") else {
        return Ok(None);
    };
    let Some(secret) = section.get("aws_secret_access_key") else {
        return Err(invalid(format!(
            "profile {name} has aws_access_key_id but no aws_secret_access_key"
        )));
    };
    let token = section.get("aws_session_token").map(SecretString::new);
    Ok(Some(Credentials::new(
        akid,
        SecretString::new(secret),
        token,
        None,
        NAME,
    )))
}

fn role_spec(name: &str, section: &Section, role_arn: &str) -> Result<RoleSpec, CredentialsError> {
    let duration_seconds = match section.get("duration_seconds") {
        None => None,
        Some(v) => Some(v.parse::<u32>().map_err(|_| {
            invalid(format!(
                "profile {name}: duration_seconds must be a whole number of seconds, got {v:?}"
            ))
        })?),
    };
    Ok(RoleSpec {
        role_arn: role_arn.to_owned(),
        external_id: section.get("external_id").map(str::to_owned),
        session_name: section.get("role_session_name").map(str::to_owned),
        duration_seconds,
        profile: name.to_owned(),
    })
}

fn named_source(name: &str, value: &str) -> Result<NamedSource, CredentialsError> {
    match value {
        "Environment" => Ok(NamedSource::Environment),
        "Ec2InstanceMetadata" => Ok(NamedSource::Ec2InstanceMetadata),
        "EcsContainer" => Ok(NamedSource::EcsContainer),
        other => Err(invalid(format!(
            "profile {name}: credential_source {other:?} is not one of Environment, Ec2InstanceMetadata, EcsContainer"
        ))),
    }
}

/// The base source of a profile without `role_arn` (or a source profile).
fn base_of(name: &str, section: &Section) -> Result<Base, CredentialsError> {
    if let Some(cs) = section.get("credential_source") {
        return Ok(Base::NamedSource(named_source(name, cs)?));
    }
    if section.get("web_identity_token_file").is_some() {
        return Err(invalid(format!(
            "profile {name} has web_identity_token_file but no role_arn"
        )));
    }
    if section.get("sso_session").is_some() || section.get("sso_start_url").is_some() {
        return Ok(Base::Sso(name.to_owned()));
    }
    if let Some(cmd) = section.get("credential_process") {
        return Ok(Base::Process(cmd.to_owned()));
    }
    match static_keys(name, section)? {
        Some(c) => Ok(Base::AccessKey(c)),
        None => Err(CredentialsError::not_loaded(
            NAME,
            format!("profile {name} has no credentials"),
        )),
    }
}

/// Resolves profile `selected`. A missing profile is `NotLoaded`; the caller decides
/// whether that is an error (it is when the profile was asked for by name).
pub(crate) fn resolve(
    files: &ProfileFiles,
    selected: &str,
) -> Result<ProfileChain, CredentialsError> {
    let mut name = selected.to_owned();
    let mut visited: Vec<String> = Vec::new();
    let mut roles = Vec::new();
    let base = loop {
        let Some(section) = files.profiles.get(&name) else {
            if visited.is_empty() {
                return Err(CredentialsError::not_loaded(
                    NAME,
                    format!("profile {name} is not defined"),
                ));
            }
            return Err(invalid(format!(
                "source_profile {name} (used by profile {}) is not defined",
                visited.last().map(String::as_str).unwrap_or_default()
            )));
        };
        if visited.contains(&name) {
            visited.push(name);
            return Err(invalid(format!(
                "source_profile loop: {}",
                visited.join(" -> ")
            )));
        }
        visited.push(name.clone());
        if visited.len() > 1 {
            if let Some(c) = static_keys(&name, section)? {
                break Base::AccessKey(c);
            }
        }
        let Some(role_arn) = section.get("role_arn") else {
            break base_of(&name, section)?;
        };
        if let Some(source) = section.get("source_profile") {
            roles.push(role_spec(&name, section, role_arn)?);
            if source == name {
                // Self-reference: the profile's own static keys assume its role.
                match static_keys(&name, section)? {
                    Some(c) => break Base::AccessKey(c),
                    None => {
                        return Err(invalid(format!(
                            "profile {name} is its own source_profile but has no static keys"
                        )))
                    }
                }
            }
            name = source.to_owned();
        } else if let Some(cs) = section.get("credential_source") {
            roles.push(role_spec(&name, section, role_arn)?);
            break Base::NamedSource(named_source(&name, cs)?);
        } else if let Some(token_file) = section.get("web_identity_token_file") {
            break Base::WebIdentity {
                role_arn: role_arn.to_owned(),
                token_file: token_file.to_owned(),
                session_name: section.get("role_session_name").map(str::to_owned),
            };
        } else {
            return Err(invalid(format!(
                "profile {name} has role_arn but neither source_profile, credential_source nor web_identity_token_file"
            )));
        }
    };
    roles.reverse();
    Ok(ProfileChain { base, roles })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(config: &str, credentials: &str) -> ProfileFiles {
        ProfileFiles::parse(config, credentials)
    }

    #[test]
    fn static_profile() {
        let f = files("", "[default]\naws_access_key_id = AKID\naws_secret_access_key = S\naws_session_token = T\n");
        let chain = resolve(&f, "default").unwrap();
        let Base::AccessKey(c) = chain.base else {
            panic!("{chain:?}")
        };
        assert_eq!(
            (c.access_key_id(), c.secret_access_key(), c.session_token()),
            ("AKID", "S", Some("T"))
        );
        assert!(chain.roles.is_empty());
    }

    #[test]
    fn chained_roles_innermost_first() {
        let f = files(
            "[profile a]\nrole_arn = arn:a\nsource_profile = b\nexternal_id = ext\nrole_session_name = sess\nduration_seconds = 900\n\
             [profile b]\nrole_arn = arn:b\nsource_profile = c\n\
             [profile c]\naws_access_key_id = AKIDC\naws_secret_access_key = SC\nrole_arn = arn:ignored\nsource_profile = a\n",
            "",
        );
        let chain = resolve(&f, "a").unwrap();
        let Base::AccessKey(c) = &chain.base else {
            panic!("{chain:?}")
        };
        assert_eq!(
            c.access_key_id(),
            "AKIDC",
            "static keys win in a source profile"
        );
        let arns: Vec<&str> = chain.roles.iter().map(|r| r.role_arn.as_str()).collect();
        assert_eq!(arns, ["arn:b", "arn:a"]);
        assert_eq!(chain.roles[1].external_id.as_deref(), Some("ext"));
        assert_eq!(chain.roles[1].session_name.as_deref(), Some("sess"));
        assert_eq!(chain.roles[1].duration_seconds, Some(900));
    }

    #[test]
    fn self_referencing_source_profile_uses_own_keys() {
        let f = files("[profile a]\nrole_arn = arn:a\nsource_profile = a\naws_access_key_id = K\naws_secret_access_key = S\n", "");
        let chain = resolve(&f, "a").unwrap();
        assert!(matches!(chain.base, Base::AccessKey(_)));
        assert_eq!(chain.roles.len(), 1);
    }

    #[test]
    fn loops_and_dangling_sources_are_errors() {
        let f = files("[profile a]\nrole_arn = arn:a\nsource_profile = b\n[profile b]\nrole_arn = arn:b\nsource_profile = a\n", "");
        let err = resolve(&f, "a").unwrap_err().to_string();
        assert!(err.contains("loop: a -> b -> a"), "{err}");
        let f = files("[profile a]\nrole_arn = arn:a\nsource_profile = nope\n", "");
        let err = resolve(&f, "a").unwrap_err().to_string();
        assert!(err.contains("source_profile nope"), "{err}");
        let f = files("[profile a]\nrole_arn = arn:a\n", "");
        assert!(!resolve(&f, "a").unwrap_err().is_not_loaded());
    }

    #[test]
    fn credential_source_web_identity_process_sso() {
        let f = files(
            "[profile env]\nrole_arn = arn:e\ncredential_source = Environment\n\
             [profile bad]\nrole_arn = arn:e\ncredential_source = Nowhere\n\
             [profile wi]\nrole_arn = arn:w\nweb_identity_token_file = /tok\nrole_session_name = s\n\
             [profile proc]\ncredential_process = /bin/creds\naws_access_key_id = K\naws_secret_access_key = S\n\
             [profile sso]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = r\n",
            "",
        );
        let c = resolve(&f, "env").unwrap();
        assert!(matches!(
            c.base,
            Base::NamedSource(NamedSource::Environment)
        ));
        assert_eq!(c.roles.len(), 1);
        assert!(resolve(&f, "bad")
            .unwrap_err()
            .to_string()
            .contains("Nowhere"));
        let c = resolve(&f, "wi").unwrap();
        assert!(matches!(c.base, Base::WebIdentity { ref role_arn, .. } if role_arn == "arn:w"));
        assert!(c.roles.is_empty());
        assert!(
            matches!(resolve(&f, "proc").unwrap().base, Base::Process(ref p) if p == "/bin/creds")
        );
        assert!(matches!(resolve(&f, "sso").unwrap().base, Base::Sso(ref p) if p == "sso"));
    }

    #[test]
    fn missing_or_empty_profile_is_not_loaded_but_half_keys_are_invalid() {
        let f = files(
            "[default]\nregion = us-east-1\n",
            "[half]\naws_access_key_id = K\n",
        );
        assert!(resolve(&f, "default").unwrap_err().is_not_loaded());
        assert!(resolve(&f, "absent").unwrap_err().is_not_loaded());
        let err = resolve(&f, "half").unwrap_err();
        assert!(!err.is_not_loaded());
        assert!(
            err.to_string().contains("no aws_secret_access_key"),
            "{err}"
        );
    }
}
