//! moto's server (`python3 -m moto.server`) as a SigV4-verifying AWS stand-in.
//!
//! Owns [`Moto`]: one moto process on a free loopback port, optionally over TLS with a
//! certificate from a [`TestCa`], optionally with signature enforcement on. Enforcement is
//! set up the way moto documents it: with auth still off, create an IAM user with an
//! allow-all policy and an access key, then `POST /moto-api/reset-auth` with body `0`; from
//! then on every request must be signed by a known key.
//!
//! Known moto gaps (so tests do not rely on them): it does not check the payload hash
//! (`x-amz-content-sha256`), it refuses some correctly signed requests whose path holds
//! `%2F`-style escapes (its web framework decodes them before verifying), and it answers an
//! unsigned request with a 500 rather than a 403 once enforcement is on. It checks that a
//! temporary key comes with its own session token (a wrong or missing token is refused with
//! `InvalidClientTokenId`/`InvalidToken`) but never checks expiry: to show a refused
//! temporary credential, send a wrong token, not an expired one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::ca::TestCa;
use super::cmd::{aws, isolated_command, python, python_cmd, CmdOutput};
use super::process::{spawn_on_free_port, ChildGuard, Ready};

/// moto's fixed account id.
pub(crate) const MOTO_ACCOUNT_ID: &str = "123456789012";

/// Access key id used when enforcement is off (moto then accepts any key).
const UNENFORCED_ACCESS_KEY_ID: &str = "AKIDTESTINGNOAUTH000";
/// Secret used when enforcement is off.
const UNENFORCED_SECRET_ACCESS_KEY: &str = "testing-secret-not-checked";

/// Host names the TLS certificate covers when [`MotoOptions::hostnames`] is empty.
/// (`*.amazonaws.com` covers one label only, hence the regional names.)
pub(crate) const DEFAULT_TLS_HOSTNAMES: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "*.amazonaws.com",
    "*.us-east-1.amazonaws.com",
    "s3.us-east-1.amazonaws.com",
    "*.s3.us-east-1.amazonaws.com",
    "*.s3.amazonaws.com",
];

/// How to start moto.
#[derive(Debug, Default, Clone)]
pub(crate) struct MotoOptions<'a> {
    /// Serve HTTPS with a leaf certificate issued by this CA (`--ssl-cert/--ssl-key`).
    pub(crate) tls: Option<&'a TestCa>,
    /// Require valid SigV4 signatures from a real IAM user's key.
    pub(crate) enforce_auth: bool,
    /// Names (and IPs) for the TLS certificate; empty means [`DEFAULT_TLS_HOSTNAMES`].
    /// `localhost` and `127.0.0.1` are always added so the loopback endpoint verifies.
    pub(crate) hostnames: Vec<String>,
}

/// A running moto server; killed on drop.
pub(crate) struct Moto {
    process: ChildGuard,
    port: u16,
    endpoint: String,
    access_key_id: String,
    secret_access_key: String,
    user_arn: Option<String>,
    ca_bundle: Option<PathBuf>,
}

impl std::fmt::Debug for Moto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moto")
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("enforcing", &self.user_arn.is_some())
            .field("pid", &self.process.pid())
            .finish()
    }
}

const SETUP_SCRIPT: &str = r#"
import json, os, ssl, urllib.request
import boto3
ep = os.environ["MOTO_ENDPOINT"]
ca = os.environ.get("MOTO_CA") or None
common = dict(endpoint_url=ep, region_name="us-east-1", verify=ca if ca else True)
boot = dict(aws_access_key_id="AKIDBOOTSTRAP0000000", aws_secret_access_key="bootstrap", **common)
iam = boto3.client("iam", **boot)
iam.create_user(UserName="harness-admin")
policy = iam.create_policy(
    PolicyName="harness-allow-all",
    PolicyDocument=json.dumps({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
)
iam.attach_user_policy(UserName="harness-admin", PolicyArn=policy["Policy"]["Arn"])
key = iam.create_access_key(UserName="harness-admin")["AccessKey"]
req = urllib.request.Request(ep + "/moto-api/reset-auth", data=b"0",
    headers={"Content-Type": "text/plain"}, method="POST")
ctx = ssl.create_default_context(cafile=ca) if ca else None
with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
    answer = json.load(resp)
assert answer.get("status") == "ok", answer
sts = boto3.client("sts", aws_access_key_id=key["AccessKeyId"],
    aws_secret_access_key=key["SecretAccessKey"], **common)
arn = sts.get_caller_identity()["Arn"]
print(json.dumps({"AccessKeyId": key["AccessKeyId"],
    "SecretAccessKey": key["SecretAccessKey"], "Arn": arn}))
"#;

impl Moto {
    /// Starts moto and waits until it serves (and, with `enforce_auth`, until the IAM
    /// user exists and enforcement is on). Panics with moto's log on failure.
    pub(crate) fn start(options: MotoOptions<'_>) -> Moto {
        let tls_files = options.tls.map(|ca| {
            let mut hosts: Vec<&str> = if options.hostnames.is_empty() {
                DEFAULT_TLS_HOSTNAMES.to_vec()
            } else {
                options.hostnames.iter().map(String::as_str).collect()
            };
            for always in ["localhost", "127.0.0.1"] {
                if !hosts.contains(&always) {
                    hosts.push(always);
                }
            }
            (ca.issue(&hosts), ca.cert_path().to_owned())
        });
        let (process, port) = spawn_on_free_port("moto", ready_line(), |port| {
            // moto must not pick up the developer's real AWS settings.
            let mut cmd = isolated_command("python3");
            cmd.args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
                .arg(port.to_string());
            if let Some(((cert, key), _)) = &tls_files {
                cmd.arg("--ssl-cert").arg(cert).arg("--ssl-key").arg(key);
            }
            cmd
        });
        let scheme = if tls_files.is_some() { "https" } else { "http" };
        let mut moto = Moto {
            process,
            port,
            endpoint: format!("{scheme}://127.0.0.1:{port}"),
            access_key_id: UNENFORCED_ACCESS_KEY_ID.to_owned(),
            secret_access_key: UNENFORCED_SECRET_ACCESS_KEY.to_owned(),
            user_arn: None,
            ca_bundle: tls_files.map(|(_, ca)| ca),
        };
        if options.enforce_auth {
            moto.enable_enforcement();
        }
        moto
    }

    /// Starts a plain-HTTP moto with signature enforcement on.
    pub(crate) fn enforcing() -> Moto {
        Moto::start(MotoOptions {
            enforce_auth: true,
            ..MotoOptions::default()
        })
    }

    fn enable_enforcement(&mut self) {
        let mut env = vec![("MOTO_ENDPOINT", self.endpoint.as_str())];
        if let Some(ca) = self.ca_bundle.as_deref().and_then(Path::to_str) {
            env.push(("MOTO_CA", ca));
        }
        let out = python(SETUP_SCRIPT, &env);
        if !out.success() {
            panic!(
                "moto enforcement setup failed:\n{out}\n{}",
                self.process.log_tail()
            );
        }
        let answer = out.json();
        let field = |name: &str| {
            answer[name]
                .as_str()
                .unwrap_or_else(|| panic!("setup answer lacks {name}:\n{out}"))
                .to_owned()
        };
        self.access_key_id = field("AccessKeyId");
        self.secret_access_key = field("SecretAccessKey");
        self.user_arn = Some(field("Arn"));
    }

    /// Base URL, `http(s)://127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The port moto listens on (127.0.0.1).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The socket address moto listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Access key id of the allow-all IAM user (a dummy when enforcement is off).
    pub(crate) fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Secret access key of the allow-all IAM user (a dummy when enforcement is off).
    pub(crate) fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// ARN of the IAM user, when enforcement is on.
    pub(crate) fn user_arn(&self) -> Option<&str> {
        self.user_arn.as_deref()
    }

    /// Whether signature enforcement is on.
    pub(crate) fn enforcing_auth(&self) -> bool {
        self.user_arn.is_some()
    }

    /// The CA certificate clients must trust, when serving TLS.
    pub(crate) fn ca_bundle(&self) -> Option<&Path> {
        self.ca_bundle.as_deref()
    }

    /// Environment for a client that talks to moto directly with the valid key:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and `AWS_CA_BUNDLE` with TLS.
    pub(crate) fn env(&self) -> Vec<(&str, &str)> {
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID", self.access_key_id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.as_str()),
        ];
        if let Some(ca) = self.ca_bundle.as_deref().and_then(Path::to_str) {
            env.push(("AWS_CA_BUNDLE", ca));
        }
        env
    }

    /// Runs awscli directly against moto, signed with the valid key: for test setup and
    /// for checking what arrived (not through the proxy).
    pub(crate) fn aws(&self, args: &[&str]) -> CmdOutput {
        aws(args, Some(&self.endpoint), &self.env())
    }

    /// Runs a python/boto3 snippet with [`Moto::env`] plus `MOTO_ENDPOINT` set, e.g.
    /// `boto3.client("iam", endpoint_url=os.environ["MOTO_ENDPOINT"])` to create roles.
    pub(crate) fn python(&self, script: &str) -> CmdOutput {
        python_cmd(script, &self.env())
            .env("MOTO_ENDPOINT", &self.endpoint)
            .run()
    }

    /// Creates an IAM role anyone may assume, with an allow-all policy; returns its ARN.
    /// Call once per name. Works with and without enforcement.
    pub(crate) fn create_role(&self, name: &str) -> String {
        let script = r#"
import json, os, boto3
name = os.environ["ROLE_NAME"]
iam = boto3.client("iam", endpoint_url=os.environ["MOTO_ENDPOINT"])
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"]}]}
role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
iam.put_role_policy(RoleName=name, PolicyName="allow-all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
print(json.dumps({"Arn": role["Arn"]}))
"#;
        let out = python_cmd(script, &self.env())
            .env("MOTO_ENDPOINT", &self.endpoint)
            .env("ROLE_NAME", name)
            .run();
        out.assert_success();
        out.json()["Arn"]
            .as_str()
            .unwrap_or_else(|| panic!("create-role answer lacks Arn:\n{out}"))
            .to_owned()
    }

    /// Assumes `role_arn` with the valid key and returns the temporary credentials.
    pub(crate) fn assume_role(&self, role_arn: &str, session_name: &str) -> TemporaryCredentials {
        let out = self.aws(&[
            "sts",
            "assume-role",
            "--role-arn",
            role_arn,
            "--role-session-name",
            session_name,
        ]);
        out.assert_success();
        let creds = &out.json()["Credentials"];
        let field = |name: &str| {
            creds[name]
                .as_str()
                .unwrap_or_else(|| panic!("assume-role answer lacks {name}:\n{out}"))
                .to_owned()
        };
        TemporaryCredentials {
            access_key_id: field("AccessKeyId"),
            secret_access_key: field("SecretAccessKey"),
            session_token: field("SessionToken"),
            expiration: field("Expiration"),
        }
    }

    /// The moto process (logs, pid, signals).
    pub(crate) fn process(&self) -> &ChildGuard {
        &self.process
    }

    /// The moto process, mutably (waits, terminate).
    pub(crate) fn process_mut(&mut self) -> &mut ChildGuard {
        &mut self.process
    }
}

/// Temporary credentials from [`Moto::assume_role`].
#[derive(Clone)]
pub(crate) struct TemporaryCredentials {
    /// `ASIA...` key id.
    pub(crate) access_key_id: String,
    /// Secret key.
    pub(crate) secret_access_key: String,
    /// Session token moto checks with every request.
    pub(crate) session_token: String,
    /// Expiry as STS reports it (ISO 8601); moto does not enforce it.
    pub(crate) expiration: String,
}

impl std::fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &"** redacted **")
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl TemporaryCredentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` for a client.
    pub(crate) fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key_id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.as_str()),
            ("AWS_SESSION_TOKEN", self.session_token.as_str()),
        ]
    }
}

/// werkzeug prints this once the socket is bound (to stderr).
fn ready_line() -> Ready {
    Ready::OutputThenPort(" * Running on ".to_owned())
}
