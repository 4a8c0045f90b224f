//! Faithful local stand-ins for the EC2 instance metadata service (IMDSv2) and the
//! ECS / EKS container credentials endpoint, for the credentials tests. Each is a
//! hyper server on `127.0.0.1:0` in the test's runtime that records every request.
//!
//! IMDSv2 as documented: `PUT /latest/api/token` needs
//! `x-aws-ec2-metadata-token-ttl-seconds` (1..=21600) and returns a token; every `GET`
//! needs that token in `x-aws-ec2-metadata-token` (else 401); the role list and the
//! role's JSON (`Code`, `LastUpdated`, `Type`, `AccessKeyId`, `SecretAccessKey`,
//! `Token`, `Expiration`) are under `/latest/meta-data/iam/security-credentials/`.
//! The container endpoint serves one path and, when given a token, answers 401 unless
//! `Authorization` carries it exactly.

// Reason: each test binary uses a different subset of this module, and a
// test helper that fails should panic (clippy's allow-unwrap-in-tests does not reach
// helper modules of integration tests).
#![allow(dead_code, clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: http::HeaderMap,
    /// The request body, lossily as text.
    pub(crate) body: String,
}

/// A running fake server; stops when dropped.
#[derive(Debug)]
pub(crate) struct FakeServer {
    pub(crate) addr: SocketAddr,
    pub(crate) requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> (StatusCode, String) + Send + Sync>;

async fn serve(handler: Handler) -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (handler, log) = (handler.clone(), log.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let recorded = Recorded {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_owned(),
                            query: parts.uri.query().unwrap_or_default().to_owned(),
                            headers: parts.headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        };
                        log.lock().unwrap().push(recorded.clone());
                        let (status, body) = handler(&recorded);
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    FakeServer {
        addr,
        requests,
        task,
    }
}

/// The JSON both endpoints answer with.
pub(crate) fn credentials_json(akid: &str, secret: &str, token: &str, expiration: &str) -> String {
    serde_json::json!({
        "Code": "Success",
        "LastUpdated": "2024-01-01T00:00:00Z",
        "Type": "AWS-HMAC",
        "AccessKeyId": akid,
        "SecretAccessKey": secret,
        "Token": token,
        "Expiration": expiration,
    })
    .to_string()
}

pub(crate) const IMDS_TOKEN: &str = "AQAEAimds-session-token-value==";
const CREDS_PREFIX: &str = "/latest/meta-data/iam/security-credentials/";

/// An IMDSv2 server for an instance with role `role` (none if `None`).
pub(crate) async fn imds(role: Option<&str>, creds_json: String) -> FakeServer {
    let role = role.map(str::to_owned);
    serve(Arc::new(move |r: &Recorded| {
        if r.method == "PUT" && r.path == "/latest/api/token" {
            let ttl = r
                .headers
                .get("x-aws-ec2-metadata-token-ttl-seconds")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u32>().ok());
            return match ttl {
                Some(1..=21600) => (StatusCode::OK, IMDS_TOKEN.to_owned()),
                _ => (StatusCode::BAD_REQUEST, String::new()),
            };
        }
        if r.method != "GET" {
            return (StatusCode::METHOD_NOT_ALLOWED, String::new());
        }
        if r.headers
            .get("x-aws-ec2-metadata-token")
            .map(|v| v.as_bytes())
            != Some(IMDS_TOKEN.as_bytes())
        {
            return (StatusCode::UNAUTHORIZED, String::new());
        }
        match (r.path.strip_prefix(CREDS_PREFIX), &role) {
            (Some(""), Some(role)) => (StatusCode::OK, format!("{role}\n")),
            (Some(name), Some(role)) if name == role => (StatusCode::OK, creds_json.clone()),
            _ => (StatusCode::NOT_FOUND, String::new()),
        }
    }))
    .await
}

/// An instance metadata service without IMDSv2: the token request gets `token_status`
/// (403, 404 or 405), and the GETs are served without a token (IMDSv1). A request that
/// carries a token header is answered 400, so a test sees the client did not send one.
pub(crate) async fn imds_v1(
    token_status: StatusCode,
    role: &str,
    creds_json: String,
) -> FakeServer {
    let role = role.to_owned();
    serve(Arc::new(move |r: &Recorded| {
        if r.method == "PUT" {
            return (token_status, String::new());
        }
        if r.headers.contains_key("x-aws-ec2-metadata-token") {
            return (StatusCode::BAD_REQUEST, String::new());
        }
        match r.path.strip_prefix(CREDS_PREFIX) {
            Some("") => (StatusCode::OK, format!("{role}\n")),
            Some(name) if name == role => (StatusCode::OK, creds_json.clone()),
            _ => (StatusCode::NOT_FOUND, String::new()),
        }
    }))
    .await
}

/// A container credentials endpoint serving `path`, requiring `Authorization: token`
/// when `token` is given.
pub(crate) async fn container(path: &str, token: Option<&str>, creds_json: String) -> FakeServer {
    let path = path.to_owned();
    let token = token.map(str::to_owned);
    serve(Arc::new(move |r: &Recorded| {
        if let Some(token) = &token {
            if r.headers.get("authorization").map(|v| v.as_bytes()) != Some(token.as_bytes()) {
                return (
                    StatusCode::UNAUTHORIZED,
                    r#"{"code":"AccessDenied","message":"bad token"}"#.to_owned(),
                );
            }
        }
        if r.method == "GET" && r.path == path {
            (StatusCode::OK, creds_json.clone())
        } else {
            (StatusCode::NOT_FOUND, String::new())
        }
    }))
    .await
}

/// A TCP listener that accepts connections and never answers.
pub(crate) async fn black_hole() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

/// SSO OIDC answering `CreateToken` (`POST /token`, JSON) for the refresh grant of one
/// registered client: `new_token` (valid an hour) and `new_refresh` when the client id,
/// secret and refresh token match, else 400 `invalid_grant` as the service does.
pub(crate) async fn sso_oidc(
    client_id: &str,
    client_secret: &str,
    refresh_token: &str,
    new_token: &str,
    new_refresh: &str,
) -> FakeServer {
    let expected = serde_json::json!({
        "clientId": client_id,
        "clientSecret": client_secret,
        "grantType": "refresh_token",
        "refreshToken": refresh_token,
    });
    let answer = serde_json::json!({
        "accessToken": new_token,
        "expiresIn": 3600,
        "refreshToken": new_refresh,
        "tokenType": "Bearer",
    })
    .to_string();
    serve(Arc::new(move |r: &Recorded| {
        let body: Option<serde_json::Value> = serde_json::from_str(&r.body).ok();
        let json = r
            .headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if r.method == "POST" && r.path == "/token" && json && body.as_ref() == Some(&expected) {
            (StatusCode::OK, answer.clone())
        } else {
            (
                StatusCode::BAD_REQUEST,
                r#"{"error":"invalid_grant"}"#.to_owned(),
            )
        }
    }))
    .await
}

/// An IAM Identity Center portal answering `GetRoleCredentials` for one account and
/// role when `x-amz-sso_bearer_token` carries `token` (else 401, as the portal does).
pub(crate) async fn sso_portal(
    token: &str,
    account_id: &str,
    role: &str,
    json: String,
) -> FakeServer {
    let token = token.to_owned();
    let query = format!("account_id={account_id}&role_name={role}");
    serve(Arc::new(move |r: &Recorded| {
        if r.headers
            .get("x-amz-sso_bearer_token")
            .map(|v| v.as_bytes())
            != Some(token.as_bytes())
        {
            return (
                StatusCode::UNAUTHORIZED,
                r#"{"message":"Session token not found or invalid"}"#.to_owned(),
            );
        }
        if r.method == "GET" && r.path == "/federation/credentials" && r.query == query {
            (StatusCode::OK, json.clone())
        } else {
            (
                StatusCode::FORBIDDEN,
                r#"{"message":"No access"}"#.to_owned(),
            )
        }
    }))
    .await
}
