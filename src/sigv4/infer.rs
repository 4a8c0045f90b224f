//! Service and region inference from an AWS hostname, shared by the CLI and the proxy.
//!
//! Covers regional and global endpoints, the S3 path, virtual-hosted, dual-stack, FIPS
//! and legacy `s3-REGION` forms, `REGION.es`/`REGION.aoss`, `execute-api`, Lambda
//! function URLs, a few endpoint prefixes whose signing name differs (`email` → `ses`,
//! `aps-workspaces` → `aps`, ...) and the China partition. It does not know every
//! service's quirks; unknown hosts are an error asking for an explicit service/region.

/// The service and region an AWS hostname belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferredEndpoint {
    /// The signing name (`s3`, `es`, `execute-api`, `ses`, ...).
    pub service: String,
    /// The signing region (`us-east-1` for global endpoints).
    pub region: String,
}

/// A hostname whose service or region cannot be inferred.
#[derive(Debug, thiserror::Error)]
#[error("cannot infer the AWS service and region from host {host:?}; pass --service and --region (or set them on the route)")]
pub struct InferError {
    /// The host that was not recognised.
    pub host: String,
}

/// Endpoint prefixes whose signing name differs from the prefix.
const SIGNING_NAMES: &[(&str, &str)] = &[
    ("email", "ses"),
    ("aps-workspaces", "aps"),
    ("bedrock-runtime", "bedrock"),
    ("bedrock-agent-runtime", "bedrock"),
    ("bedrock-agent", "bedrock"),
    ("appsync-api", "appsync"),
    ("lambda-url", "lambda"),
    ("s3-control", "s3"),
    ("s3-accesspoint", "s3"),
    ("s3-external-1", "s3"),
    ("s3express-control", "s3express"),
];

/// Services with one global endpoint and the region they sign for, per partition
/// (`aws`, `aws-cn`).
const GLOBAL: &[(&str, &str, &str)] = &[
    ("iam", "us-east-1", "cn-north-1"),
    ("sts", "us-east-1", "cn-north-1"),
    ("route53", "us-east-1", "cn-northwest-1"),
    ("cloudfront", "us-east-1", "cn-northwest-1"),
    ("s3", "us-east-1", "cn-north-1"),
    ("s3-external-1", "us-east-1", "cn-north-1"),
    ("organizations", "us-east-1", "cn-northwest-1"),
    ("waf", "us-east-1", "cn-north-1"),
    ("globalaccelerator", "us-west-2", "us-west-2"),
];

/// Infers service and region from `host` (a port, if present, is ignored).
pub fn infer_endpoint(host: &str) -> Result<InferredEndpoint, InferError> {
    let err = || InferError {
        host: host.to_owned(),
    };
    let lower = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
    let (rest, china) = if let Some(r) = lower.strip_suffix(".amazonaws.com.cn") {
        (r, true)
    } else if let Some(r) = lower.strip_suffix(".amazonaws.com") {
        (r, false)
    } else if let Some(r) = lower.strip_suffix(".api.aws") {
        (r, false)
    } else if let Some(r) = lower.strip_suffix(".on.aws") {
        (r, false)
    } else {
        return Err(err());
    };
    let labels: Vec<&str> = rest.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err(err());
    }
    let found = |service: &str, region: &str| InferredEndpoint {
        service: signing_name(service).to_owned(),
        region: region.to_owned(),
    };

    match labels.iter().rposition(|l| is_region(l)) {
        Some(r) => {
            let region = labels[r];
            let service = if r + 1 < labels.len() && labels[r + 1] != "vpce" {
                // `domain.us-east-1.es`, `id.us-east-1.aoss`.
                labels[r + 1]
            } else {
                // `sqs.us-east-1`, `bucket.s3.dualstack.us-west-2`, `id.execute-api.eu-west-1`.
                let mut i = r.checked_sub(1).ok_or_else(err)?;
                if labels[i] == "dualstack" {
                    i = i.checked_sub(1).ok_or_else(err)?;
                }
                labels[i]
            };
            Ok(found(service, region))
        }
        None => {
            let last = labels[labels.len() - 1];
            // Legacy `s3-us-west-2` and `bucket.s3-us-west-2`.
            if let Some(region) = last.strip_prefix("s3-").filter(|r| is_region(r)) {
                return Ok(found("s3", region));
            }
            // `iam.us-gov` (GovCloud's global IAM endpoint).
            if labels.len() >= 2 && last == "us-gov" && labels[labels.len() - 2] == "iam" {
                return Ok(found("iam", "us-gov-west-1"));
            }
            // Global endpoints, incl. virtual-hosted `bucket.s3.amazonaws.com`.
            GLOBAL
                .iter()
                .find(|(name, _, _)| *name == last && (labels.len() == 1 || last.starts_with("s3")))
                .map(|(name, aws, cn)| found(name, if china { cn } else { aws }))
                .ok_or_else(err)
        }
    }
}

/// `host` without a trailing `:port` (IPv6 literals in brackets are kept whole).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The signing name for an endpoint prefix: strips `-fips`, maps aliases.
fn signing_name(prefix: &str) -> &str {
    let p = prefix.strip_suffix("-fips").unwrap_or(prefix);
    SIGNING_NAMES
        .iter()
        .find(|(from, _)| *from == p)
        .map_or(p, |(_, to)| to)
}

/// True for region names such as `us-east-1`, `cn-north-1`, `us-gov-west-1`,
/// `us-isob-east-1`, `ap-southeast-5`.
fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    fn ok(host: &str) -> (String, String) {
        let e = infer_endpoint(host).unwrap_or_else(|e| panic!("{host}: {e}"));
        (e.service, e.region)
    }

    #[test]
    fn inference_table() {
        let table: &[(&str, &str, &str)] = &[
            // Regional.
            ("sqs.us-east-1.amazonaws.com", "sqs", "us-east-1"),
            ("dynamodb.eu-west-1.amazonaws.com", "dynamodb", "eu-west-1"),
            ("sts.eu-central-1.amazonaws.com", "sts", "eu-central-1"),
            ("ec2.us-gov-west-1.amazonaws.com", "ec2", "us-gov-west-1"),
            ("sqs-fips.us-east-2.amazonaws.com", "sqs", "us-east-2"),
            ("ec2.us-east-1.api.aws", "ec2", "us-east-1"),
            (
                "runtime.sagemaker.us-west-2.amazonaws.com",
                "sagemaker",
                "us-west-2",
            ),
            (
                "bedrock-runtime.us-east-1.amazonaws.com",
                "bedrock",
                "us-east-1",
            ),
            // Global.
            ("iam.amazonaws.com", "iam", "us-east-1"),
            ("sts.amazonaws.com", "sts", "us-east-1"),
            ("route53.amazonaws.com", "route53", "us-east-1"),
            ("cloudfront.amazonaws.com", "cloudfront", "us-east-1"),
            ("iam.us-gov.amazonaws.com", "iam", "us-gov-west-1"),
            // S3.
            ("s3.amazonaws.com", "s3", "us-east-1"),
            ("bucket.s3.amazonaws.com", "s3", "us-east-1"),
            ("my.dotted.bucket.s3.amazonaws.com", "s3", "us-east-1"),
            ("s3.us-west-2.amazonaws.com", "s3", "us-west-2"),
            ("bucket.s3.us-west-2.amazonaws.com", "s3", "us-west-2"),
            ("s3.dualstack.eu-west-1.amazonaws.com", "s3", "eu-west-1"),
            (
                "bucket.s3.dualstack.eu-west-1.amazonaws.com",
                "s3",
                "eu-west-1",
            ),
            ("s3-fips.us-east-2.amazonaws.com", "s3", "us-east-2"),
            (
                "bucket.s3-fips.dualstack.us-east-2.amazonaws.com",
                "s3",
                "us-east-2",
            ),
            ("s3-us-west-2.amazonaws.com", "s3", "us-west-2"),
            ("bucket.s3-eu-west-1.amazonaws.com", "s3", "eu-west-1"),
            ("s3-external-1.amazonaws.com", "s3", "us-east-1"),
            (
                "123456789012.s3-control.us-east-1.amazonaws.com",
                "s3",
                "us-east-1",
            ),
            (
                "ap-123456789012.s3-accesspoint.us-east-1.amazonaws.com",
                "s3",
                "us-east-1",
            ),
            (
                "bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com",
                "s3",
                "us-east-1",
            ),
            // Search, API Gateway, Lambda URLs, SES, Prometheus.
            (
                "search-my-domain-abc123.us-east-1.es.amazonaws.com",
                "es",
                "us-east-1",
            ),
            ("abc123.us-west-2.aoss.amazonaws.com", "aoss", "us-west-2"),
            (
                "abc123.execute-api.eu-west-1.amazonaws.com",
                "execute-api",
                "eu-west-1",
            ),
            ("abcdef.lambda-url.us-east-2.on.aws", "lambda", "us-east-2"),
            ("email.us-east-1.amazonaws.com", "ses", "us-east-1"),
            ("aps-workspaces.us-east-1.amazonaws.com", "aps", "us-east-1"),
            // China.
            ("s3.cn-north-1.amazonaws.com.cn", "s3", "cn-north-1"),
            (
                "bucket.s3.cn-northwest-1.amazonaws.com.cn",
                "s3",
                "cn-northwest-1",
            ),
            ("iam.amazonaws.com.cn", "iam", "cn-north-1"),
            (
                "ec2.cn-northwest-1.amazonaws.com.cn",
                "ec2",
                "cn-northwest-1",
            ),
            // Case, trailing dot and port are tolerated.
            ("SQS.US-EAST-1.AMAZONAWS.COM.", "sqs", "us-east-1"),
            ("sqs.us-east-1.amazonaws.com:443", "sqs", "us-east-1"),
        ];
        for (host, service, region) in table {
            assert_eq!(
                ok(host),
                (service.to_string(), region.to_string()),
                "{host}"
            );
        }
    }

    #[test]
    fn unknown_hosts_are_errors_naming_the_flags() {
        for host in [
            "example.com",
            "localhost",
            "127.0.0.1",
            "amazonaws.com",
            "foo.amazonaws.com",
            "bucket.foo.amazonaws.com",
            "us-east-1.amazonaws.com",
            "a..b.amazonaws.com",
        ] {
            let e = infer_endpoint(host).expect_err(host);
            let msg = e.to_string();
            assert!(
                msg.contains("--service") && msg.contains("--region"),
                "{msg}"
            );
            assert!(msg.contains(host), "{msg}");
        }
    }
}
