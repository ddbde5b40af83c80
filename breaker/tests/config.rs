//! Configuration as users write it (YAML), defaults, and validation messages.

use breaker::{BreakerConfig, RedisConfig, SentinelConfig, StoreOutagePolicy, WindowConfig};
use std::time::Duration;

#[test]
fn yaml_with_typed_durations() {
    let cfg: BreakerConfig = serde_saphyr::from_str(
        "min_records: 500\nwindow: {kind: count, records: 1000, bucket: 500ms, max_age: 2m}\nopen_wait: 15s\nprobe_records: 20\n",
    )
    .expect("parses");
    assert_eq!(cfg.min_records, 500);
    assert_eq!(
        cfg.window,
        WindowConfig::Count { records: 1000, bucket: Duration::from_millis(500), max_age: Duration::from_secs(120) }
    );
    assert_eq!(cfg.open_wait, Duration::from_secs(15));
    assert_eq!(cfg.flush_interval, Duration::from_millis(250), "defaults fill the rest");
    assert_eq!(cfg.validate(), Ok(()));

    let redis: RedisConfig =
        serde_saphyr::from_str("url: redis://10.0.0.5:6379/2\nkey_prefix: cg:{orders}\nfallback: fail_closed\n").expect("parses");
    assert_eq!(redis.fallback, StoreOutagePolicy::FailClosed);
    assert_eq!(redis.validate(), Ok(()));
}

#[test]
fn defaults_are_valid() {
    assert_eq!(BreakerConfig::default().validate(), Ok(()));
    assert_eq!(RedisConfig::default().validate(), Ok(()));
    assert_eq!(BreakerConfig::default().window, WindowConfig::Time { length: Duration::from_secs(30), bucket: Duration::from_secs(1) });
}

#[test]
fn unknown_fields_are_refused() {
    for yaml in ["min_record: 5\n", "window: {kind: time, length: 30s, bucket: 1s, records: 9}\n", "open_wait: 10\n"] {
        assert!(serde_saphyr::from_str::<BreakerConfig>(yaml).is_err(), "{yaml}");
    }
    assert!(serde_saphyr::from_str::<RedisConfig>("host: x\n").is_err());
}

#[test]
fn validation_names_the_field() {
    let base = BreakerConfig::default();
    let cases: Vec<(BreakerConfig, &str)> = vec![
        (BreakerConfig { min_records: 0, ..base.clone() }, "`min_records`"),
        (BreakerConfig { window: WindowConfig::Time { length: Duration::from_secs(30), bucket: Duration::ZERO }, ..base.clone() }, "`window.bucket`"),
        (BreakerConfig { window: WindowConfig::Time { length: Duration::from_millis(500), bucket: Duration::from_secs(1) }, ..base.clone() }, "`window.length`"),
        (BreakerConfig { window: WindowConfig::Time { length: Duration::from_secs(7200), bucket: Duration::from_secs(1) }, ..base.clone() }, "`window.length` spans 7200 buckets"),
        (BreakerConfig { window: WindowConfig::Count { records: 0, bucket: Duration::from_secs(1), max_age: Duration::from_secs(60) }, ..base.clone() }, "`window.records`"),
        (BreakerConfig { max_open_wait: Duration::from_secs(1), ..base.clone() }, "`max_open_wait`"),
        (BreakerConfig { backoff_multiplier: 0.5, ..base.clone() }, "`backoff_multiplier`"),
        (BreakerConfig { backoff_multiplier: f64::NAN, ..base.clone() }, "`backoff_multiplier`"),
        (BreakerConfig { probe_records: 0, ..base.clone() }, "`probe_records`"),
        (BreakerConfig { confidence: 1.0, ..base.clone() }, "`confidence`"),
        (BreakerConfig { confidence: 0.2, ..base.clone() }, "`confidence`"),
        (BreakerConfig { flush_interval: Duration::ZERO, ..base }, "`flush_interval`"),
    ];
    for (cfg, want) in cases {
        let err = cfg.validate().expect_err(want).to_string();
        assert!(err.contains(want), "{err:?} should mention {want}");
    }
    let r = RedisConfig::default();
    let sentinel = SentinelConfig { master: "mymaster".into(), nodes: vec!["sentinel-0:26379".into(), "[::1]:26380".into()], username: None, password: Some("s3cret".into()) };
    RedisConfig { sentinel: Some(sentinel.clone()), ..r.clone() }.validate().expect("a valid sentinel section");
    assert_eq!(sentinel.addresses().expect("addresses"), [("sentinel-0".to_string(), 26379), ("::1".to_string(), 26380)]);
    assert!(!format!("{sentinel:?}").contains("s3cret"), "Debug hides the sentinel password");
    for (cfg, want) in [
        (RedisConfig { url: "http://x".into(), ..r.clone() }, "`url`"),
        (RedisConfig { key_prefix: "a b".into(), ..r.clone() }, "`key_prefix`"),
        (RedisConfig { reconnect_max: Duration::from_millis(1), ..r.clone() }, "`reconnect_max`"),
        (RedisConfig { sentinel: Some(SentinelConfig { master: String::new(), ..sentinel.clone() }), ..r.clone() }, "`sentinel.master`"),
        (RedisConfig { sentinel: Some(SentinelConfig { nodes: vec![], ..sentinel.clone() }), ..r.clone() }, "`sentinel.nodes`"),
        (RedisConfig { sentinel: Some(SentinelConfig { nodes: vec!["sentinel-0".into()], ..sentinel.clone() }), ..r.clone() }, "`sentinel.nodes`"),
        (RedisConfig { sentinel: Some(SentinelConfig { nodes: vec!["s:0".into()], ..sentinel.clone() }), ..r.clone() }, "`sentinel.nodes`"),
        (RedisConfig { url: "unix:///run/redis.sock".into(), sentinel: Some(sentinel.clone()), ..r }, "`url`"),
    ] {
        let err = cfg.validate().expect_err(want).to_string();
        assert!(err.contains(want), "{err:?} should mention {want}");
    }
}
