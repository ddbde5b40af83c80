use super::*;
use crate::{compile, parse};
use apache_avro::types::Value as A;
use apache_avro::writer::datum::GenericDatumWriter;
use serde_json::{json, Value};

const FLIGHTS_AVSC: &str = include_str!("../../../examples/flights/flights.avsc");
const FLIGHTS_ODCS: &str = include_str!("../../../examples/flights/flights.odcs.yaml");

fn schema(s: &str) -> Schema {
    Schema::parse_str(s).expect("schema parses")
}

fn contract(yaml: &str) -> CompiledContract {
    compile(&parse(yaml).expect("contract parses"), None).expect("contract compiles")
}

/// A one-object contract with the given property lines (YAML, indented for `properties:`).
fn contract_with(props: &str, extra: bool) -> CompiledContract {
    let custom = if extra { "    customProperties:\n      - property: gateAllowExtraFields\n        value: true\n" } else { "" };
    contract(&format!("apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n{custom}    properties:\n{props}"))
}

fn record(fields: &[(&str, &str)]) -> String {
    let f: Vec<String> = fields.iter().map(|(n, t)| format!(r#"{{"name":"{n}","type":{t}}}"#)).collect();
    format!(r#"{{"type":"record","name":"R","fields":[{}]}}"#, f.join(","))
}

fn flight(time_hour_ms: i64, carrier: &str, dep_time: Option<i32>) -> A {
    let opt_int = |v: Option<i32>| v.map_or(A::Union(0, Box::new(A::Null)), |x| A::Union(1, Box::new(A::Int(x))));
    let opt_f = |x: f64| A::Union(1, Box::new(A::Double(x)));
    A::Record(vec![
        ("year".into(), A::Int(2013)),
        ("month".into(), A::Int(1)),
        ("day".into(), A::Int(1)),
        ("dep_time".into(), opt_int(dep_time)),
        ("sched_dep_time".into(), A::Int(515)),
        ("dep_delay".into(), opt_f(2.0)),
        ("arr_time".into(), opt_int(Some(830))),
        ("sched_arr_time".into(), A::Int(819)),
        ("arr_delay".into(), opt_f(11.0)),
        ("carrier".into(), A::String(carrier.into())),
        ("flight".into(), A::Int(1545)),
        ("tailnum".into(), A::Union(1, Box::new(A::String("N14228".into())))),
        ("origin".into(), A::Enum(0, "EWR".into())),
        ("dest".into(), A::String("IAH".into())),
        ("air_time".into(), opt_f(227.0)),
        ("distance".into(), A::Double(1400.0)),
        ("hour".into(), A::Int(5)),
        ("minute".into(), A::Int(15)),
        ("time_hour".into(), A::TimestampMillis(time_hour_ms)),
    ])
}

#[test]
fn wire_format_table() {
    type Case<'a> = (&'a [u8], Result<(u32, &'a [u8]), WireError>);
    let cases: Vec<Case<'_>> = vec![
        (b"", Err(WireError::Short { len: 0 })),
        (&[0, 0, 0], Err(WireError::Short { len: 3 })),
        (&[0, 0, 0, 0], Err(WireError::Short { len: 4 })),
        (b"{\"a\":1}", Err(WireError::Magic { found: b'{' })),
        (&[1, 0, 0, 0, 7, 2], Err(WireError::Magic { found: 1 })),
        (&[0, 0, 0, 0, 7], Ok((7, &[]))),
        (&[0, 0, 0, 1, 0, 9, 9], Ok((256, &[9, 9]))),
        (&[0, 0xff, 0xff, 0xff, 0xff, 1], Ok((u32::MAX, &[1]))),
    ];
    for (input, want) in cases {
        assert_eq!(parse_wire(input), want, "{input:?}");
    }
    assert!(WireError::Magic { found: 0x7b }.to_string().contains("0x7b"));
}

#[test]
fn body_decoding_table() {
    let s = schema(FLIGHTS_AVSC);
    let w = GenericDatumWriter::builder(&s).build().expect("writer");
    let body = w.write_value_to_vec(flight(1_357_034_400_000, "UA", Some(517))).expect("encodes");
    let r = GenericDatumReader::builder(&s).build().expect("reader");
    assert!(decode_body(&r, 3, &body).is_ok());
    let mut long = body.clone();
    long.push(0);
    let cases: Vec<(&[u8], &str)> = vec![(&body[..body.len() - 3], "does not decode with schema id 3"), (&[], "does not decode"), (&long, "1 bytes left")];
    for (input, want) in cases {
        let e = decode_body(&r, 3, input).expect_err("must fail");
        assert!(e.to_string().contains(want), "{e} lacks {want}");
    }
}

#[test]
fn flights_checked_like_json() {
    let c = contract(FLIGHTS_ODCS);
    let s = schema(FLIGHTS_AVSC);
    assert_eq!(conforms(&c, &s), Vec::new(), "the example Avro schema carries the example contract");
    let p = Projection::for_contract(&s, &c);
    let v = p.to_json(flight(1_357_034_400_000, "UA", None));
    assert_eq!(v["time_hour"], json!("2013-01-01T10:00:00Z"));
    assert_eq!(v["dep_time"], Value::Null);
    assert_eq!(v["origin"], json!("EWR"));
    let mut obs = c.observer();
    assert!(c.check(&v, &mut obs).is_valid(), "{:?}", c.check(&v, &mut obs));
    // The same rule ids as for JSON: an unknown carrier, an out-of-range departure time.
    let v = p.to_json(flight(1_357_034_400_001, "ZZ", Some(2500)));
    let verdict = c.check(&v, &mut obs);
    assert!(!verdict.is_valid());
    let ids = verdict.rule_ids();
    assert!(ids.contains(&"carrier_known") && ids.contains(&"dep_time.maximum"), "{ids:?}");
}

#[test]
fn logical_types_table() {
    // (Avro type, contract property lines, Avro value, JSON the contract sees)
    let dec = |unscaled: i64| A::Decimal(apache_avro::Decimal::from(unscaled.to_be_bytes()));
    let cases: Vec<(&str, &str, A, Value)> = vec![
        (r#"{"type":"long","logicalType":"timestamp-millis"}"#, "logicalType: timestamp", A::TimestampMillis(1_357_034_400_000), json!("2013-01-01T10:00:00Z")),
        (r#"{"type":"long","logicalType":"timestamp-millis"}"#, "logicalType: timestamp", A::TimestampMillis(1_357_034_400_120), json!("2013-01-01T10:00:00.120Z")),
        (r#"{"type":"long","logicalType":"timestamp-micros"}"#, "logicalType: timestamp", A::TimestampMicros(1_357_034_400_000_001), json!("2013-01-01T10:00:00.000001Z")),
        (r#"{"type":"long","logicalType":"timestamp-nanos"}"#, "logicalType: timestamp", A::TimestampNanos(-1), json!("1969-12-31T23:59:59.999999999Z")),
        (r#"{"type":"long","logicalType":"local-timestamp-millis"}"#, "logicalType: timestamp", A::LocalTimestampMillis(0), json!("1970-01-01T00:00:00Z")),
        (r#"{"type":"long","logicalType":"timestamp-millis"}"#, "logicalType: timestamp\n        logicalTypeOptions: { format: \"yyyy-MM-dd HH:mm:ss\" }", A::TimestampMillis(1_357_034_400_000), json!("2013-01-01 10:00:00")),
        (r#"{"type":"long","logicalType":"timestamp-millis"}"#, "logicalType: integer", A::TimestampMillis(1_357_034_400_000), json!(1_357_034_400_000_i64)),
        (r#"{"type":"int","logicalType":"date"}"#, "logicalType: date", A::Date(15_706), json!("2013-01-01")),
        (r#"{"type":"int","logicalType":"date"}"#, "logicalType: date\n        logicalTypeOptions: { format: \"dd/MM/yyyy\" }", A::Date(15_706), json!("01/01/2013")),
        (r#"{"type":"int","logicalType":"date"}"#, "logicalType: integer", A::Date(15_706), json!(15_706)),
        (r#"{"type":"int","logicalType":"time-millis"}"#, "logicalType: time", A::TimeMillis(37_800_250), json!("10:30:00.250Z")),
        (r#"{"type":"long","logicalType":"time-micros"}"#, "logicalType: time", A::TimeMicros(37_800_000_000), json!("10:30:00Z")),
        (r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#, "logicalType: number", dec(12_345), json!(123.45)),
        (r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#, "logicalType: number", dec(-5), json!(-0.05)),
        (r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#, "logicalType: string", dec(-5), json!("-0.05")),
        (r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":0}"#, "logicalType: integer", dec(-42), json!(-42)),
        (r#"{"type":"bytes","logicalType":"decimal","precision":38,"scale":2}"#, "logicalType: string", dec(i64::MIN), json!("-92233720368547758.08")),
        (r#"{"type":"enum","name":"E","symbols":["A","B"]}"#, "logicalType: string", A::Enum(1, "B".into()), json!("B")),
        (r#"["null","string"]"#, "logicalType: string", A::Union(0, Box::new(A::Null)), Value::Null),
        (r#"["null",{"type":"long","logicalType":"timestamp-millis"}]"#, "logicalType: timestamp", A::Union(1, Box::new(A::TimestampMillis(0))), json!("1970-01-01T00:00:00Z")),
        (r#"{"type":"string","logicalType":"uuid"}"#, "logicalType: string", A::Uuid(apache_avro::Uuid::nil()), json!("00000000-0000-0000-0000-000000000000")),
        (r#""double""#, "logicalType: number", A::Double(f64::NAN), json!("NaN")),
        (r#""bytes""#, "logicalType: string", A::Bytes(vec![0, 0xab]), json!("00ab")),
        (r#"{"type":"array","items":"int"}"#, "logicalType: array", A::Array(vec![A::Int(1), A::Int(2)]), json!([1, 2])),
        (r#"{"type":"map","values":"long"}"#, "logicalType: object", A::Map([("k".to_string(), A::Long(3))].into()), json!({"k": 3})),
    ];
    for (ty, prop, value, want) in cases {
        let s = schema(&record(&[("f", ty)]));
        let c = contract_with(&format!("      - name: f\n        {prop}\n"), false);
        let got = Projection::for_contract(&s, &c).to_json(A::Record(vec![("f".into(), value.clone())]));
        assert_eq!(got["f"], want, "{ty} as {prop}");
        // The contract's own checks accept what the projection renders (NaN is meant to fail).
        if want.as_str().is_none_or(|x| x != "NaN") {
            let v = c.check(&got, &mut c.observer());
            assert!(v.is_valid(), "{ty} as {prop}: {v:?}");
        }
        // Reading the properties directly renders the same.
        let model = parse(&format!("apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n    properties:\n      - name: f\n        {prop}\n")).expect("parses");
        let direct = Projection::new(&s, &model.schema[0].properties).to_json(A::Record(vec![("f".into(), value)]));
        assert_eq!(direct["f"], want, "{ty} as {prop}, from properties");
    }
}

#[test]
fn nested_records_and_arrays() {
    let s = schema(r#"{"type":"record","name":"R","namespace":"n","fields":[
        {"name":"leg","type":{"type":"record","name":"Leg","fields":[{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}},
        {"name":"legs","type":{"type":"array","items":"Leg"}}]}"#);
    let c = contract_with("      - name: leg\n        logicalType: object\n        properties:\n          - name: at\n            logicalType: timestamp\n      - name: legs\n        logicalType: array\n        items:\n          logicalType: object\n          properties:\n            - name: at\n              logicalType: timestamp\n              logicalTypeOptions: { format: \"yyyy-MM-dd'T'HH:mm\" }\n", false);
    assert_eq!(conforms(&c, &s), Vec::new());
    let leg = |ms| A::Record(vec![("at".into(), A::TimestampMillis(ms))]);
    let v = Projection::for_contract(&s, &c).to_json(A::Record(vec![("leg".into(), leg(0)), ("legs".into(), A::Array(vec![leg(86_400_000)]))]));
    assert_eq!(v, json!({"leg": {"at": "1970-01-01T00:00:00Z"}, "legs": [{"at": "1970-01-02T00:00"}]}));
}

#[test]
fn conformance_table() {
    let flights = contract(FLIGHTS_ODCS);
    let base: Value = serde_json::from_str(FLIGHTS_AVSC).expect("avsc is JSON");
    let with = |f: &dyn Fn(&mut Vec<Value>)| {
        let mut v = base.clone();
        if let Some(Value::Array(fields)) = v.get_mut("fields") {
            f(fields);
        }
        schema(&v.to_string())
    };
    let set = |name: &'static str, ty: Value| move |fs: &mut Vec<Value>| fs.iter_mut().filter(|x| x["name"] == name).for_each(|x| x["type"] = ty.clone());
    let ty = |expected, found: &str| MismatchKind::Type { expected, found: found.to_string() };
    type Case<'a> = (&'a str, Schema, Vec<(&'a str, MismatchKind)>);
    let cases: Vec<Case<'_>> = vec![
        ("example", with(&|_| {}), vec![]),
        ("dep_time as string", with(&set("dep_time", json!(["null", "string"]))), vec![("dep_time", ty("integer", "union [null, string]"))]),
        ("dep_time int or string", with(&|fs| fs.iter_mut().filter(|x| x["name"] == "dep_time").for_each(|x| *x = json!({"name": "dep_time", "type": ["int", "string"]}))), vec![("dep_time", ty("integer", "union [int, string]"))]),
        ("field removed", with(&|fs| fs.retain(|x| x["name"] != "tailnum")), vec![("tailnum", MismatchKind::Missing)]),
        ("field added", with(&|fs| fs.push(json!({"name": "gate", "type": "string"}))), vec![("gate", MismatchKind::Extra)]),
        ("required made nullable", with(&set("carrier", json!(["null", "string"]))), vec![]),
        ("time_hour as RFC 3339 text", with(&set("time_hour", json!("string"))), vec![]),
        ("time_hour as micros", with(&set("time_hour", json!({"type": "long", "logicalType": "timestamp-micros"}))), vec![]),
        ("time_hour as plain long", with(&set("time_hour", json!("long"))), vec![("time_hour", ty("timestamp", "long"))]),
        ("distance as decimal", with(&set("distance", json!({"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 1}))), vec![]),
        ("flight as double", with(&set("flight", json!("double"))), vec![("flight", ty("integer", "double"))]),
        ("not a record", schema(r#""string""#), vec![("", MismatchKind::Unusable { reason: "the writer schema is string, the contract needs a record".into() })]),
    ];
    for (name, s, want) in cases {
        let got: Vec<(String, MismatchKind)> = conforms(&flights, &s).into_iter().map(|m| (m.field, m.kind)).collect();
        let want: Vec<(String, MismatchKind)> = want.into_iter().map(|(f, k)| (f.to_string(), k)).collect();
        assert_eq!(got, want, "{name}");
        // The same answer from the contract's properties.
        let model = parse(FLIGHTS_ODCS).expect("parses");
        let direct: Vec<(String, MismatchKind)> = conforms_properties(&model.schema[0].properties, false, &s).into_iter().map(|m| (m.field, m.kind)).collect();
        assert_eq!(direct, got, "{name}, from properties");
    }
    // Extra fields pass when the contract allows them.
    let open = contract_with("      - name: a\n        logicalType: integer\n", true);
    assert_eq!(conforms(&open, &schema(&record(&[("a", r#""long""#), ("b", r#""string""#)]))), Vec::new());
    let m = conforms(&contract_with("      - name: a\n        logicalType: integer\n", false), &schema(&record(&[("a", r#""string""#)])));
    assert_eq!(m.iter().map(ToString::to_string).collect::<Vec<_>>(), vec!["a: contract integer, writer string"]);
}

#[test]
fn decimal_text_table() {
    let cases: Vec<(&[u8], usize, &str)> = vec![
        (&[], 0, "0"),
        (&[0], 2, "0.00"),
        (&[0x30, 0x39], 2, "123.45"),
        (&[0xff], 0, "-1"),
        (&[0xff, 0xfb], 2, "-0.05"),
        (&[0x80], 0, "-128"),
        (&[0x00, 0x80], 1, "12.8"),
        (&[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0, "2361183241434822606847"),
    ];
    for (bytes, scale, want) in cases {
        assert_eq!(value::decimal_text(bytes, scale), want, "{bytes:?} scale {scale}");
    }
}

#[test]
fn refused_records_count_as_record_failures_only() {
    let c = contract(FLIGHTS_ODCS);
    let mut obs = c.observer();
    c.record_refused(&mut obs);
    c.decode_error(&mut obs);
    assert_eq!(obs.window.records, 2);
    let hits = |id: &str| {
        let i = c.rules.iter().position(|r| r.id == id).expect("rule");
        match &obs.window.accumulators[i] {
            Accumulator::Count { hits, total } => (*hits, *total),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(hits("$.recordFailures"), (2, 2));
    assert_eq!(hits("$.decodeErrors"), (1, 2));
}

#[test]
fn sample_round_trips_through_the_wire_format() {
    let c = contract(FLIGHTS_ODCS);
    let s = schema(FLIGHTS_AVSC);
    let w = GenericDatumWriter::builder(&s).build().expect("writer");
    let r = GenericDatumReader::builder(&s).build().expect("reader");
    let p = Projection::for_contract(&s, &c);
    let sample = include_str!("../../../examples/flights/sample.jsonl");
    let mut obs = c.observer();
    for line in sample.lines().take(200) {
        let json: Value = serde_json::from_str(line).expect("sample line");
        let body = w.write_value_to_vec(from_json(&s, &json).expect("fits the schema")).expect("encodes");
        let payload = frame(9, &body);
        let (id, rest) = parse_wire(&payload).expect("framed");
        let seen = p.to_json(decode_body(&r, id, rest).expect("decodes"));
        // Same fields, same values as numbers, same verdict as the JSON record.
        for (k, v) in json.as_object().expect("object") {
            let same = match (v.as_f64(), seen[k].as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                _ => *v == seen[k],
            };
            assert!(same, "{k}: {v} vs {}", seen[k]);
        }
        // Each check on its own (the second would otherwise be a duplicate of the first).
        obs.clear_duplicates();
        let a = c.check(&json, &mut obs).rule_ids().join(",");
        obs.clear_duplicates();
        let b = c.check(&seen, &mut obs).rule_ids().join(",");
        assert_eq!(a, b, "{line}");
    }
    assert!(from_json(&s, &json!({"year": "2013"})).expect_err("type").contains("year"));
}

#[test]
fn recursive_writer_schemas_are_refused_and_reused_types_are_not() {
    let cases = [
        // A linked list: `next` refers back to the record it is in.
        (r#"{"type":"record","name":"Flight","fields":[{"name":"id","type":"long"},{"name":"next","type":["null","Flight"]}]}"#, Some("next")),
        // Through a nested record, an array and a map, in a namespace.
        (r#"{"type":"record","name":"A","namespace":"x","fields":[{"name":"b","type":{"type":"record","name":"B","fields":[{"name":"as","type":{"type":"array","items":{"type":"map","values":"x.A"}}}]}}]}"#, Some("b.as[]{}")),
        // A type used twice is not recursion.
        (r#"{"type":"record","name":"R","fields":[{"name":"leg","type":{"type":"record","name":"Leg","fields":[{"name":"at","type":"long"}]}},{"name":"back","type":"Leg"}]}"#, None),
    ];
    for (avsc, want) in cases {
        let got = recursion(&schema(avsc));
        assert_eq!(got.as_ref().map(|m| m.field.as_str()), want, "{avsc}");
        if let Some(m) = got {
            assert!(m.to_string().contains("recursive"), "{m}");
        }
    }
    // The conformance check says so even when extra fields are allowed.
    let c = contract_with("      - name: id\n        logicalType: integer\n", true);
    let got = conforms(&c, &schema(cases[0].0));
    assert!(got.len() == 1 && got[0].to_string().contains("recursive"), "{got:?}");
}

#[test]
fn arrays_of_items_that_take_no_bytes_are_refused() {
    // Found by fuzzing: `{"nulls": [null × 2^60]}` is a handful of bytes.
    let cases = [
        (r#"{"type":"array","items":"null"}"#, Some("a[]")),
        (r#"{"type":"array","items":{"type":"record","name":"Nothing","fields":[]}}"#, Some("a[]")),
        (r#"{"type":"array","items":{"type":"record","name":"Nulls","fields":[{"name":"n","type":"null"},{"name":"z","type":{"type":"fixed","name":"Z","size":0}}]}}"#, Some("a[]")),
        (r#"{"type":"map","values":{"type":"array","items":{"type":"fixed","name":"Z","size":0}}}"#, Some("a{}[]")),
        (r#"["null",{"type":"array","items":{"type":"bytes","logicalType":"decimal","precision":1}}]"#, None),
        // Every item takes a byte: a union's branch index, an empty array's end, an enum index.
        (r#"{"type":"array","items":["null","long"]}"#, None),
        (r#"{"type":"array","items":{"type":"array","items":"long"}}"#, None),
        (r#"{"type":"array","items":{"type":"enum","name":"E","symbols":["A"]}}"#, None),
        (r#"{"type":"map","values":"null"}"#, None),
    ];
    let c = contract_with("      - name: id\n        logicalType: integer\n", true);
    for (ty, want) in cases {
        let s = schema(&record(&[("id", r#""long""#), ("a", ty)]));
        let got = conforms(&c, &s);
        match want {
            Some(field) => {
                assert!(got.len() == 1 && got[0].field == field && got[0].to_string().contains("take no bytes"), "{ty}: {got:?}");
            }
            None => assert!(got.is_empty(), "{ty}: {got:?}"),
        }
    }
    // Referred to by name after its definition.
    let s = schema(r#"{"type":"record","name":"R","fields":[{"name":"id","type":"long"},{"name":"z","type":{"type":"record","name":"Z","fields":[]}},{"name":"zs","type":{"type":"array","items":"Z"}}]}"#);
    assert!(conforms(&c, &s).iter().any(|m| m.field == "zs[]"), "{:?}", conforms(&c, &s));
}

#[test]
fn dates_and_timestamps_far_from_now_render_without_overflow() {
    // Found by fuzzing: a date of 2^31 - 1 days overflowed when counted in nanoseconds; a
    // timestamp past 2262 was clamped to 2262. Outside the calendar the number stays.
    let cases: Vec<(&str, &str, A, Value)> = vec![
        (r#"{"type":"int","logicalType":"date"}"#, "date", A::Date(200_000), json!("2517-08-01")),
        (r#"{"type":"int","logicalType":"date"}"#, "date", A::Date(-200_000), json!("1422-06-03")),
        (r#"{"type":"int","logicalType":"date"}"#, "date", A::Date(i32::MAX), json!(i32::MAX)),
        (r#"{"type":"int","logicalType":"date"}"#, "date", A::Date(i32::MIN), json!(i32::MIN)),
        (r#"{"type":"long","logicalType":"timestamp-millis"}"#, "timestamp", A::TimestampMillis(32_503_680_000_000), json!("3000-01-01T00:00:00Z")),
        (r#"{"type":"long","logicalType":"timestamp-millis"}"#, "timestamp", A::TimestampMillis(i64::MAX), json!(i64::MAX)),
        (r#"{"type":"long","logicalType":"timestamp-micros"}"#, "timestamp", A::TimestampMicros(i64::MIN), json!(i64::MIN)),
        (r#"{"type":"long","logicalType":"timestamp-nanos"}"#, "timestamp", A::TimestampNanos(i64::MIN), json!("1677-09-21T00:12:43.145224192Z")),
        (r#"{"type":"long","logicalType":"local-timestamp-millis"}"#, "timestamp", A::LocalTimestampMillis(-1), json!("1969-12-31T23:59:59.999Z")),
    ];
    for (ty, logical, value, want) in cases {
        let s = schema(&record(&[("f", ty)]));
        let c = contract_with(&format!("      - name: f\n        logicalType: {logical}\n"), false);
        let got = Projection::for_contract(&s, &c).to_json(A::Record(vec![("f".into(), value)]));
        assert_eq!(got["f"], want, "{ty}");
        // A number where a date belongs fails the record's check, with the field named.
        if want.is_number() {
            let v = c.check(&got, &mut c.observer());
            assert!(v.violations.iter().any(|x| x.field == "f"), "{ty}: {v:?}");
        }
    }
}
