//! The deployment files stay consistent with the gate: the Grafana dashboard queries only
//! metrics (and labels) the gate emits, the compose and Kubernetes configs load as gate
//! configs, the probes and healthchecks hit the gate's real endpoints, compose starts every
//! service in order with pinned images, and the copies of the contract match.
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

/// Series names and their label keys, from the catalog of every metric the gate exports
/// (`gate::serve::telemetry::catalog`, which a unit test holds to the rendered exposition).
/// A histogram is queried through its `_bucket` (with `le`), `_sum` and `_count` series.
fn emitted() -> BTreeMap<String, BTreeSet<String>> {
    use gate::serve::telemetry::{Kind, ALL};
    let mut out = BTreeMap::new();
    for m in ALL {
        let labels: BTreeSet<String> = m.labels.iter().map(|l| (*l).to_string()).collect();
        if let Kind::Histogram(_) = m.kind {
            let mut with_le = labels.clone();
            with_le.insert("le".into());
            out.insert(format!("{}_bucket", m.name), with_le);
            out.insert(format!("{}_sum", m.name), labels.clone());
            out.insert(format!("{}_count", m.name), labels);
        } else {
            out.insert(m.name.to_string(), labels);
        }
    }
    assert!(out.len() >= 10, "found too few metrics in the catalog: {out:?}");
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
                problems.push(format!("{at}: {name} is not a series the gate exports (gate/src/serve/telemetry/catalog.rs)"));
                continue;
            };
            used.insert(["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s).filter(|base| metrics.contains_key(&format!("{base}_bucket")))).unwrap_or(name).to_string());
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
    for m in ["contract_gate_breaker_state_ratio", "contract_gate_records_total", "contract_gate_rule_violations_total", "contract_gate_source_idle_seconds", "contract_gate_flush_duration_seconds", "contract_gate_consumer_lag_records", "contract_gate_window_rule_value_ratio", "contract_gate_window_rule_value_rows", "contract_gate_window_rule_value_seconds", "contract_gate_window_rule_value_score"] {
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
    for s in ["kafka", "redis", "kafka-init", "gate", "prometheus", "grafana", "flights-replay"] {
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

    // The gate's Docker healthcheck asks its own /ready on its listen port.
    let check: Vec<&str> = gate["healthcheck"]["test"].as_array().expect("gate healthcheck").iter().filter_map(Value::as_str).collect();
    assert!(check.iter().any(|a| a.ends_with(&format!(":{port}/ready"))), "{check:?}");

    // Every source topic exists, with its partitions, before the gate starts: the gate gives
    // its outputs the source's partition count.
    let init = &services["kafka-init"];
    let create = init["command"].as_array().and_then(|c| c.first()).and_then(Value::as_str).expect("kafka-init command");
    for b in &cfg.bindings {
        assert!(create.contains(&format!("--topic {} --partitions 3", b.source)), "kafka-init creates {} with 3 partitions: {create}", b.source);
    }
    assert_eq!(gate["depends_on"]["kafka-init"]["condition"], "service_completed_successfully");
    assert_eq!(services["flights-replay"]["depends_on"]["kafka-init"]["condition"], "service_completed_successfully");
    assert!(!services["flights-replay"]["command"].to_string().contains("kafka-topics.sh"), "only kafka-init creates topics");
    assert_eq!(services["grafana"]["depends_on"]["prometheus"]["condition"], "service_healthy");
}

/// `v1.2.3` or `1.2.3` (an exact release), not `7`, `7.4` or `latest`.
fn exact_release(tag: &str) -> bool {
    let parts: Vec<&str> = tag.trim_start_matches('v').split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn compose_services_have_healthchecks_ordered_starts_and_pinned_images() {
    assert!(exact_release("7.4.11") && exact_release("v3.5.0"));
    assert!(!exact_release("7") && !exact_release("7.4") && !exact_release("latest") && !exact_release("7.4.x"));
    let compose = yaml(&read("docker-compose.yml"));
    let services = compose["services"].as_object().expect("services");
    for (name, s) in services {
        // One-shot services (`restart: "no"`) are waited for by completion instead.
        if s["restart"] != "no" {
            let test = &s["healthcheck"]["test"];
            assert!(test.as_array().is_some_and(|t| t.len() >= 2), "service {name} has a healthcheck: {test}");
        }
        let image = s["image"].as_str().expect("every service names its image");
        if s["build"].is_null() {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(exact_release(tag), "service {name}: image {image} is not pinned to a release");
        }
        for (dep, how) in s["depends_on"].as_object().into_iter().flatten() {
            let cond = how["condition"].as_str().unwrap_or_else(|| panic!("{name} depends on {dep} without a condition"));
            let want = if services[dep.as_str()]["restart"] == "no" { "service_completed_successfully" } else { "service_healthy" };
            assert!(cond == want || cond == "service_started", "{name} → {dep}: {cond}");
        }
    }
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
    let mut secret_mounts = Vec::new();
    for m in gate["volumeMounts"].as_array().expect("mounts") {
        let vol = volumes.iter().find(|v| v["name"] == m["name"]).expect("mount of a declared volume");
        if let Some(secret_name) = vol["secret"]["secretName"].as_str() {
            secret_mounts.push((m["mountPath"].as_str().expect("mountPath").to_string(), secret_name.to_string()));
            continue;
        }
        let cm_name = vol["configMap"]["name"].as_str().expect("mounted from a ConfigMap or a Secret");
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
    let mut config_text = config_text.expect("--config points into a ConfigMap mount");
    let dir = tempfile::tempdir().expect("tempdir");
    // A Secret mounted as a kubernetes.io/tls Secret would be (tls.crt, tls.key), in a
    // directory that stands for its mount path.
    for (i, (mount, _)) in secret_mounts.iter().enumerate() {
        let local = dir.path().join(format!("secret-{i}"));
        std::fs::create_dir_all(&local).expect("mkdir");
        let (cert, key) = self_signed();
        std::fs::write(local.join("tls.crt"), cert).expect("write");
        std::fs::write(local.join("tls.key"), key).expect("write");
        config_text = config_text.replace(&format!("{mount}/"), &format!("{}/", local.display()));
    }
    std::fs::write(dir.path().join("gate.yaml"), &config_text).expect("write");
    let cfg = gate::config::GateConfig::load(&dir.path().join("gate.yaml")).expect("embedded gate.yaml loads");
    cfg.validate().expect("embedded gate.yaml is valid");
    assert_eq!(Some(cfg.contracts.dir.to_string_lossy().into_owned()), contracts_mount, "contracts.dir is the contracts mount");

    // The listener's certificate and key come from a mounted Secret of type kubernetes.io/tls
    // (its keys tls.crt and tls.key), and no client certificate is required: kubelet's probes
    // send none.
    let tls = cfg.http.tls.as_ref().expect("the example serves HTTPS");
    assert!(tls.client_ca_file.is_none(), "client certificates would fail kubelet's probes");
    for file in [&tls.cert_file, &tls.key_file] {
        assert!(file.starts_with(dir.path()), "{} is in a Secret mount", file.display());
    }
    assert!(["tls.crt", "tls.key"].iter().all(|k| config_text.contains(&format!("/{k}"))), "the keys of a kubernetes.io/tls Secret");

    // Probes on the gate's real endpoints and port, over HTTPS.
    let port = cfg.http.listen.rsplit(':').next().and_then(|p| p.parse::<u64>().ok()).expect("listen port");
    let named = gate["ports"].as_array().expect("ports").iter().find(|p| p["containerPort"] == port).expect("the listen port is declared");
    for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health"), ("startupProbe", "/health")] {
        let g = &gate[probe]["httpGet"];
        assert_eq!(g["path"], path, "{probe}");
        assert!(g["port"] == named["name"] || g["port"] == port, "{probe} port");
        assert_eq!(g["scheme"], "HTTPS", "{probe} scheme");
    }
    let annotations = &deploy[0]["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scheme"], "https");
    assert_eq!(annotations["prometheus.io/port"], port.to_string().as_str());

    // The admin token from the Secret, in the variable the config names.
    let env = gate["env"].as_array().expect("env");
    let tok = env.iter().find(|e| e["name"] == cfg.http.token_env.as_str()).expect("token variable set");
    assert_eq!(tok["valueFrom"]["secretKeyRef"]["name"], secret[0]["metadata"]["name"]);
    let key = tok["valueFrom"]["secretKeyRef"]["key"].as_str().expect("key");
    assert!(secret[0]["stringData"][key].is_string() || secret[0]["data"][key].is_string(), "the Secret has key {key}");
}

/// A self-signed certificate and its key (PEM), as a `kubernetes.io/tls` Secret holds them.
fn self_signed() -> (Vec<u8>, Vec<u8>) {
    use openssl::{asn1::Asn1Time, ec::{EcGroup, EcKey}, hash::MessageDigest, nid::Nid, pkey::PKey, x509::{X509Builder, X509NameBuilder}};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "contract-gate").expect("cn");
    let name = name.build();
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("time")).expect("not before");
    b.set_not_after(&Asn1Time::days_from_now(1).expect("time")).expect("not after");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    (b.build().to_pem().expect("pem"), key.private_key_to_pem_pkcs8().expect("pem"))
}

/// The secured overlay (docker-compose.secured.yml): the gate's config there loads and
/// validates once the files of scripts/certs.sh and the Docker secrets exist (stood in for by
/// a temporary directory), takes every password from a secret file, and the healthcheck and
/// Prometheus reach the HTTPS listener.
#[test]
fn secured_compose_overlay_and_its_gate_config() {
    let overlay = yaml(&read("docker-compose.secured.yml"));
    let services = overlay["services"].as_object().expect("services");
    for (name, s) in services {
        for v in s["volumes"].as_array().into_iter().flatten() {
            let host = v.as_str().expect("short volume syntax").split(':').next().expect("host path");
            // The certificates are made by scripts/certs.sh, not kept in git.
            if host.starts_with("./") && !host.starts_with("./deploy/secured/certs") {
                assert!(repo().join(host).exists(), "service {name} mounts missing {host}");
            }
        }
    }
    let text = read("deploy/secured/gate.yaml");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed();
    for (file, content) in [("server.pem", cert.clone()), ("server.key", key), ("ca.pem", cert), ("kafka-password", b"kafka-secret\n".to_vec()), ("redis-password", b"redis-secret\n".to_vec())] {
        std::fs::write(dir.path().join(file), content).expect("write");
    }
    let local = dir.path().display().to_string();
    let text = text.replace("/run/secrets", &local).replace("/etc/contract-gate/certs", &local).replace("/etc/contract-gate/contracts", &repo().join("examples/flights").display().to_string());
    assert!(!text.contains("secret\n"), "no password in the file itself");
    std::fs::write(dir.path().join("gate.yaml"), &text).expect("write");
    let cfg = gate::config::GateConfig::load(&dir.path().join("gate.yaml")).expect("deploy/secured/gate.yaml loads");
    cfg.validate().expect("deploy/secured/gate.yaml is valid");
    assert_eq!(cfg.kafka.properties.get("sasl.password").map(String::as_str), Some("kafka-secret"));
    assert!(cfg.redis.as_ref().is_some_and(|r| r.url.starts_with("rediss://") && r.url.contains(":redis-secret@")));
    assert!(cfg.http.tls.is_some());
    let port = cfg.http.listen.rsplit(':').next().expect("port").to_string();
    let check = services["gate"]["healthcheck"]["test"].to_string();
    assert!(check.contains(&format!("https://localhost:{port}/ready")), "{check}");
    let prom = yaml(&read("deploy/secured/prometheus.yml"));
    assert_eq!(prom["scrape_configs"][0]["scheme"], "https");
    assert_eq!(prom["scrape_configs"][0]["static_configs"][0]["targets"][0], format!("gate:{port}").as_str());
    assert!(services["kafka-init"]["secrets"].as_array().is_some_and(|s| s.iter().any(|x| x == "kafka-password")));
}
