//! A first connection before anything else talks to Kafka, so that a secured cluster the gate
//! cannot enter stops startup with the setting to fix, instead of every client retrying
//! forever with librdkafka's message in the logs only.

use crate::config::{ConfigError, GateConfig};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Remembers what librdkafka reported while connecting.
#[derive(Debug, Default)]
struct Capture {
    reasons: Mutex<Vec<String>>,
}

impl Capture {
    fn keep(&self, reason: &str) {
        if let Ok(mut r) = self.reasons.lock() {
            r.push(reason.to_string());
        }
    }
}

impl ClientContext for Capture {
    // Error events reach `error` only when the client is polled, and a poll serves one queued
    // event at a time; logs arrive at once from librdkafka's threads, and a failed connection
    // is logged with the same reason, so both are kept.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(?level, fac, log_message, "kafka preflight");
        if (level as i32) <= (rdkafka::config::RDKafkaLogLevel::Warning as i32) {
            self.keep(log_message);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "kafka preflight");
        self.keep(reason);
    }
}

impl ConsumerContext for Capture {}

/// The setting that a librdkafka connection error points at, and what to do, for the errors
/// a secured cluster gives; `None` for others (a broker that is down is not a setting).
#[must_use]
pub fn diagnose(reason: &str) -> Option<(&'static str, &'static str)> {
    let r = reason.to_ascii_lowercase();
    let table: [(&[&str], &str, &str); 8] = [
        // OAUTHBEARER with OIDC: librdkafka quotes the token endpoint's answer and its HTTP
        // status; a refused client is 401 (or 400 with `invalid_client`, RFC 6749 5.2).
        (&["invalid_client", "unauthorized_client", "(401)"], "kafka.properties.sasl.oauthbearer.client.secret", "the OIDC token endpoint refused the client: check sasl.oauthbearer.client.id and sasl.oauthbearer.client.secret"),
        (&["failed to retrieve oidc token", "failed to retrieve jwt token", "failed to acquire sasl oauthbearer token"], "kafka.properties.sasl.oauthbearer.token.endpoint.url", "no token from the OIDC token endpoint: check sasl.oauthbearer.token.endpoint.url (and https.ca.location for a private CA)"),
        (&["sasl authentication error", "authentication failed"], "kafka.properties.sasl.password", "the broker refused the SASL credentials: check sasl.username, sasl.password and sasl.mechanism"),
        (&["certificate verify failed", "could not be verified"], "kafka.properties.ssl.ca.location", "the broker's certificate is not trusted: point ssl.ca.location at the CA that signed it"),
        (&["certificate required", "alert bad certificate", "alert unknown ca"], "kafka.properties.ssl.certificate.location", "the broker wants a client certificate it trusts: set ssl.certificate.location and ssl.key.location"),
        (&["connecting to a ssl listener", "incorrect security.protocol"], "kafka.properties.security.protocol", "the port speaks another protocol than security.protocol: use ssl or sasl_ssl for a TLS listener"),
        (&["wrong version number", "packet length too long", "unexpected eof while reading"], "kafka.properties.security.protocol", "TLS was attempted on a port that does not speak it: use plaintext or sasl_plaintext, or the TLS port"),
        (&["unsupported sasl mechanism", "sasl handshake failed"], "kafka.properties.sasl.mechanism", "the broker does not offer this SASL mechanism on this listener"),
    ];
    table.iter().find(|(needles, _, _)| needles.iter().any(|n| r.contains(n))).map(|(_, field, hint)| (*field, *hint))
}

/// Connects with the common client settings and asks for metadata, for at most `limit` (the
/// gate cannot start without metadata: it lists topics next). A refusal that names a setting
/// (authentication, trust, protocol) fails at once.
///
/// # Errors
/// [`ConfigError::Invalid`] naming the setting, with librdkafka's reason.
pub fn check(cfg: &GateConfig, limit: Duration) -> Result<(), ConfigError> {
    let consumer: BaseConsumer<Capture> = match super::client_config(cfg).create_with_context(Capture::default()) {
        Ok(c) => c,
        // A property librdkafka refuses: its message names it.
        Err(e) => return Err(ConfigError::Invalid { field: "kafka.properties".into(), message: e.to_string() }),
    };
    let started = Instant::now();
    while started.elapsed() < limit {
        if consumer.fetch_metadata(None, Duration::from_millis(500)).is_ok() {
            return Ok(());
        }
        let _ = consumer.poll(Duration::ZERO);
        let reasons = consumer.context().reasons.lock().map(|r| r.clone()).unwrap_or_default();
        if let Some((reason, (field, hint))) = reasons.iter().find_map(|r| diagnose(r).map(|d| (r, d))) {
            return Err(ConfigError::Invalid { field: field.into(), message: format!("{hint} (librdkafka: {reason})") });
        }
    }
    let reasons = consumer.context().reasons.lock().map(|r| r.clone()).unwrap_or_default();
    Err(silent(cfg, &reasons, limit))
}

/// No metadata within the limit and no reason that names a setting. A plain client on a TLS
/// listener ends here: the listener waits for a TLS handshake and librdkafka for an answer,
/// and neither says why.
fn silent(cfg: &GateConfig, reasons: &[String], limit: Duration) -> ConfigError {
    let protocol = cfg.kafka.properties.get("security.protocol").map_or_else(|| "plaintext".to_string(), |p| p.to_ascii_lowercase());
    let refused = reasons.iter().any(|r| {
        let r = r.to_ascii_lowercase();
        r.contains("connection refused") || r.contains("failed to resolve") || r.contains("name or service not known")
    });
    let last = reasons.last().map_or_else(String::new, |r| format!(" (librdkafka: {r})"));
    if !refused && !protocol.ends_with("ssl") {
        return ConfigError::Invalid {
            field: "kafka.properties.security.protocol".into(),
            message: format!("no Kafka answer from {} within {limit:?} over {protocol}: if this port is a TLS listener, set security.protocol to ssl or sasl_ssl{last}", cfg.kafka.brokers),
        };
    }
    ConfigError::Invalid { field: "kafka.brokers".into(), message: format!("no Kafka answer from {} within {limit:?} over {protocol}{last}", cfg.kafka.brokers) }
}

#[cfg(test)]
mod tests {
    use super::diagnose;

    #[test]
    fn librdkafka_reasons_name_the_setting() {
        let cases = [
            ("sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 4ms in state AUTH_REQ)", Some("kafka.properties.sasl.password")),
            ("ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured", Some("kafka.properties.ssl.ca.location")),
            ("ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A00045C:SSL routines::tlsv13 alert certificate required", Some("kafka.properties.ssl.certificate.location")),
            ("127.0.0.1:9093/bootstrap: Disconnected while requesting ApiVersion: might be caused by incorrect security.protocol configuration (connecting to a SSL listener?) or broker version is < 0.10", Some("kafka.properties.security.protocol")),
            ("ssl://127.0.0.1:9092/bootstrap: SSL handshake failed: error:0A00010B:SSL routines::wrong version number", Some("kafka.properties.security.protocol")),
            ("127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused", None),
            ("Failed to acquire SASL OAUTHBEARER token: {\"error\": \"invalid_client\", \"error_description\": \"unknown client or wrong secret\"}", Some("kafka.properties.sasl.oauthbearer.client.secret")),
            ("Failed to retrieve JWT token from \"https://idp.example/token\": Unauthorized (401)", Some("kafka.properties.sasl.oauthbearer.client.secret")),
            ("Failed to retrieve JWT token from \"https://idp.example/token\": Could not resolve host: idp.example (-1)", Some("kafka.properties.sasl.oauthbearer.token.endpoint.url")),
            ("[thrd:background]: Failed to retrieve OIDC token from \"https://idp.example/token\": Failed to connect to idp.example port 443 (-1)", Some("kafka.properties.sasl.oauthbearer.token.endpoint.url")),
            ("1/1 brokers are down", None),
        ];
        for (reason, want) in cases {
            assert_eq!(diagnose(reason).map(|(f, _)| f), want, "{reason}");
        }
    }
}
