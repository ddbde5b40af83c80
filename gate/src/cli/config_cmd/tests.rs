use super::*;
use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509Builder, X509NameBuilder};

const ORDERS: &str = "apiVersion: v3.1.0\nkind: DataContract\nid: orders\nversion: 1.0.0\nstatus: active\nschema:\n  - name: orders\n    properties:\n      - name: id\n        logicalType: string\n        required: true\n      - name: placed\n        logicalType: timestamp\n";

/// A self-signed certificate and its key, and a key of another pair (PEM).
fn tls_files() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
    let other = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "localhost").expect("cn");
    let name = name.build();
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("time")).expect("not before");
    b.set_not_after(&Asn1Time::days_from_now(1).expect("time")).expect("not after");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    let cert = b.build().to_pem().expect("pem");
    (cert, key.private_key_to_pem_pkcs8().expect("pem"), other.private_key_to_pem_pkcs8().expect("pem"))
}

/// A directory with contracts (orders 1.0.0 and 2.0.0, a two-object contract, one whose SLA
/// names a missing property), registry seeds (good and bad), TLS files and a secret.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let put = |name: &str, text: &[u8]| {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    put("contracts/orders-1.yaml", ORDERS.as_bytes());
    put("contracts/orders-2.yaml", ORDERS.replace("version: 1.0.0", "version: 2.0.0").as_bytes());
    put("contracts/two.yaml", format!("{}  - name: refunds\n    properties:\n      - name: id\n        logicalType: string\n", ORDERS.replace("id: orders", "id: two")).as_bytes());
    put("contracts/late.yaml", format!("{}slaProperties:\n  - property: latency\n    value: 5\n    unit: m\n    element: late.ghost\n", ORDERS.replace("id: orders", "id: late").replace("- name: orders", "- name: late")).as_bytes());
    put("seeds/orders.yaml", ORDERS.as_bytes());
    put("badseeds/orders.yaml", ORDERS.replace("id: orders", "id: has space").as_bytes());
    put("broken/orders.yaml", ORDERS.replace("version: 1.0.0", "version: one").as_bytes());
    let (cert, key, other) = tls_files();
    put("tls/cert.pem", &cert);
    put("tls/key.pem", &key);
    put("tls/other.pem", &other);
    put("secret.txt", b"gate-group\n");
    dir
}

const BASE: &str = "kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  dir: contracts\nbindings:\n  - name: orders\n    source: orders\n    contract: orders\n    fallback: hold\n";

fn check(dir: &Path, config: &str, o: &Overrides) -> Report {
    let path = dir.join("gate.yaml");
    std::fs::write(&path, config).expect("write config");
    validate(&path, o)
}

fn with_binding(extra: &str) -> String {
    BASE.replace("    fallback: hold\n", &format!("    fallback: hold\n{extra}"))
}

fn with_kafka(extra: &str) -> String {
    BASE.replace("  brokers: 127.0.0.1:9092\n", &format!("  brokers: 127.0.0.1:9092\n{extra}"))
}

/// Broken configs: the field named (or `None` for a file that does not parse) and a word of
/// the message.
#[test]
fn broken_configs_name_the_field() {
    let dir = workspace();
    let http_tls = |cert: &str, key: &str| format!("{BASE}http:\n  tls:\n    cert_file: {cert}\n    key_file: {key}\n");
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        (with_binding("    colour: red\n"), None, "colour"),
        (BASE.replace("contract: orders", "contract: nope"), Some("bindings[0].contract"), "no contract with id \"nope\""),
        (with_binding("    version: ^3\n"), Some("bindings[0].contract"), "matching ^3"),
        (with_binding("    version: three\n"), Some("bindings[0].version"), "not a semver range"),
        (BASE.replace("contract: orders", "contract: late"), Some("bindings[0].contract"), "ghost"),
        (BASE.replace("dir: contracts", "dir: broken"), Some("contracts.dir"), "not semantic"),
        (BASE.replace("dir: contracts", "dir: nowhere"), Some("contracts.dir"), "cannot read"),
        (format!("{}schema_registry:\n  url: http://127.0.0.1:8081\n", BASE.replace("contract: orders", "contract: two").replace("fallback: hold\n", "fallback: hold\n    format: avro\n")), Some("bindings[0].object"), "refunds"),
        (with_binding("    stale_records: divert\n"), Some("bindings[0].stale_records"), "latency SLA"),
        (with_binding("    breaker: { min_records: 0 }\n"), Some("bindings[0].breaker"), "min_records"),
        (http_tls("tls/cert.pem", "tls/other.pem"), Some("http.tls.key_file"), "not the key of"),
        (http_tls("tls/missing.pem", "tls/key.pem"), Some("http.tls.cert_file"), "cannot read"),
        (http_tls("tls/key.pem", "tls/key.pem"), Some("http.tls.cert_file"), "certificate"),
        (with_kafka("  group_id: ${file:missing.txt}\n"), None, "secret file missing.txt"),
        (with_kafka("  group_id: ${NO_SUCH_VARIABLE_CG}\n"), None, "NO_SUCH_VARIABLE_CG is not set"),
        (with_kafka("  properties: { ssl.ca.location: /nonexistent/ca.pem }\n"), Some("kafka.properties.ssl.ca.location"), "No such file"),
        (with_kafka("  properties: { no.such.property: x }\n"), Some("kafka.properties.no.such.property"), "librdkafka refuses it"),
        (with_kafka("  consumer_properties: { fetch.wait.max.ms: soon }\n"), Some("kafka.consumer_properties.fetch.wait.max.ms"), "librdkafka refuses it"),
        (with_kafka("  properties: { group.id: x }\n"), Some("kafka.properties.group.id"), "set by the gate"),
        (format!("{BASE}redis:\n  url: http://127.0.0.1:6379\n"), Some("redis.url"), "scheme \"http\""),
        (format!("{BASE}redis:\n  url: redis://127.0.0.1:6379\n  tls: {{ ca_file: tls/cert.pem }}\n"), Some("redis.tls"), "rediss://"),
        (format!("{BASE}workers: 0\n"), Some("workers"), "between 1 and"),
        ("kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  dir: badseeds\n  registry: {}\n".into(), Some("contracts.dir"), "a registry contract id must be"),
        (format!("{BASE}  - name: orders\n    source: other\n    contract: orders\n    fallback: hold\n"), Some("bindings[1].name"), "duplicate"),
    ];
    for (config, field, needle) in cases {
        let r = check(dir.path(), &config, &Overrides::default());
        let Some(e) = &r.error else { panic!("valid, expected {field:?} ({needle}):\n{config}") };
        assert!(!r.valid);
        assert_eq!(e.field.as_deref(), field, "{}\n{config}", e.message);
        assert!(e.message.contains(needle), "{:?} lacks {needle:?}", e.message);
        assert!(table(&r).contains("INVALID"));
    }
    // A refused value never reaches the message (it may be a password).
    for value in ["s3cret-value", "abc"] {
        let r = check(dir.path(), &with_kafka(&format!("  properties: {{ fetch.wait.max.ms: {value}, nope.nope: {value} }}\n")), &Overrides::default());
        let e = r.error.expect("invalid");
        assert!(e.field.as_deref().is_some_and(|f| f.starts_with("kafka.properties.")) && !e.message.contains(value), "{e:?}");
    }
    // An override is checked as `serve` applies it.
    let r = check(dir.path(), BASE, &Overrides { redis: Some("nope://x".into()), ..Overrides::default() });
    assert_eq!(r.error.and_then(|e| e.field).as_deref(), Some("redis.url"));
}

/// Good configs: what each binding runs, the seeds, and what was checked.
#[test]
fn good_configs_summarize_what_runs() {
    let dir = workspace();
    let secret_and_tls = format!("{}http:\n  tls:\n    cert_file: tls/cert.pem\n    key_file: tls/key.pem\n", with_kafka("  group_id: ${file:secret.txt}\n"));
    // (config, binding versions, seeds, a word of the checked list)
    let cases: Vec<(String, Vec<Option<&str>>, usize, &str)> = vec![
        (BASE.into(), vec![Some("2.0.0")], 0, "linted and compiled"),
        (with_binding("    version: ^1\n"), vec![Some("1.0.0")], 0, "version ranges resolved"),
        (secret_and_tls, vec![Some("2.0.0")], 0, "http.tls"),
        ("kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  dir: seeds\n  registry: {}\nbindings:\n  - name: orders\n    source: orders\n    contract: orders\n    fallback: hold\n".into(), vec![None], 1, "seed file"),
        ("kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  registry: {}\n".into(), vec![], 0, "seed file"),
    ];
    for (config, versions, seeds, word) in cases {
        let r = check(dir.path(), &config, &Overrides::default());
        assert!(r.valid, "{:?}\n{config}", r.error);
        assert_eq!(r.bindings.iter().map(|b| b.version.as_deref()).collect::<Vec<_>>(), versions, "{config}");
        assert_eq!(r.seeds.len(), seeds, "{:?}", r.seeds);
        assert!(r.checked.iter().any(|c| c.contains(word)), "{word}: {:?}", r.checked);
        let t = table(&r);
        assert!(t.contains(": valid\n") && !t.contains("INVALID"), "{t}");
    }
    let r = check(dir.path(), BASE, &Overrides::default());
    assert!(table(&r).contains("binding orders: orders -> orders 2.0.0, object orders, "), "{}", table(&r));
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["bindings"][0]["version"], "2.0.0");
    assert_eq!(json["valid"], true);
}
