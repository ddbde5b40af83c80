use super::*;
use serde_json::json;

fn obj(props: &Value, req: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": req})
}

#[test]
fn parse_keeps_json_schemas_and_refuses_the_rest() {
    let ok = [r#"{"type":"object","properties":{"a":{"type":"string"}}}"#, "true", r##"{"$defs":{"x":{"type":"integer"}},"properties":{"a":{"$ref":"#/$defs/x"}}}"##, r#"{"properties":{"type":{"type":"string"}}}"#];
    for text in ok {
        assert!(parse(text).is_ok(), "{text}: {:?}", parse(text));
    }
    /// Text, the kind of refusal, a fragment of its message.
    type Bad<'a> = (&'a str, fn(&InvalidSchema) -> bool, &'a str);
    let bad: [Bad<'_>; 8] = [
        ("{nope", |e| matches!(e, InvalidSchema::NotJson(_)), "not JSON"),
        ("\"string\"", |e| matches!(e, InvalidSchema::Json(_)), "an object or a boolean, not a string"),
        ("[1]", |e| matches!(e, InvalidSchema::Json(_)), "not an array"),
        (r#"{"type":"strin"}"#, |e| matches!(e, InvalidSchema::Json(_)), "\"type\" must be one of"),
        (r#"{"properties":{"a":{"type":7}}}"#, |e| matches!(e, InvalidSchema::Json(_)), "properties.a: \"type\""),
        (r#"{"required":"a"}"#, |e| matches!(e, InvalidSchema::Json(_)), "\"required\" must be a list"),
        (r##"{"properties":{"a":{"$ref":"#/$defs/missing"}}}"##, |e| matches!(e, InvalidSchema::Json(_)), "points to nothing"),
        (r#"{"properties":{"a":{"$ref":"other.json"}}}"#, |e| matches!(e, InvalidSchema::Unsupported(_)), "schema references are not supported"),
    ];
    for (text, kind, want) in bad {
        let e = parse(text).expect_err(text);
        assert!(kind(&e) && e.to_string().contains(want), "{text}: {e}");
    }
}

#[test]
fn reader_against_writer() {
    let s = json!({"type": "string"});
    let i = json!({"type": "integer"});
    let n = json!({"type": "number"});
    let s_or_null = json!({"type": ["string", "null"]});
    let closed = |p: Value| {
        let mut o = obj(&p, &[]);
        o["additionalProperties"] = json!(false);
        o
    };
    // (writer, reader, expected reason fragment; "" = compatible)
    let cases: Vec<(Value, Value, &str)> = vec![
        (obj(&json!({"a": s}), &["a"]), obj(&json!({"a": s}), &["a"]), ""),
        // An optional property added, or one dropped, under open content.
        (obj(&json!({"a": s}), &["a"]), obj(&json!({"a": s, "b": i}), &["a"]), ""),
        (obj(&json!({"a": s, "b": i}), &["a"]), obj(&json!({"a": s}), &["a"]), ""),
        // integer is a number; not the reverse.
        (obj(&json!({"a": i}), &[]), obj(&json!({"a": n}), &[]), ""),
        (obj(&json!({"a": n}), &[]), obj(&json!({"a": i}), &[]), "field \"a\": the writer allows number, the reader allows only integer"),
        (obj(&json!({"a": s_or_null}), &[]), obj(&json!({"a": s}), &[]), "field \"a\": the writer allows null"),
        (obj(&json!({"a": s}), &[]), obj(&json!({"a": s_or_null}), &[]), ""),
        (obj(&json!({"a": {}}), &[]), obj(&json!({"a": s}), &[]), "field \"a\": the writer allows any type"),
        // Required.
        (obj(&json!({"a": s}), &[]), obj(&json!({"a": s}), &["a"]), "field \"a\": the reader requires it, the writer declares it optional"),
        (obj(&json!({}), &[]), obj(&json!({"b": s}), &["b"]), "field \"b\": the reader requires it, the writer does not declare it"),
        (obj(&json!({"a": s}), &["a"]), obj(&json!({"a": s}), &[]), ""),
        // Closed content.
        (obj(&json!({"a": s}), &[]), closed(json!({"a": s})), "the schema: the reader allows no properties beyond its own"),
        (closed(json!({"a": s, "b": s})), closed(json!({"a": s})), "field \"b\": the writer declares it, the reader allows no properties beyond its own"),
        (closed(json!({"a": s})), closed(json!({"a": s, "b": s})), ""),
        (closed(json!({"a": s})), obj(&json!({"a": s}), &[]), ""),
        (obj(&json!({"a": s}), &[]), json!({"type": "object", "additionalProperties": {"type": "string"}}), "field \"*\": the writer allows any type"),
        // Enums.
        (json!({"enum": ["a", "b"]}), json!({"enum": ["a", "b", "c"]}), ""),
        (json!({"enum": ["a", "b", "c"]}), json!({"enum": ["a", "b"]}), "the reader does not allow the writer's values [\"c\"]"),
        (s.clone(), json!({"type": "string", "enum": ["a"]}), "the reader allows only the values [\"a\"], the writer any"),
        (json!({"const": "a"}), json!({"enum": ["a", "b"]}), ""),
        // Bounds.
        (json!({"type": "string", "maxLength": 10}), json!({"type": "string", "maxLength": 20}), ""),
        (json!({"type": "string", "maxLength": 20}), json!({"type": "string", "maxLength": 10}), "the reader's maxLength 10 is tighter than the writer's (20)"),
        (json!({"type": "integer"}), json!({"type": "integer", "minimum": 0}), "the reader's minimum 0 is tighter than the writer's (none)"),
        (json!({"type": "integer", "minimum": 1}), json!({"type": "integer", "minimum": 0}), ""),
        // Nesting, items and local references.
        (obj(&json!({"o": obj(&json!({"x": n}), &[])}), &[]), obj(&json!({"o": obj(&json!({"x": i}), &[])}), &[]), "field \"o.x\": the writer allows number"),
        (json!({"type": "array", "items": n}), json!({"type": "array", "items": i}), "field \"[]\": the writer allows number"),
        (obj(&json!({"t": {"type": "array", "items": s}}), &[]), obj(&json!({"t": {"type": "array", "items": s}}), &[]), ""),
        (
            json!({"$defs": {"x": n}, "type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}}),
            json!({"definitions": {"y": i}, "type": "object", "properties": {"a": {"$ref": "#/definitions/y"}}}),
            "field \"a\": the writer allows number",
        ),
        (json!({"type": "array", "items": [s, i]}), json!({"type": "array", "items": [s]}), "\"items\" (a tuple) differs"),
        // A recursive schema compared with itself ends.
        (json!({"type": "object", "properties": {"child": {"$ref": "#"}, "v": s}}), json!({"type": "object", "properties": {"child": {"$ref": "#"}, "v": s}}), ""),
        // Combinators are compared as a whole.
        (json!({"anyOf": [s, i]}), json!({"anyOf": [s, i]}), ""),
        (json!({"anyOf": [s, i]}), json!({"anyOf": [s]}), "\"anyOf\" differs from the writer's"),
        // Booleans.
        (json!(true), json!(false), "the writer allows any type, the reader allows only nothing"),
        (json!(false), json!({"type": "string"}), ""),
        (json!(true), json!({"required": ["a"]}), "field \"a\": the reader requires it, the writer does not declare it"),
        (s.clone(), json!(true), ""),
    ];
    for (i, (writer, reader, want)) in cases.iter().enumerate() {
        let got = reads(writer, reader);
        if want.is_empty() {
            assert!(got.is_empty(), "case {i}: {got:?}");
        } else {
            assert!(got.iter().any(|g| g.contains(want)), "case {i}: want {want:?} in {got:?}");
        }
    }
}

#[test]
fn contract_coverage_names_the_field() {
    let c = contracts::parse("apiVersion: v3.1.0\nkind: DataContract\nid: flights\nversion: 1.0.0\nstatus: active\nschema:\n  - name: flights\n    properties:\n      - name: carrier\n        logicalType: string\n        required: true\n      - name: dep_delay\n        logicalType: integer\n").expect("contract");
    let ok = json!({"title": "flights", "type": "object", "properties": {"carrier": {"type": "string"}, "dep_delay": {"type": ["integer", "null"]}}, "required": ["carrier"]});
    assert!(contract_gaps(&c, &ok).is_empty(), "{:?}", contract_gaps(&c, &ok));
    let cases = [
        (json!({"type": "object", "properties": {"dep_delay": {"type": "integer"}}}), "carrier"),
        (json!({"type": "object", "properties": {"carrier": {"type": "string"}, "dep_delay": {"type": "string"}}, "required": ["carrier"]}), "dep_delay"),
    ];
    for (schema, want) in cases {
        let gaps = contract_gaps(&c, &schema);
        assert!(gaps.iter().any(|g| g.contains(want)), "{want}: {gaps:?}");
    }
}
