//! The HTTP client of the commands that talk to a running gate (`contracts …`, `breaker …`):
//! https through OpenSSL (the library librdkafka already links), the system's trust store
//! unless `--ca-file` names the CAs to trust, and a client certificate for a gate that asks
//! for one.

use std::path::{Path, PathBuf};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider};

/// TLS options of a command that calls a gate over https.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM file of the CA certificates to trust for https URLs, instead of the system's store.
    #[arg(long, env = "CONTRACT_GATE_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// PEM file of a client certificate, for a gate whose listener requires one.
    #[arg(long, env = "CONTRACT_GATE_CLIENT_CERT", global = true, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM file (PKCS#8) of the client certificate's private key.
    #[arg(long, env = "CONTRACT_GATE_CLIENT_KEY", global = true, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

fn certificates(flag: &str, path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem = read(flag, path)?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!("{flag} {}: holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

impl TlsArgs {
    /// An agent that answers every status itself (no status is turned into an error).
    ///
    /// # Errors
    /// A file that cannot be read or holds no certificate or key, naming the flag.
    pub fn agent(&self) -> Result<ureq::Agent, String> {
        let roots = match &self.ca_file {
            Some(p) => RootCerts::new_with_certs(&certificates("--ca-file", p)?),
            None => RootCerts::PlatformVerifier,
        };
        let mut tls = TlsConfig::builder().provider(TlsProvider::NativeTls).root_certs(roots);
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let chain = certificates("--client-cert", cert)?;
            let key = PrivateKey::from_pem(&read("--client-key", key)?).map_err(|e| format!("--client-key {}: not a PEM private key: {e}", key.display()))?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        let config = ureq::Agent::config_builder().tls_config(tls.build()).http_status_as_error(false).build();
        Ok(ureq::Agent::new_with_config(config))
    }
}

/// A transport error with a hint for the TLS mistakes users make.
#[must_use]
pub fn explain(base: &str, tls: &TlsArgs, e: &ureq::Error) -> String {
    let text = e.to_string();
    // With TLS 1.3 a server that wants a client certificate says so after the handshake, and
    // the client only sees the connection reset.
    let no_client_cert = base.starts_with("https://") && tls.client_cert.is_none() && (text.contains("reset by peer") || text.contains("certificate required"));
    let hint = if no_client_cert {
        " (the gate may require a client certificate: pass --client-cert and --client-key)"
    } else if text.contains("certificate verify failed") || text.contains("unable to get local issuer") || text.contains("self-signed") || text.contains("self signed") {
        " (the gate's certificate is not trusted: pass --ca-file with its CA, or set CONTRACT_GATE_CA_FILE)"
    } else if base.starts_with("http://") && (text.contains("reset by peer") || text.contains("connection closed")) {
        " (if the gate serves https on this port, write https://)"
    } else if text.contains("wrong version number") || text.contains("packet length too long") {
        " (the server does not speak TLS here: use http://, or check the port)"
    } else if text.contains("certificate required") || text.contains("handshake failure") || text.contains("alert bad certificate") || text.contains("alert unknown ca") {
        // A certificate was given (the first branch took the case without one).
        " (the gate refused the client certificate: check --client-cert and --client-key against the CA it trusts)"
    } else {
        ""
    };
    format!("{base}: {text}{hint}")
}

/// Bytes left as they are in a URL path segment: RFC 3986's unreserved characters. Everything
/// else (`/`, `:`, `%`, spaces, non-ASCII) is percent-encoded, so a contract id like
/// `urn:dc/x` or a binding name stays one segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// One URL path segment, percent-encoded.
#[must_use]
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod segment_tests {
    #[test]
    fn path_segments_are_encoded() {
        for (raw, want) in [("urn:dc/x y", "urn%3Adc%2Fx%20y"), ("1.2.0-rc.1", "1.2.0-rc.1"), ("a_b~c", "a_b~c"), ("50%", "50%25"), ("é", "%C3%A9"), ("../x", "..%2Fx")] {
            assert_eq!(super::segment(raw), want, "{raw}");
        }
    }
}
