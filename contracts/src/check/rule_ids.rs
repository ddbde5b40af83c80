//! Rule ids of the record checks a compiled JSON Schema makes: the name a violation is
//! reported under ([`schema_rule`] + [`keyword_rule`]) and the list of every id a schema can
//! report ([`schema_rule_ids`], for reports that show passing rules too). They live together
//! so the two cannot name a rule differently.

use serde_json::Value;
use std::collections::BTreeSet;

/// The rule name of a JSON Schema keyword: ODCS calls the type check `logicalType`.
pub(super) fn keyword_rule(keyword: &str) -> &str {
    match keyword {
        "type" => "logicalType",
        k => k,
    }
}

/// Schema path `/properties/a/items/properties/b/type` → (`a[].b`, `type`).
pub(super) fn schema_rule(schema_path: &str) -> (String, String) {
    let segs: Vec<&str> = schema_path.split('/').skip(1).collect();
    let keyword = segs.last().copied().unwrap_or_default();
    let keyword = if keyword.parse::<usize>().is_ok() && segs.len() >= 2 { segs[segs.len() - 2] } else { keyword };
    let mut field = String::new();
    let mut i = 0;
    while i < segs.len() {
        match segs[i] {
            // The segment after `properties` is a property name unless it is the keyword itself.
            "properties" if i + 1 < segs.len() - 1 => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(segs[i + 1]);
                i += 2;
            }
            "items" => {
                field.push_str("[]");
                i += 1;
            }
            _ => i += 1,
        }
    }
    (field, keyword.to_string())
}

/// The ids of the record checks a compiled JSON Schema makes, named as the checker names their
/// violations: `field.logicalType` for `type`, `field.required` for each required name,
/// `$.extraFields` / `field.extraFields` where no other keys are allowed, `field.<keyword>`
/// for the other keywords, `a[].b` inside array items. Sorted, without duplicates.
#[must_use]
pub fn schema_rule_ids(schema: &Value) -> Vec<String> {
    let mut out = BTreeSet::new();
    walk(schema, "", &mut out);
    out.into_iter().collect()
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn walk(schema: &Value, field: &str, out: &mut BTreeSet<String>) {
    let Some(map) = schema.as_object() else { return };
    for (key, v) in map {
        match key.as_str() {
            "properties" => {
                for (name, sub) in v.as_object().into_iter().flatten() {
                    walk(sub, &join(field, name), out);
                }
            }
            "items" => walk(v, &format!("{field}[]"), out),
            "required" => {
                for name in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    out.insert(format!("{}.required", join(field, name)));
                }
            }
            "additionalProperties" if v == &Value::Bool(false) => {
                out.insert(if field.is_empty() { "$.extraFields".to_string() } else { format!("{field}.extraFields") });
            }
            "additionalProperties" => {}
            // The record itself is an object by construction; its `type` is no rule of the contract.
            _ if field.is_empty() => {}
            other => {
                out.insert(format!("{field}.{}", keyword_rule(other)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_rule_ids_follow_the_checkers_naming() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["id", "tags"],
            "additionalProperties": false,
            "properties": {
                "id": { "type": "integer", "minimum": 1 },
                "name": { "type": ["string", "null"], "pattern": "^[a-z]+$", "maxLength": 8 },
                "tags": { "type": "array", "items": { "type": "object", "required": ["k"], "additionalProperties": false, "properties": { "k": { "type": "string" } } } },
                "meta": { "type": "object", "additionalProperties": true, "properties": {} }
            }
        });
        let want = [
            "$.extraFields", "id.logicalType", "id.minimum", "id.required", "meta.logicalType", "name.logicalType", "name.maxLength", "name.pattern",
            "tags.logicalType", "tags.required", "tags[].extraFields", "tags[].k.logicalType", "tags[].k.required", "tags[].logicalType",
        ];
        assert_eq!(schema_rule_ids(&schema), want);
    }

    /// Every keyword path of a schema names, through [`schema_rule`], an id [`schema_rule_ids`] lists.
    #[test]
    fn every_violation_name_is_listed() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "a": { "type": "array", "items": { "type": "object", "properties": { "b": { "type": "integer", "minimum": 0 } } } },
                "c": { "type": ["string", "null"], "pattern": "^x" }
            }
        });
        let ids = schema_rule_ids(&schema);
        for path in ["/properties/a/type", "/properties/a/items/type", "/properties/a/items/properties/b/type", "/properties/a/items/properties/b/minimum", "/properties/c/type/0", "/properties/c/pattern"] {
            let (field, kw) = schema_rule(path);
            let id = format!("{field}.{}", keyword_rule(&kw));
            assert!(ids.contains(&id), "{path} → {id} not in {ids:?}");
        }
    }
}
