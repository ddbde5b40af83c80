//! `contracts push|list|show|diff|deprecate|promote|shadow`: the registry API (and a gate's
//! shadow reports) from the command line.
//!
//! Exit codes scripts can rely on: 0 done (registered, unchanged, found); 1 refused by the
//! registry (400 invalid, 401 no or wrong token, 404 unknown, 409 breaking or conflicting
//! version, 413 too large); 2 usage, transport or server error.

use super::output::{self, OutputArgs, OutputError, OutputFormat, Verb};
use serde_json::Value;
use std::fmt::Write as _;

/// Where the registry is and how to talk to it.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Base URL of the registry (a gate or a registry-only process; `--gate` is the same).
    #[arg(long, alias = "gate", env = "CONTRACT_GATE_REGISTRY", hide_env_values = true, default_value = "http://127.0.0.1:8080")]
    pub registry: String,
    /// Bearer token for writes.
    #[arg(long, env = "CONTRACT_GATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Report format and destination.
    #[command(flatten)]
    pub output: OutputArgs,
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
        /// As a shadow version.
        shadow: bool,
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
    /// Make a shadow version live.
    Promote {
        /// Contract id.
        id: String,
        /// Version.
        version: String,
    },
    /// A gate's shadow reports.
    Shadows,
}

impl Call {
    /// The verb, for the formats it writes.
    #[must_use]
    pub const fn verb(&self) -> Verb {
        match self {
            Self::Push { .. } => output::PUSH,
            Self::List { .. } => output::LIST,
            Self::Show { .. } => output::SHOW,
            Self::Diff { .. } => output::DIFF,
            Self::Deprecate { .. } => output::DEPRECATE,
            Self::Promote { .. } => output::PROMOTE,
            Self::Shadows => output::SHADOWS,
        }
    }
}

/// The registry's answer to report, what to say on stderr, and the exit code.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (0, 1 or 2).
    pub code: u8,
    /// The answer to report in the asked format: every answer for a machine format, only an
    /// acceptance for the table (a refusal is explained on stderr instead).
    pub answer: Option<Value>,
    /// For stderr.
    pub stderr: String,
}

fn fail(code: u8, msg: impl Into<String>) -> Outcome {
    Outcome { code, answer: None, stderr: format!("contract-gate: {}\n", msg.into()) }
}

/// Runs one call and reports it where `--output`/`--output-file` say; returns the exit code.
///
/// # Errors
/// A format the verb does not write, or the report unwritable.
pub fn main(call: &Call, args: &RegistryArgs) -> Result<u8, OutputError> {
    let sink = args.output.resolve(&call.verb(), None)?;
    let out = run(call, args, sink.format);
    if let Some(answer) = &out.answer {
        sink.write(|f| render(call, answer, f))?;
    }
    eprint!("{}", out.stderr);
    Ok(out.code)
}

/// An answer of the registry in `format`.
///
/// # Errors
/// The JUnit serializer's message.
pub fn render(call: &Call, answer: &Value, format: OutputFormat) -> Result<String, String> {
    match format {
        OutputFormat::Table => Ok(table(call, answer)),
        OutputFormat::Json => output::json(answer),
        OutputFormat::Junit => output::junit(&super::diff_junit::report(answer)),
    }
}

/// Percent-encodes one URL path segment (or query value).
fn seg(s: &str) -> String {
    super::http_client::segment(s)
}

/// Runs one call; `format` decides whether a refusal is reported or explained on stderr.
#[must_use]
pub fn run(call: &Call, args: &RegistryArgs, format: OutputFormat) -> Outcome {
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
        Call::Push { file, dry_run, shadow } => {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => return fail(2, format!("cannot read {}: {e}", file.display())),
            };
            let query: Vec<&str> = [(*dry_run, "dryRun=true"), (*shadow, "shadow=true")].into_iter().filter(|(on, _)| *on).map(|(_, q)| q).collect();
            let url = format!("{base}/v1/contracts{}{}", if query.is_empty() { "" } else { "?" }, query.join("&"));
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
        Call::Promote { id, version } => {
            // Only a shadow version is promoted: activating a live version is another verb.
            match get(&format!("/v1/contracts/{}/versions/{}", seg(id), seg(version))).map(|mut r| (r.status().as_u16(), r.body_mut().read_json::<Value>().unwrap_or(Value::Null))) {
                Ok((200, v)) if v.get("shadow").and_then(Value::as_bool) != Some(true) => return fail(1, format!("{id} {version} is not a shadow version (status {})", s(&v, "status"))),
                _ => {}
            }
            auth(agent.post(format!("{base}/v1/contracts/{}/versions/{}/activate", seg(id), seg(version))).config().http_status_as_error(false).build()).header("content-type", "application/json").send("{}")
        }
        Call::Shadows => get("/v1/shadows"),
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
    match (code, format) {
        (0, _) => Outcome { code, answer: Some(body), stderr: String::new() },
        // A refusal is no diff to report as test cases: explained on stderr, like the table's.
        (_, OutputFormat::Table | OutputFormat::Junit) => Outcome { code, answer: None, stderr: refusal_text(status, &body) },
        // A JSON reader gets the refusal as the registry wrote it.
        _ => Outcome { code, answer: Some(body), stderr: format!("contract-gate: HTTP {status}\n") },
    }
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

/// What each binding of the gate runs (`flights→1.1.0, audit→2.0.0`); `-` when none does or
/// the registry has no bindings (registry-only, or an older gate).
fn bindings_cell(contract: &Value) -> String {
    let runs: Vec<String> = contract.get("bindings").and_then(Value::as_array).into_iter().flatten().map(|b| format!("{}→{}", s(b, "binding"), s(b, "version"))).collect();
    if runs.is_empty() {
        "-".into()
    } else {
        runs.join(", ")
    }
}

fn table(call: &Call, body: &Value) -> String {
    let mut out = String::new();
    match call {
        Call::Push { .. } => {
            let (id, version) = (s(body, "id"), s(body, "version"));
            let created = body.get("created").and_then(Value::as_bool).unwrap_or(false);
            let dry = body.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
            let flag = |k: &str| body.get(k).and_then(Value::as_bool).unwrap_or(false);
            let what = match (dry, created, flag("promoted"), flag("shadow")) {
                (true, _, _, true) => "would register as a shadow version",
                (true, ..) => "would register",
                (false, true, true, _) => "promoted a shadow version",
                (false, true, false, true) => "registered as a shadow version (evaluated beside the active one, routing nothing)",
                (false, true, false, false) => "registered",
                (false, false, ..) => "already registered (identical)",
            };
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
            let _ = writeln!(out, "{:<32} {:<12} {:<12} {:>8}  {:<24} NAME", "ID", "LATEST", "ACTIVE", "VERSIONS", "BINDINGS");
            for c in body.get("contracts").and_then(Value::as_array).into_iter().flatten() {
                let _ = writeln!(out, "{:<32} {:<12} {:<12} {:>8}  {:<24} {}", s(c, "id"), s(c, "latest"), s(c, "latestActive"), c.get("versions").and_then(Value::as_u64).unwrap_or(0), bindings_cell(c), s(c, "name"));
            }
            // Shadow versions are never `latest`; say which are being evaluated.
            for c in body.get("contracts").and_then(Value::as_array).into_iter().flatten() {
                let shadows: Vec<&str> = c.get("shadows").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
                if !shadows.is_empty() {
                    let _ = writeln!(out, "shadow: {} {} (evaluated beside the active version: contracts shadow --gate URL)", s(c, "id"), shadows.join(", "));
                }
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
        Call::Promote { .. } => {
            let _ = writeln!(out, "{} {}: promoted, {}; bindings in its range move to it", s(body, "id"), s(body, "version"), s(body, "status"));
        }
        Call::Shadows => shadow_table(&mut out, body),
    }
    out
}

fn n(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// A gate's shadow reports (`GET /v1/shadows`), for people.
fn shadow_table(out: &mut String, body: &Value) {
    let shadows = body.get("shadows").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    for r in shadows {
        let a = r.get("agreement").cloned().unwrap_or(Value::Null);
        let _ = writeln!(out, "{}: shadow {} {} beside active {} since {}", s(r, "binding"), s(r, "contract"), s(r, "shadowVersion"), s(r, "activeVersion"), s(r, "since"));
        let _ = writeln!(out, "  records     {} judged, {} skipped (queue full)", n(r, "records"), n(r, "skipped"));
        let _ = writeln!(out, "  verdicts    both valid {}, both invalid {}, would quarantine {}, would pass {}", n(&a, "bothValid"), n(&a, "bothInvalid"), n(&a, "wouldQuarantine"), n(&a, "wouldPass"));
        let routes = r.get("routes").cloned().unwrap_or(Value::Null);
        let _ = writeln!(out, "  routes      validated {}, quarantine {}, degraded {}, held {}, stale {}, paused {}", n(&routes, "validated"), n(&routes, "quarantine"), n(&routes, "degraded"), n(&routes, "held"), n(&routes, "stale"), n(&routes, "paused"));
        let tripped = match r.get("firstBreach").and_then(Value::as_str) {
            Some(b) => format!("would have tripped ({b})"),
            None => "would not have tripped".into(),
        };
        let transitions = r.get("transitions").and_then(Value::as_array).map_or(0, Vec::len);
        let _ = writeln!(out, "  breaker     {}, now {}, {transitions} transition{}", tripped, s(r, "mode"), if transitions == 1 { "" } else { "s" });
        if r.get("promotionMovesBinding").and_then(Value::as_bool) == Some(false) {
            let _ = writeln!(out, "  note        outside the binding's version range: promoting it does not move this binding");
        }
        if let Some(rules) = r.get("quarantineByRule").and_then(Value::as_object).filter(|m| !m.is_empty()) {
            let _ = writeln!(out, "  would quarantine, by rule:");
            for (rule, count) in rules {
                let _ = writeln!(out, "    {rule:<40} {}", count.as_u64().unwrap_or(0));
            }
        }
    }
    for w in body.get("withoutShadow").and_then(Value::as_array).into_iter().flatten() {
        let _ = writeln!(out, "{}: no shadow version of {} (active {})", s(w, "binding"), s(w, "contract"), s(w, "activeVersion"));
    }
    if !shadows.is_empty() {
        let _ = writeln!(out, "(this replica's records only; each replica reports its share)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_shows_what_each_binding_runs() {
        let body = serde_json::json!({"contracts": [
            {"id": "flights", "name": "Flights", "latest": "2.0.0", "latestActive": "2.0.0", "versions": 3,
             "bindings": [{"binding": "flights", "contract": "flights", "version": "1.1.0", "range": "^1"}, {"binding": "audit", "contract": "flights", "version": "2.0.0"}]},
            {"id": "orders", "latest": "1.0.0", "latestActive": "1.0.0", "versions": 2, "bindings": [], "shadows": ["2.0.0"]},
            {"id": "old-gate", "latest": "1.0.0", "latestActive": "1.0.0", "versions": 1},
        ]});
        let text = table(&Call::List { id: None }, &body);
        assert!(text.ends_with("shadow: orders 2.0.0 (evaluated beside the active version: contracts shadow --gate URL)\n"), "{text}");
        let lines: Vec<&str> = text.lines().take(4).collect();
        assert!(lines[0].contains("VERSIONS  BINDINGS"), "{text}");
        assert!(lines[1].contains("flights→1.1.0, audit→2.0.0") && lines[1].ends_with("Flights"), "{text}");
        for line in &lines[2..] {
            assert!(line.split_whitespace().nth(4) == Some("-"), "{text}");
        }
    }

    /// A registry answer per call, as the API writes them.
    fn answers() -> Vec<(&'static str, Call, Value)> {
        let diff = serde_json::json!({
            "id": "orders", "from": "1.0.0", "to": "1.1.0", "breaking": true, "majorBump": false, "compatible": false,
            "changes": [
                { "path": "orders.status.quality[status_known].validValues", "kind": "validValues", "area": "quality", "breaking": true, "message": "valid values removed: \"shipped\"", "from": ["new", "paid", "shipped"], "to": ["new", "paid"] },
                { "path": "orders.note", "kind": "fieldAdded", "area": "properties", "breaking": false, "message": "optional field added <note & more>" }
            ]
        });
        vec![
            ("push", Call::Push { file: "orders.yaml".into(), dry_run: false, shadow: false }, serde_json::json!({ "id": "orders", "version": "1.1.0", "created": true, "comparedWith": "1.0.0", "changes": [diff["changes"][1].clone()], "notices": [{ "path": "slaProperties[1]", "message": "not enforced" }] })),
            ("list", Call::List { id: None }, serde_json::json!({ "contracts": [{ "id": "orders", "latest": "1.1.0", "latestActive": "1.1.0", "versions": 2, "name": "Orders" }] })),
            ("list-versions", Call::List { id: Some("orders".into()) }, serde_json::json!({ "versions": [{ "version": "1.0.0", "status": "deprecated", "registeredAt": "2024-05-01T10:00:00Z", "statusReason": "use 1.1.0" }, { "version": "1.1.0", "status": "active", "registeredAt": "2024-05-02T10:00:00Z" }] })),
            ("show", Call::Show { id: "orders".into(), version: None }, serde_json::json!({ "id": "orders", "version": "1.1.0", "status": "active", "registeredAt": "2024-05-02T10:00:00Z", "document": "id: orders\nversion: 1.1.0\n" })),
            ("diff", Call::Diff { id: "orders".into(), from: None, to: None }, diff),
            ("deprecate", Call::Deprecate { id: "orders".into(), version: "1.0.0".into(), reason: None }, serde_json::json!({ "id": "orders", "version": "1.0.0", "status": "deprecated" })),
            ("promote", Call::Promote { id: "orders".into(), version: "1.1.0".into() }, serde_json::json!({ "id": "orders", "version": "1.1.0", "status": "active", "shadow": false })),
            ("shadow", Call::Shadows, serde_json::json!({
                "shadows": [{
                    "binding": "orders", "contract": "orders", "shadowVersion": "1.1.0", "activeVersion": "1.0.0", "since": "2026-12-06T20:00:00.000Z",
                    "records": 1000, "skipped": 0,
                    "agreement": { "bothValid": 940, "bothInvalid": 10, "wouldQuarantine": 50, "wouldPass": 0 },
                    "quarantineByRule": { "orders.status.quality[status_known]": 50, "orders.id.required": 10 },
                    "routes": { "validated": 700, "quarantine": 60, "degraded": 0, "held": 240, "stale": 0, "paused": 0, "probes": 20, "unresolved": 0 },
                    "transitions": [{ "at_ms": 0, "at": "2026-12-06T20:01:00.000Z", "from": "closed", "to": "open", "reason": "breach" }],
                    "mode": "open", "wouldHaveTripped": true, "firstBreach": "breach status_known 5.0 % > 3 % over 1000 records",
                    "buckets": [], "scope": "this replica"
                }],
                "withoutShadow": [{ "binding": "audit", "contract": "audit", "activeVersion": "2.0.0" }]
            })),
        ]
    }

    #[test]
    fn registry_outputs_match_their_golden_files() {
        use crate::cli::output::golden;
        for (name, call, answer) in answers() {
            for format in call.verb().formats {
                let ext = match format {
                    OutputFormat::Table => "txt",
                    OutputFormat::Json => "json",
                    OutputFormat::Junit => "xml",
                };
                golden::assert(&format!("contracts-{name}.{ext}"), &render(&call, &answer, *format).expect("renders"));
            }
        }
    }

    #[test]
    fn only_diff_writes_junit_and_it_fails_the_breaking_changes() {
        let formats: Vec<(&str, bool)> = answers().iter().map(|(n, c, _)| (*n, c.verb().formats.contains(&OutputFormat::Junit))).collect();
        assert_eq!(formats, [("push", false), ("list", false), ("list-versions", false), ("show", false), ("diff", true), ("deprecate", false), ("promote", false), ("shadow", false)]);
        let (_, call, answer) = answers().swap_remove(4);
        let xml = render(&call, &answer, OutputFormat::Junit).expect("renders");
        assert!(xml.contains("tests=\"2\"") && xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("breaking validValues change at orders.status.quality[status_known].validValues"), "{xml}");
    }

    #[test]
    fn unreachable_registry_is_exit_2() {
        let args = RegistryArgs { registry: "http://127.0.0.1:9".into(), token: None, output: OutputArgs::default(), tls: crate::cli::http_client::TlsArgs::default() };
        let out = run(&Call::List { id: None }, &args, OutputFormat::Table);
        assert_eq!(out.code, 2, "{}", out.stderr);
    }
}
