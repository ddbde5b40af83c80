//! `contracts push|list|show|diff|deprecate`: the registry API from the command line.
//!
//! Exit codes scripts can rely on: 0 done (registered, unchanged, found); 1 refused by the
//! registry (400 invalid, 401 no or wrong token, 404 unknown, 409 breaking or conflicting
//! version, 413 too large); 2 usage, transport or server error.

use super::ReportFormat;
use serde_json::Value;
use std::fmt::Write as _;

/// Where the registry is and how to talk to it.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Base URL of the registry (a gate or a registry-only process).
    #[arg(long, env = "CONTRACT_GATE_REGISTRY", hide_env_values = true, default_value = "http://127.0.0.1:8080")]
    pub registry: String,
    /// Bearer token for writes.
    #[arg(long, env = "CONTRACT_GATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub output: ReportFormat,
    /// TLS options for an https registry URL.
    #[command(flatten)]
    pub tls: super::http_client::TlsArgs,
}

/// A registry call by the CLI.
#[derive(Debug, Clone)]
pub enum Call {
    /// Register a file's contract.
    Push {
        /// File.
        file: std::path::PathBuf,
        /// Check only.
        dry_run: bool,
    },
    /// List contracts, or one contract's versions.
    List {
        /// Contract id.
        id: Option<String>,
    },
    /// One version's document.
    Show {
        /// Contract id.
        id: String,
        /// Version (default latest).
        version: Option<String>,
    },
    /// Diff of two versions.
    Diff {
        /// Contract id.
        id: String,
        /// Old version.
        from: Option<String>,
        /// New version.
        to: Option<String>,
    },
    /// Deprecate a version.
    Deprecate {
        /// Contract id.
        id: String,
        /// Version.
        version: String,
        /// Why.
        reason: Option<String>,
    },
}

/// What to print and the exit code.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (0, 1 or 2).
    pub code: u8,
    /// For stdout.
    pub stdout: String,
    /// For stderr.
    pub stderr: String,
}

fn fail(code: u8, msg: impl Into<String>) -> Outcome {
    Outcome { code, stdout: String::new(), stderr: format!("contract-gate: {}\n", msg.into()) }
}

/// Percent-encodes one URL path segment.
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Runs one call.
#[must_use]
pub fn run(call: &Call, args: &RegistryArgs) -> Outcome {
    let base = args.registry.trim_end_matches('/');
    let agent = match args.tls.agent() {
        Ok(a) => a,
        Err(e) => return fail(2, e),
    };
    let get = |path: &str| agent.get(format!("{base}{path}")).config().http_status_as_error(false).build().call();
    let auth = |b: ureq::RequestBuilder<ureq::typestate::WithBody>| match &args.token {
        Some(t) => b.header("authorization", &format!("Bearer {t}")),
        None => b,
    };
    let resp = match call {
        Call::Push { file, dry_run } => {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => return fail(2, format!("cannot read {}: {e}", file.display())),
            };
            let url = format!("{base}/v1/contracts{}", if *dry_run { "?dryRun=true" } else { "" });
            auth(agent.post(url).config().http_status_as_error(false).build()).header("content-type", "application/yaml").send(text.as_str())
        }
        Call::List { id: None } => get("/v1/contracts"),
        Call::List { id: Some(id) } => get(&format!("/v1/contracts/{}/versions", seg(id))),
        Call::Show { id, version } => get(&format!("/v1/contracts/{}/versions/{}", seg(id), seg(version.as_deref().unwrap_or("latest")))),
        Call::Diff { id, from, to } => {
            let mut q = Vec::new();
            if let Some(f) = from {
                q.push(format!("from={}", seg(f)));
            }
            if let Some(t) = to {
                q.push(format!("to={}", seg(t)));
            }
            get(&format!("/v1/contracts/{}/diff{}{}", seg(id), if q.is_empty() { "" } else { "?" }, q.join("&")))
        }
        Call::Deprecate { id, version, reason } => {
            let body = serde_json::json!({ "reason": reason }).to_string();
            auth(agent.post(format!("{base}/v1/contracts/{}/versions/{}/deprecate", seg(id), seg(version))).config().http_status_as_error(false).build()).header("content-type", "application/json").send(body.as_str())
        }
    };
    let mut resp = match resp {
        Ok(r) => r,
        Err(e) => return fail(2, super::http_client::explain(base, &args.tls, &e)),
    };
    let status = resp.status().as_u16();
    let body: Value = match resp.body_mut().read_json() {
        Ok(v) => v,
        Err(e) => return fail(2, format!("{base}: HTTP {status}, unreadable answer: {e}")),
    };
    let code = match status {
        200..=299 => 0,
        400..=499 => 1,
        _ => 2,
    };
    if args.output == ReportFormat::Json {
        let text = format!("{}\n", serde_json::to_string_pretty(&body).unwrap_or_default());
        return if code == 0 { Outcome { code, stdout: text, stderr: String::new() } } else { Outcome { code, stdout: text, stderr: format!("contract-gate: HTTP {status}\n") } };
    }
    if code != 0 {
        return Outcome { code, stdout: String::new(), stderr: refusal_text(status, &body) };
    }
    Outcome { code, stdout: table(call, &body), stderr: String::new() }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("-")
}

fn change_lines(out: &mut String, changes: &[Value]) {
    for c in changes {
        let mark = if c.get("breaking").and_then(Value::as_bool).unwrap_or(false) { "BREAKING" } else { "ok" };
        let _ = writeln!(out, "  {mark:<8}  {:<10}  {}: {}", s(c, "kind"), s(c, "path"), s(c, "message"));
    }
}

fn refusal_text(status: u16, body: &Value) -> String {
    let mut out = format!("contract-gate: refused (HTTP {status}): {}\n", s(body, "error"));
    if let Some(problems) = body.get("problems").and_then(Value::as_array) {
        for p in problems {
            let line = p.get("line").and_then(Value::as_u64).map(|l| format!("line {l}: ")).unwrap_or_default();
            let path = s(p, "path");
            let _ = writeln!(out, "  {line}{}{}", if path.is_empty() || path == "-" { String::new() } else { format!("{path}: ") }, s(p, "message"));
        }
    }
    if let Some(changes) = body.get("changes").and_then(Value::as_array) {
        change_lines(&mut out, changes);
    }
    out
}

fn table(call: &Call, body: &Value) -> String {
    let mut out = String::new();
    match call {
        Call::Push { .. } => {
            let (id, version) = (s(body, "id"), s(body, "version"));
            let created = body.get("created").and_then(Value::as_bool).unwrap_or(false);
            let dry = body.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
            let what = if dry { "would register" } else if created { "registered" } else { "already registered (identical)" };
            let _ = write!(out, "{what}: {id} {version}");
            let changes = body.get("changes").and_then(Value::as_array).cloned().unwrap_or_default();
            match body.get("comparedWith").and_then(Value::as_str) {
                Some(prev) => {
                    let _ = writeln!(out, " (compared with {prev}: {} change{})", changes.len(), if changes.len() == 1 { "" } else { "s" });
                }
                None => out.push('\n'),
            }
            change_lines(&mut out, &changes);
            for n in body.get("notices").and_then(Value::as_array).into_iter().flatten() {
                let _ = writeln!(out, "  note      {}: {}", s(n, "path"), s(n, "message"));
            }
        }
        Call::List { id: None } => {
            let _ = writeln!(out, "{:<32} {:<12} {:<12} {:>8}  NAME", "ID", "LATEST", "ACTIVE", "VERSIONS");
            for c in body.get("contracts").and_then(Value::as_array).into_iter().flatten() {
                let _ = writeln!(out, "{:<32} {:<12} {:<12} {:>8}  {}", s(c, "id"), s(c, "latest"), s(c, "latestActive"), c.get("versions").and_then(Value::as_u64).unwrap_or(0), s(c, "name"));
            }
        }
        Call::List { id: Some(_) } => {
            let _ = writeln!(out, "{:<14} {:<11} {:<26} REASON", "VERSION", "STATUS", "REGISTERED");
            for v in body.get("versions").and_then(Value::as_array).into_iter().flatten() {
                let reason = v.get("statusReason").and_then(Value::as_str).unwrap_or("");
                let _ = writeln!(out, "{:<14} {:<11} {:<26} {reason}", s(v, "version"), s(v, "status"), s(v, "registeredAt"));
            }
        }
        Call::Show { .. } => {
            let _ = writeln!(out, "# {} {} ({}, registered {})", s(body, "id"), s(body, "version"), s(body, "status"), s(body, "registeredAt"));
            out.push_str(s(body, "document"));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        Call::Diff { .. } => {
            let breaking = body.get("breaking").and_then(Value::as_bool).unwrap_or(false);
            let major = body.get("majorBump").and_then(Value::as_bool).unwrap_or(false);
            let verdict = match (breaking, major) {
                (false, _) => "compatible",
                (true, true) => "breaking (major version bump)",
                (true, false) => "breaking WITHOUT a major version bump",
            };
            let _ = writeln!(out, "{} {} -> {}: {verdict}", s(body, "id"), s(body, "from"), s(body, "to"));
            change_lines(&mut out, body.get("changes").and_then(Value::as_array).map_or(&[][..], Vec::as_slice));
        }
        Call::Deprecate { .. } => {
            let _ = writeln!(out, "{} {}: {}", s(body, "id"), s(body, "version"), s(body, "status"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("urn:dc/x y"), "urn%3Adc%2Fx%20y");
        assert_eq!(seg("1.2.0-rc.1"), "1.2.0-rc.1");
    }

    #[test]
    fn unreachable_registry_is_exit_2() {
        let args = RegistryArgs { registry: "http://127.0.0.1:9".into(), token: None, output: ReportFormat::Table, tls: crate::cli::http_client::TlsArgs::default() };
        let out = run(&Call::List { id: None }, &args);
        assert_eq!(out.code, 2, "{}", out.stderr);
    }
}
