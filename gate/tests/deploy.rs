//! The deployment files stay consistent with the gate: the Grafana dashboard queries only
//! metrics (and labels) the gate emits, the compose and Kubernetes configs load as gate
//! configs, the probes hit the gate's real endpoints, and the copies of the contract match.
//! (`docker-compose config -q` itself runs in scripts/test.sh.)

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("YAML")
}

/// Metric names and their label keys, from the `counter!` / `gauge!` / `histogram!` calls in
/// the two modules that emit every metric (gate/src/serve/telemetry.rs, the sidecar's events;
/// registry/src/events.rs, the registry API's). Histograms add the `_sum` and `_count` series of their
/// exposition (and `_bucket`, should buckets be configured).
fn emitted() -> BTreeMap<String, BTreeSet<String>> {
    let src = read("gate/src/serve/telemetry.rs") + &read("registry/src/events.rs");
    let mut out = BTreeMap::new();
    for kind in ["counter!(", "gauge!(", "histogram!("] {
        for (i, _) in src.match_indices(kind) {
            let call = &src[i + kind.len()..];
            // Up to the matching paren (label values call `.to_string()`).
            let mut depth = 1;
            let end = call
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("closing paren");
            let call = &call[..end];
            let mut quoted = call.split('"').skip(1).step_by(2);
            let name = quoted.next().expect("metric name").to_string();
            // Label keys are the quoted strings followed by `=>`.
            let labels: BTreeSet<String> = call.split('"').collect::<Vec<_>>().windows(2).filter(|w| w[1].trim_start().starts_with("=>")).map(|w| w[0].to_string()).collect();
            let mut names = vec![name.clone()];
            if kind == "histogram!(" {
                names.extend(["_sum", "_count", "_bucket"].map(|s| format!("{name}{s}")));
            }
            for n in names {
                let mut l = labels.clone();
                if n == name && kind == "histogram!(" {
                    l.insert("quantile".into());
                }
                if n.ends_with("_bucket") {
                    l.insert("le".into());
                }
                out.entry(n).or_insert_with(BTreeSet::new).extend(l);
            }
        }
    }
    assert!(out.len() >= 10, "found too few metrics in telemetry.rs and events.rs: {out:?}");
    out
}

const KEYWORDS: [&str; 14] = ["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless", "inf", "nan", "atan2"];
/// Aggregation operators: the grouping clause may come between them and their parenthesis.
const AGGREGATIONS: [&str; 14] = ["sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"];

/// A selector or grouping found in a PromQL expression.
#[derive(Debug, Default)]
struct Refs {
    /// Metric names with the label keys matched on them.
    metrics: Vec<(String, Vec<String>)>,
    /// Label keys in `by (…)`, `without (…)`, `on (…)`, `ignoring (…)`.
    grouping: Vec<String>,
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// A small PromQL scanner: enough to find every metric name, the label keys of its matchers,
/// and grouping labels. Strings, ranges (`[5m]`) and numbers are skipped.
fn scan(expr: &str) -> Refs {
    // Grafana's `label_values(metric, label)` (variable queries) is not PromQL.
    if let Some(inner) = expr.trim().strip_prefix("label_values(").and_then(|r| r.strip_suffix(')')) {
        let (metric, label) = inner.rsplit_once(',').unwrap_or((inner, ""));
        let mut r = scan(metric);
        r.grouping.extend(Some(label.trim().to_string()).filter(|l| !l.is_empty()));
        return r;
    }
    let chars: Vec<char> = expr.chars().collect();
    let mut refs = Refs::default();
    let mut i = 0;
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    // Reads `{k="v", k2=~"v2"}` from chars[j] == '{'; returns the keys and the index after '}'.
    let matchers = |mut j: usize| -> (Vec<String>, usize) {
        let mut keys = Vec::new();
        j += 1;
        loop {
            j = skip_ws(j);
            match chars.get(j) {
                None => return (keys, j),
                Some('}') => return (keys, j + 1),
                Some(',') => j += 1,
                Some(_) => {
                    let start = j;
                    while j < chars.len() && is_ident_char(chars[j]) {
                        j += 1;
                    }
                    keys.push(chars[start..j].iter().collect());
                    while j < chars.len() && chars[j] != '"' {
                        j += 1;
                    }
                    j += 1;
                    while j < chars.len() && chars[j] != '"' {
                        if chars[j] == '\\' {
                            j += 1;
                        }
                        j += 1;
                    }
                    j += 1;
                }
            }
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '{' {
            // A selector without a name: `{__name__="x"}` is not used by the dashboard.
            let (_, j) = matchers(i);
            i = j;
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            let start = i;
            i += 1;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = skip_ws(i);
            if word.starts_with('$') {
                continue; // a Grafana variable
            }
            if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&word.as_str()) {
                if chars.get(next) == Some(&'(') {
                    let close = chars[next..].iter().position(|c| *c == ')').map_or(chars.len(), |p| next + p);
                    let inner: String = chars[next + 1..close].iter().collect();
                    refs.grouping.extend(inner.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
                    i = close + 1;
                }
                continue;
            }
            if KEYWORDS.contains(&word.to_lowercase().as_str()) || AGGREGATIONS.contains(&word.as_str()) || chars.get(next) == Some(&'(') {
                continue; // keyword or function call
            }
            let keys = if chars.get(next) == Some(&'{') {
                let (k, j) = matchers(next);
                i = j;
                k
            } else {
                Vec::new()
            };
            refs.metrics.push((word, keys));
        } else {
            i += 1;
        }
    }
    refs
}

#[test]
fn scanner_finds_metrics_labels_and_grouping() {
    let r = scan(r#"sum by (binding, route) (rate(contract_gate_records_total{binding=~"$binding", route!="x"}[1m])) / on(binding) group_left max(up) > 0.5"#);
    let names: Vec<&str> = r.metrics.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["contract_gate_records_total", "up"]);
    assert_eq!(r.metrics[0].1, ["binding", "route"]);
    assert_eq!(r.grouping, ["binding", "route", "binding"]);
    let lv = scan("label_values(contract_gate_records_total, binding)");
    assert_eq!(lv.metrics, [("contract_gate_records_total".to_string(), Vec::new())]);
    assert_eq!(lv.grouping, ["binding"]);
    let agg = scan(r#"max by (binding) (contract_gate_breaker_state_ratio{state="open"}) * 1"#);
    assert_eq!(agg.metrics, [("contract_gate_breaker_state_ratio".to_string(), vec!["state".to_string()])]);
    // A metric the gate does not have is caught.
    assert_eq!(scan("rate(kafka_consumergroup_lag[5m])").metrics[0].0, "kafka_consumergroup_lag");
}

/// Every PromQL expression in the dashboard, with where it is.
fn exprs(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let panels = dash["panels"].as_array().expect("panels");
    for p in panels {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((format!("panel {:?}", p["title"]), t["expr"].as_str().expect("every target has an expr").to_string()));
        }
    }
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        let q = v["query"]["query"].as_str().or_else(|| v["query"].as_str()).expect("variable query");
        out.push((format!("variable {:?}", v["name"]), q.to_string()));
    }
    for a in dash["annotations"]["list"].as_array().into_iter().flatten() {
        if let Some(e) = a["expr"].as_str() {
            out.push((format!("annotation {:?}", a["name"]), e.to_string()));
        }
    }
    out
}

#[test]
fn dashboard_queries_only_metrics_the_gate_emits() {
    let dash: Value = serde_json::from_str(&read("deploy/grafana/dashboards/contract-gate.json")).expect("dashboard is JSON");
    let metrics = emitted();
    let all = exprs(&dash);
    assert!(all.len() >= 10, "{all:?}");
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for (at, e) in &all {
        let r = scan(e);
        if r.metrics.is_empty() {
            problems.push(format!("{at}: no metric in {e:?}"));
        }
        let mut labels_here = BTreeSet::new();
        for (name, keys) in &r.metrics {
            let Some(labels) = metrics.get(name) else {
                problems.push(format!("{at}: {name} is not emitted by the gate (gate/src/serve/telemetry.rs, registry/src/events.rs)"));
                continue;
            };
            used.insert(name.trim_end_matches("_sum").trim_end_matches("_count").to_string());
            for k in keys {
                if !labels.contains(k) {
                    problems.push(format!("{at}: {name} has no label {k:?} (it has {labels:?})"));
                }
            }
            labels_here.extend(labels.iter().cloned());
        }
        for g in &r.grouping {
            if !labels_here.contains(g) {
                problems.push(format!("{at}: groups by {g:?}, which none of its metrics has"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The panels the operators asked for.
    for m in ["contract_gate_breaker_state_ratio", "contract_gate_records_total", "contract_gate_rule_violations_total", "contract_gate_source_idle_seconds", "contract_gate_flush_duration_seconds", "contract_gate_consumer_lag_records"] {
        assert!(used.contains(m), "no panel uses {m}");
    }
}

#[test]
fn dashboard_is_well_formed_and_uses_the_provisioned_datasource() {
    let dash: Value = serde_json::from_str(&read("deploy/grafana/dashboards/contract-gate.json")).expect("JSON");
    let ds = yaml(&read("deploy/grafana/provisioning/datasources/prometheus.yml"));
    let uid = ds["datasources"][0]["uid"].as_str().expect("datasource uid");
    assert_eq!(ds["datasources"][0]["url"], "http://prometheus:9090");
    assert_eq!(dash["uid"], "contract-gate");
    let mut ids = BTreeSet::new();
    for p in dash["panels"].as_array().expect("panels") {
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "duplicate panel id {}", p["id"]);
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "panel {} gridPos.{k}", p["title"]);
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], uid, "panel {}", p["title"]);
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        let mut refs = BTreeSet::new();
        for t in targets {
            assert!(refs.insert(t["refId"].as_str().expect("refId")), "panel {} repeats a refId", p["title"]);
        }
    }
    let timeline = dash["panels"].as_array().into_iter().flatten().find(|p| p["type"] == "state-timeline").expect("a breaker state timeline");
    let mapped: Vec<String> = timeline["fieldConfig"]["defaults"]["mappings"].as_array().into_iter().flatten().flat_map(|m| m["options"].as_object().into_iter().flatten().map(|(_, v)| v["text"].as_str().unwrap_or("").to_string())).collect();
    for m in breaker::Mode::ALL {
        assert!(mapped.contains(&m.as_str().replace('_', "-")), "state timeline maps no {m:?}: {mapped:?}");
    }
    let prov = yaml(&read("deploy/grafana/provisioning/dashboards/contract-gate.yml"));
    assert_eq!(prov["providers"][0]["options"]["path"], "/var/lib/grafana/dashboards");
}

#[test]
fn compose_wires_gate_prometheus_and_grafana() {
    let compose = yaml(&read("docker-compose.yml"));
    let services = compose["services"].as_object().expect("services");
    for s in ["kafka", "redis", "gate", "prometheus", "grafana", "flights-replay"] {
        assert!(services.contains_key(s), "service {s}");
    }
    // Every bind-mounted host path exists.
    for (name, s) in services {
        for v in s["volumes"].as_array().into_iter().flatten() {
            let host = v.as_str().expect("short volume syntax").split(':').next().expect("host path");
            if host.starts_with("./") {
                assert!(repo().join(host).exists(), "service {name} mounts missing {host}");
            }
        }
    }
    let gate = &services["gate"];
    let mounts: Vec<&str> = gate["volumes"].as_array().expect("gate volumes").iter().filter_map(Value::as_str).collect();
    assert!(mounts.contains(&"./deploy/gate.yaml:/etc/contract-gate/gate.yaml:ro"), "{mounts:?}");

    // The gate config the compose gate runs with.
    let mut cfg = gate::config::GateConfig::load(&repo().join("deploy/gate.yaml")).expect("deploy/gate.yaml loads");
    cfg.validate().expect("deploy/gate.yaml is valid");
    assert_eq!(cfg.kafka.brokers, "kafka:29092", "the compose Kafka's internal listener");
    assert_eq!(cfg.redis.as_ref().map(|r| r.url.as_str()), Some("redis://redis:6379"));
    let port = cfg.http.listen.rsplit(':').next().expect("port").to_string();
    assert!(gate["ports"].as_array().expect("ports").iter().any(|p| p.as_str().is_some_and(|p| p.ends_with(&format!(":{port}")))));
    assert!(!gate["environment"]["CONTRACT_GATE_TOKEN"].is_null(), "token variable passed through");
    cfg.contracts.dir = repo().join("examples/flights");
    let contract = contracts::parse(&read("examples/flights/flights.odcs.yaml")).expect("contract");
    assert!(cfg.bindings.iter().all(|b| b.contract == contract.id));

    let prom = yaml(&read("deploy/prometheus/prometheus.yml"));
    let target = prom["scrape_configs"][0]["static_configs"][0]["targets"][0].as_str().expect("target");
    assert_eq!(target, format!("gate:{port}"));
    assert_eq!(prom["scrape_configs"][0]["metrics_path"], "/metrics");
}

#[test]
fn kubernetes_sidecar_manifest() {
    let text = read("deploy/k8s/flights-model.yaml");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("manifest is YAML");
    for d in &docs {
        for k in ["apiVersion", "kind"] {
            assert!(d[k].is_string(), "every document has {k}: {d}");
        }
        assert!(d["metadata"]["name"].is_string(), "every document has a name");
    }
    let by_kind = |k: &str| docs.iter().filter(|d| d["kind"] == k).collect::<Vec<_>>();
    let secret = by_kind("Secret");
    let cms = by_kind("ConfigMap");
    let deploy = by_kind("Deployment");
    assert_eq!((secret.len(), deploy.len()), (1, 1));
    let pod = &deploy[0]["spec"]["template"]["spec"];
    assert_eq!(deploy[0]["spec"]["selector"]["matchLabels"], deploy[0]["spec"]["template"]["metadata"]["labels"]);
    let containers: Vec<&Value> = pod["initContainers"].as_array().into_iter().flatten().chain(pod["containers"].as_array().into_iter().flatten()).collect();
    assert!(containers.len() >= 2, "the gate beside a model container");
    let gate = containers.iter().find(|c| c["args"].as_array().is_some_and(|a| a.first() == Some(&Value::from("serve")))).expect("a container running `serve`");
    if pod["initContainers"].as_array().is_some_and(|a| a.iter().any(|c| c["name"] == gate["name"])) {
        assert_eq!(gate["restartPolicy"], "Always", "an init-container sidecar must be restartable");
    }

    // Config from the ConfigMap, at the path `--config` names.
    let args: Vec<&str> = gate["args"].as_array().expect("args").iter().filter_map(Value::as_str).collect();
    let config_path = args.iter().position(|a| *a == "--config").and_then(|i| args.get(i + 1)).expect("--config FILE");
    let volumes = pod["volumes"].as_array().expect("volumes");
    let mut config_text = None;
    let mut contracts_mount = None;
    for m in gate["volumeMounts"].as_array().expect("mounts") {
        let vol = volumes.iter().find(|v| v["name"] == m["name"]).expect("mount of a declared volume");
        let cm_name = vol["configMap"]["name"].as_str().expect("mounted from a ConfigMap");
        let cm = cms.iter().find(|c| c["metadata"]["name"] == cm_name).unwrap_or_else(|| panic!("ConfigMap {cm_name} is in the manifest"));
        let dir = m["mountPath"].as_str().expect("mountPath");
        for (file, content) in cm["data"].as_object().expect("data") {
            if format!("{dir}/{file}") == *config_path {
                config_text = content.as_str().map(str::to_string);
            }
            if file.ends_with(".odcs.yaml") {
                assert_eq!(content.as_str(), Some(read(&format!("examples/flights/{file}")).as_str()), "{file} in the ConfigMap differs from examples/flights/{file}");
                contracts_mount = Some(dir.to_string());
            }
        }
    }
    let config_text = config_text.expect("--config points into a ConfigMap mount");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("gate.yaml"), &config_text).expect("write");
    let cfg = gate::config::GateConfig::load(&dir.path().join("gate.yaml")).expect("embedded gate.yaml loads");
    cfg.validate().expect("embedded gate.yaml is valid");
    assert_eq!(Some(cfg.contracts.dir.to_string_lossy().into_owned()), contracts_mount, "contracts.dir is the contracts mount");

    // Probes on the gate's real endpoints and port.
    let port = cfg.http.listen.rsplit(':').next().and_then(|p| p.parse::<u64>().ok()).expect("listen port");
    let named = gate["ports"].as_array().expect("ports").iter().find(|p| p["containerPort"] == port).expect("the listen port is declared");
    for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health")] {
        let g = &gate[probe]["httpGet"];
        assert_eq!(g["path"], path, "{probe}");
        assert!(g["port"] == named["name"] || g["port"] == port, "{probe} port");
    }

    // The admin token from the Secret, in the variable the config names.
    let env = gate["env"].as_array().expect("env");
    let tok = env.iter().find(|e| e["name"] == cfg.http.token_env.as_str()).expect("token variable set");
    assert_eq!(tok["valueFrom"]["secretKeyRef"]["name"], secret[0]["metadata"]["name"]);
    let key = tok["valueFrom"]["secretKeyRef"]["key"].as_str().expect("key");
    assert!(secret[0]["stringData"][key].is_string() || secret[0]["data"][key].is_string(), "the Secret has key {key}");
}
