//! Leaf certificates issued on the fly for intercepted hosts.
//!
//! Owns: [`TlsHost`] (a validated, normalised DNS name or IP address), [`LeafIssuer`]
//! (signs a short-lived leaf certificate for a host with the local CA and caches it per
//! host in a bounded cache), and [`LeafResolver`] (the rustls
//! [`ResolvesServerCert`] that picks the host from the `CONNECT` target and/or SNI).
//!
//! Does not own: which hosts may be intercepted (the proxy's allow-list decides that
//! before a handshake is ever attempted) or the TLS I/O itself (tokio-rustls).
//!
//! Each leaf has its own ECDSA P-256 key, a validity of [`LEAF_VALIDITY`] starting
//! [`LEAF_BACKDATE`] in the past, `subjectAltName` = the host (DNS or IP), EKU
//! serverAuth, and an authority key identifier (required by strict verifiers such as
//! Python 3.13's `VERIFY_X509_STRICT`). A cached leaf is reissued once half its
//! validity has passed, so a long-running proxy never serves an expired one.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{DnsName, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, StoresServerSessions};
use rustls::sign::CertifiedKey;

use super::ca::{random_serial, CertificateAuthority};
use super::TlsError;

/// How long an issued leaf certificate is valid.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);
/// How far a leaf's `notBefore` lies in the past, to tolerate client clock skew.
pub const LEAF_BACKDATE: Duration = Duration::from_secs(3600);
/// How many hosts' leaves [`LeafIssuer::new`] keeps cached.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;
/// How many TLS sessions the shared resumption cache keeps.
const SESSION_CACHE_SIZE: usize = 4096;

/// A host a leaf certificate can be issued for: a DNS name (lower-case, no trailing dot)
/// or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TlsHost {
    /// A DNS name, e.g. `s3.us-east-1.amazonaws.com`.
    Dns(String),
    /// An IP address (IPv6 given as `::1` or `[::1]`).
    Ip(IpAddr),
}

impl TlsHost {
    /// Parses and normalises a host name as found in a `CONNECT` target (without the
    /// port) or in SNI. Rejects empty names, ports, wildcards and anything that is not a
    /// valid DNS name.
    pub fn parse(host: &str) -> Result<Self, TlsError> {
        let invalid = |problem| TlsError::InvalidHost {
            host: host.to_owned(),
            problem,
        };
        let trimmed = host.trim();
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Self::Ip(ip.to_canonical()));
        }
        let name = trimmed
            .strip_suffix('.')
            .unwrap_or(trimmed)
            .to_ascii_lowercase();
        if name.is_empty() {
            return Err(invalid("empty host name"));
        }
        if name.contains(':') {
            return Err(invalid("contains ':' (pass the host without its port)"));
        }
        if name.contains('*') {
            return Err(invalid("wildcards are not issued"));
        }
        if DnsName::try_from(name.as_str()).is_err() {
            return Err(invalid("not a valid DNS name"));
        }
        Ok(Self::Dns(name))
    }
}

impl TlsHost {
    /// Splits a `CONNECT` target (`host:port`, `[v6]:port`) into the host and the port.
    /// The port is required, as RFC 9110 requires it for `CONNECT`.
    pub fn from_connect_authority(
        authority: &http::uri::Authority,
    ) -> Result<(Self, u16), TlsError> {
        let port = authority.port_u16().ok_or_else(|| TlsError::InvalidHost {
            host: authority.to_string(),
            problem: "a CONNECT target needs a port (host:443)",
        })?;
        Ok((Self::parse(authority.host())?, port))
    }
}

impl fmt::Display for TlsHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(name) => f.write_str(name),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Issues and caches leaf certificates signed by a [`CertificateAuthority`].
///
/// Shared by all connections (`Arc<LeafIssuer>`); cheap to query once a host is cached.
pub struct LeafIssuer {
    ca: CertificateAuthority,
    provider: Arc<CryptoProvider>,
    capacity: NonZeroUsize,
    cache: Mutex<LeafCache>,
    sessions: Arc<dyn StoresServerSessions>,
}

#[derive(Default)]
struct LeafCache {
    entries: HashMap<TlsHost, CachedLeaf>,
    /// Insertion order, oldest first, for eviction.
    order: VecDeque<TlsHost>,
}

struct CachedLeaf {
    key: Arc<CertifiedKey>,
    issued_at: SystemTime,
}

impl LeafIssuer {
    /// An issuer caching up to [`DEFAULT_CACHE_CAPACITY`] hosts.
    pub fn new(ca: CertificateAuthority) -> Self {
        const DEFAULT: NonZeroUsize = match NonZeroUsize::new(DEFAULT_CACHE_CAPACITY) {
            Some(n) => n,
            None => panic!("DEFAULT_CACHE_CAPACITY is not zero"),
        };
        Self::with_capacity(ca, DEFAULT)
    }

    /// An issuer caching up to `capacity` hosts; when full, the host cached longest ago
    /// is evicted (its next connection gets a freshly issued leaf).
    pub fn with_capacity(ca: CertificateAuthority, capacity: NonZeroUsize) -> Self {
        Self {
            ca,
            provider: super::provider(),
            capacity,
            cache: Mutex::new(LeafCache::default()),
            sessions: rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE_SIZE),
        }
    }

    /// The CA that signs the leaves.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The leaf certificate and key for `host`, from the cache or freshly issued.
    pub fn certified_key(&self, host: &TlsHost) -> Result<Arc<CertifiedKey>, TlsError> {
        self.certified_key_at(host, SystemTime::now())
    }

    /// [`Self::certified_key`] as if the current time were `now`.
    pub fn certified_key_at(
        &self,
        host: &TlsHost,
        now: SystemTime,
    ) -> Result<Arc<CertifiedKey>, TlsError> {
        if let Some(key) = self.lookup(host, now) {
            return Ok(key);
        }
        // Issued outside the lock: two first connections to one host may both issue a
        // leaf; both are valid and the later one stays cached.
        let key = Arc::new(self.issue(host, now)?);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = CachedLeaf {
            key: key.clone(),
            issued_at: now,
        };
        if cache.entries.insert(host.clone(), entry).is_none() {
            cache.order.push_back(host.clone());
            while cache.order.len() > self.capacity.get() {
                if let Some(oldest) = cache.order.pop_front() {
                    cache.entries.remove(&oldest);
                }
            }
        }
        Ok(key)
    }

    /// How many hosts currently have a cached leaf.
    pub fn cached_hosts(&self) -> usize {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.entries.len()
    }

    /// A rustls server config for one intercepted connection whose `CONNECT` target was
    /// `connect_host` (`None` outside a tunnel: the host then comes from SNI alone).
    /// Offers ALPN [`super::ALPN_PROTOCOLS`]; shares one session-resumption cache with
    /// every other config of this issuer.
    pub fn server_config(
        self: &Arc<Self>,
        connect_host: Option<TlsHost>,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let resolver = LeafResolver {
            issuer: self.clone(),
            connect_host,
        };
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                context: "cannot build the interception TLS config".into(),
                source,
            })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = super::alpn_protocols();
        config.session_storage = self.sessions.clone();
        Ok(Arc::new(config))
    }

    /// Performs the server side of the TLS handshake on `io` (the upgraded `CONNECT`
    /// connection) with a leaf for `connect_host`. The caller serves the returned stream
    /// as HTTP/2 or HTTP/1.1 according to its negotiated ALPN protocol.
    pub async fn accept<IO>(
        self: &Arc<Self>,
        io: IO,
        connect_host: TlsHost,
    ) -> Result<tokio_rustls::server::TlsStream<IO>, TlsError>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let host = connect_host.to_string();
        let config = self.server_config(Some(connect_host))?;
        tokio_rustls::TlsAcceptor::from(config)
            .accept(io)
            .await
            .map_err(|source| TlsError::Handshake { host, source })
    }

    fn lookup(&self, host: &TlsHost, now: SystemTime) -> Option<Arc<CertifiedKey>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = cache.entries.get(host)?;
        let age = now.duration_since(entry.issued_at).ok()?;
        (age < LEAF_VALIDITY / 2).then(|| entry.key.clone())
    }

    fn issue(&self, host: &TlsHost, now: SystemTime) -> Result<CertifiedKey, TlsError> {
        let generate = |what| move |source| TlsError::Generate { what, source };
        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(generate("leaf key pair"))?;

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host.to_string());
        params.distinguished_name = dn;
        params.subject_alt_names = vec![match host {
            TlsHost::Dns(name) => SanType::DnsName(
                name.clone()
                    .try_into()
                    .map_err(generate("leaf subjectAltName"))?,
            ),
            TlsHost::Ip(ip) => SanType::IpAddress(*ip),
        }];
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial().to_vec().into());
        params.not_before = now.checked_sub(LEAF_BACKDATE).unwrap_or(now).into();
        params.not_after = now.checked_add(LEAF_VALIDITY).unwrap_or(now).into();

        let cert = self
            .ca
            .sign(params, &leaf_key)
            .map_err(generate("leaf certificate"))?;
        let signing_key = self
            .provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()))
            .map_err(|source| TlsError::Rustls {
                context: format!("cannot load the leaf key for {host}"),
                source,
            })?;
        Ok(CertifiedKey::new(vec![cert.der().clone()], signing_key))
    }
}

impl fmt::Debug for LeafIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafIssuer")
            .field("ca", &self.ca)
            .field("capacity", &self.capacity)
            .field("cached_hosts", &self.cached_hosts())
            .finish()
    }
}

/// Picks the leaf for one intercepted connection.
///
/// The host is the `CONNECT` target when there is one; SNI, when the client sends it,
/// must then name the same host (a mismatch fails the handshake rather than hand out a
/// certificate for a host the allow-list never saw). Without a `CONNECT` target the
/// host is the SNI; with neither, the handshake fails.
#[derive(Debug)]
pub struct LeafResolver {
    issuer: Arc<LeafIssuer>,
    connect_host: Option<TlsHost>,
}

impl LeafResolver {
    /// Chooses the host to issue for, or explains why there is none.
    fn host_for(&self, sni: Option<&str>) -> Result<TlsHost, &'static str> {
        let sni = match sni {
            Some(name) => Some(TlsHost::parse(name).map_err(|_| "invalid SNI")?),
            None => None,
        };
        match (&self.connect_host, sni) {
            (Some(target), Some(sni)) if *target != sni => Err("SNI differs from CONNECT host"),
            (Some(target), _) => Ok(target.clone()),
            (None, Some(sni)) => Ok(sni),
            (None, None) => Err("no SNI and no CONNECT host"),
        }
    }
}

impl ResolvesServerCert for LeafResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = client_hello.server_name();
        let host = match self.host_for(sni) {
            Ok(host) => host,
            Err(reason) => {
                tracing::warn!(
                    sni = sni.unwrap_or("-"),
                    connect_host = self.connect_host.as_ref().map(tracing::field::display),
                    reason,
                    "refusing TLS handshake"
                );
                return None;
            }
        };
        match self.issuer.certified_key(&host) {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::warn!(%host, %error, "cannot issue a leaf certificate");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
