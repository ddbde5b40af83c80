//! TLS files of the gate's own connections: Redis and the Schema Registry as a client, the HTTP
//! listener as a server. (Kafka's TLS and SASL are librdkafka properties under
//! `kafka.properties`; `kafka::preflight` checks the files those name.) Every file is read and
//! parsed at startup, so a missing file, a file without a certificate or a key that does not
//! belong to its certificate stops the gate naming the field, instead of failing at the first
//! connection.

use super::{invalid, ConfigError, GateConfig};
use breaker::TlsPem;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// TLS of a client connection: whom to trust and, for mutual TLS, who the gate is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// PEM file of the CA certificates to trust instead of the system's trust store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM file of the gate's certificate (chain) for servers that ask for one; needs
    /// `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM file of the private key of `cert_file` (PKCS#8, unencrypted; mount it as a secret).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl ClientTls {
    /// Reads and checks the files (their contents are never printed). `field` is where this section sits in the config
    /// (`redis.tls`), for errors.
    ///
    /// # Errors
    /// A file that cannot be read or holds no usable certificate or key, a certificate without
    /// its key, or a key that does not belong to the certificate.
    pub fn load(&self, field: &str) -> Result<TlsPem, ConfigError> {
        let ca = self.ca_file.as_deref().map(|p| certificates(&format!("{field}.ca_file"), p).map(|(pem, _)| pem)).transpose()?;
        let identity = match (&self.cert_file, &self.key_file) {
            (None, None) => None,
            (Some(c), Some(k)) => Some(identity(field, c, k)?),
            (Some(_), None) => return Err(invalid(format!("{field}.key_file"), "is needed with cert_file")),
            (None, Some(_)) => return Err(invalid(format!("{field}.cert_file"), "is needed with key_file")),
        };
        Ok(TlsPem { ca, identity })
    }

    fn resolve(&mut self, base: &Path) {
        for p in [&mut self.ca_file, &mut self.cert_file, &mut self.key_file].into_iter().flatten() {
            relative_to(p, base);
        }
    }
}

/// TLS of the gate's HTTP listener (admin API, registry, Schema Registry API, metrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// PEM file of the server certificate, followed by its intermediates.
    pub cert_file: PathBuf,
    /// PEM file of the server certificate's private key.
    pub key_file: PathBuf,
    /// PEM file of the CAs whose client certificates are accepted. When set, every client
    /// must present a certificate signed by one of them (mutual TLS); without it, no client
    /// certificate is asked for.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

impl ListenerTls {
    /// The acceptor for the listener (Mozilla's "intermediate" settings: TLS 1.2 and 1.3).
    ///
    /// # Errors
    /// Unusable files, naming the field.
    pub fn acceptor(&self) -> Result<SslAcceptor, ConfigError> {
        let field = "http.tls";
        let (chain, key) = identity_parts(field, &self.cert_file, &self.key_file)?;
        let ssl = |what: &str, e: openssl::error::ErrorStack| invalid(format!("{field}.{what}"), e.to_string());
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(|e| ssl("cert_file", e))?;
        let mut certs = chain.into_iter();
        let leaf = certs.next().ok_or_else(|| invalid(format!("{field}.cert_file"), "holds no certificate"))?;
        b.set_certificate(&leaf).map_err(|e| ssl("cert_file", e))?;
        for c in certs {
            b.add_extra_chain_cert(c).map_err(|e| ssl("cert_file", e))?;
        }
        b.set_private_key(&key).map_err(|e| ssl("key_file", e))?;
        if let Some(ca) = &self.client_ca_file {
            let f = format!("{field}.client_ca_file");
            let (_, cas) = certificates(&f, ca)?;
            for c in &cas {
                b.cert_store_mut().add_cert(c.clone()).map_err(|e| invalid(&f, e.to_string()))?;
                // Tells clients which CAs are accepted (curl and browsers pick a certificate by it).
                b.add_client_ca(c).map_err(|e| invalid(&f, e.to_string()))?;
            }
            b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        }
        Ok(b.build())
    }

    fn resolve(&mut self, base: &Path) {
        relative_to(&mut self.cert_file, base);
        relative_to(&mut self.key_file, base);
        if let Some(p) = &mut self.client_ca_file {
            relative_to(p, base);
        }
    }
}

fn relative_to(p: &mut PathBuf, base: &Path) {
    if p.is_relative() {
        *p = base.join(&*p);
    }
}

fn read(field: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| invalid(field, format!("cannot read {}: {e}", path.display())))
}

/// The file's bytes and its certificates (at least one).
fn certificates(field: &str, path: &Path) -> Result<(Vec<u8>, Vec<X509>), ConfigError> {
    let pem = read(field, path)?;
    let certs = X509::stack_from_pem(&pem).map_err(|e| invalid(field, format!("{} is not PEM certificates: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(field, format!("{} holds no PEM certificate", path.display())));
    }
    Ok((pem, certs))
}

fn identity_parts(field: &str, cert: &Path, key: &Path) -> Result<(Vec<X509>, PKey<Private>), ConfigError> {
    let (_, chain) = certificates(&format!("{field}.cert_file"), cert)?;
    let kf = format!("{field}.key_file");
    let key_pem = read(&kf, key)?;
    // The key's bytes never reach a message: only the file name and OpenSSL's reason.
    let pkey = PKey::private_key_from_pem(&key_pem).map_err(|e| invalid(&kf, format!("{} is not an unencrypted PEM private key: {e}", key.display())))?;
    let matches = chain.first().and_then(|c| c.public_key().ok()).is_some_and(|public| public.public_eq(&pkey));
    if !matches {
        return Err(invalid(kf, format!("{} is not the key of the first certificate in {}", key.display(), cert.display())));
    }
    Ok((chain, pkey))
}

fn identity(field: &str, cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), ConfigError> {
    identity_parts(field, cert, key)?;
    Ok((read(&format!("{field}.cert_file"), cert)?, read(&format!("{field}.key_file"), key)?))
}

/// Resolves relative TLS paths against the config file's directory.
pub(super) fn resolve_paths(cfg: &mut GateConfig, base: &Path) {
    if let Some(t) = cfg.redis.as_mut().and_then(|r| r.tls.as_mut()) {
        t.resolve(base);
    }
    if let Some(t) = cfg.schema_registry.as_mut().and_then(|r| r.tls.as_mut()) {
        t.resolve(base);
    }
    if let Some(t) = &mut cfg.http.tls {
        t.resolve(base);
    }
}

/// Checks every TLS section: the files are read and parsed, and a Redis URL and its `tls`
/// agree.
///
/// # Errors
/// The first offending field.
pub(super) fn validate(cfg: &GateConfig) -> Result<(), ConfigError> {
    // librdkafka reads these at client creation and says only "ssl.ca.location failed"; a
    // missing file is found here with the field's full name. (`probe` asks librdkafka to
    // search the system's usual places.)
    for (section, map) in [("properties", &cfg.kafka.properties), ("consumer_properties", &cfg.kafka.consumer_properties), ("producer_properties", &cfg.kafka.producer_properties)] {
        for key in ["ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.keystore.location", "ssl.crl.location"] {
            if let Some(v) = map.get(key).filter(|v| v.as_str() != "probe") {
                if let Err(e) = std::fs::metadata(v) {
                    return Err(invalid(format!("kafka.{section}.{key}"), format!("{v}: {e}")));
                }
            }
        }
    }
    if let Some(r) = &cfg.redis {
        let tls_url = r.url.starts_with("rediss://");
        if let Some(t) = &r.tls {
            if !tls_url {
                return Err(invalid("redis.tls", "is set, but redis.url is not rediss:// (TLS): write rediss://host:port"));
            }
            t.load("redis.tls")?;
        }
    }
    if let Some(s) = &cfg.schema_registry {
        if let Some(t) = &s.tls {
            if !s.url.starts_with("https://") {
                return Err(invalid("schema_registry.tls", "is set, but schema_registry.url is not https://"));
            }
            t.load("schema_registry.tls")?;
        }
    }
    if let Some(t) = &cfg.http.tls {
        t.acceptor()?;
    }
    Ok(())
}
