//! Parsing ODCS YAML or JSON text into the typed model, with precise locations.

use crate::error::{ContractError, Problem};
use crate::model::Contract;
use serde_json::Value;

/// `apiVersion`s the gate reads.
pub const SUPPORTED_API_VERSIONS: &[&str] = &["v3.0.0", "v3.0.1", "v3.0.2", "v3.1.0"];

/// Parses a contract from YAML (JSON is valid YAML, so both work).
///
/// # Errors
/// [`ContractError::Parse`] naming the path (`schema[0].properties[3].quality[0].mustBeLessThan`),
/// the line when the parser knows it, and the reason.
pub fn parse(text: &str) -> Result<Contract, ContractError> {
    let raw: Value = serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| ContractError::Parse {
        problem: Problem { line: e.location().map(|l| l.line()), ..Problem::error("", syntax_reason(&e)) },
    })?;
    from_value(raw, Some(text))
}

/// Builds a contract from an already-parsed JSON value. `text`, when given, is the source the
/// value came from; it is only read again to attach a line number to an error.
///
/// # Errors
/// As [`parse`].
pub fn from_value(raw: Value, text: Option<&str>) -> Result<Contract, ContractError> {
    if !raw.is_object() {
        return Err(ContractError::Parse {
            problem: Problem::error("", "a contract must be a mapping with apiVersion, kind, id, version and status"),
        });
    }
    let contract: Contract = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let line = text.and_then(|t| {
            serde_saphyr::from_str_with_options::<Contract>(t, yaml_options()).err().and_then(|e| e.location().map(|l| l.line()))
        });
        ContractError::Parse { problem: Problem { line, ..Problem::error(path, clean(&e.into_inner().to_string())) } }
    })?;
    if !SUPPORTED_API_VERSIONS.contains(&contract.api_version.as_str()) {
        return Err(ContractError::Parse {
            problem: Problem::error(
                "apiVersion",
                format!("unsupported ODCS version {:?}; expected one of {}", contract.api_version, SUPPORTED_API_VERSIONS.join(", ")),
            ),
        });
    }
    if contract.kind != "DataContract" {
        return Err(ContractError::Parse {
            problem: Problem::error("kind", format!("expected DataContract, found {:?}", contract.kind)),
        });
    }
    Ok(contract)
}

/// YAML 1.2 booleans only: ODCS writes units such as `y` (years), which YAML 1.1 reads as true.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

fn syntax_reason(e: &serde_saphyr::Error) -> String {
    format!("not valid YAML: {}", clean(&e.to_string()))
}

/// Serde messages for a float field say `f64`; users write contracts, not Rust.
fn clean(msg: &str) -> String {
    // "invalid type: string \"x\", expected f64" reads better as "expected a number, found …".
    let msg = match msg.strip_prefix("invalid type: ").and_then(|m| m.split_once(", expected ")) {
        Some((found, expected)) => format!("expected {expected}, found {found}"),
        None => msg.to_string(),
    };
    msg.replace("expected f64", "expected a number")
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected a sequence", "expected a list")
        .replace("expected a boolean", "expected true or false")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\n";

    #[test]
    fn rejects_with_path_and_reason() {
        let cases = [
            (
                "schema:\n  - name: t\n    properties:\n      - name: a\n        quality:\n          - metric: nullValues\n            mustBeLessThan: three\n",
                "schema[0].properties[0].quality[0].mustBeLessThan",
                "expected a number",
            ),
            ("schema:\n  - name: t\n    properties:\n      - name: a\n        logicalType: text\n", "schema[0].properties[0].logicalType", "unknown variant"),
            ("schema:\n  - name: t\n    properties:\n      - name: a\n        required: maybe\n", "schema[0].properties[0].required", "expected true or false"),
            ("schema: 5\n", "schema", "expected a list"),
        ];
        for (body, path, reason) in cases {
            let err = parse(&format!("{HEAD}{body}")).expect_err(body);
            let p = &err.problems()[0];
            assert_eq!(p.path, path, "{body}");
            assert!(p.message.contains(reason), "{} lacks {reason}", p.message);
        }
    }

    #[test]
    fn header_checks() {
        let err = parse("apiVersion: v2.2.0\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\n").expect_err("old");
        assert_eq!(err.problems()[0].path, "apiVersion");
        let err = parse("apiVersion: v3.1.0\nkind: DataContract\nversion: 1.0.0\nstatus: active\n").expect_err("no id");
        assert!(err.to_string().contains("missing field `id`"), "{err}");
        let err = parse("a: [1,\n").expect_err("syntax");
        assert!(err.to_string().contains("not valid YAML"), "{err}");
        assert!(err.problems()[0].line.is_some());
    }

    #[test]
    fn accepts_v3_0_and_json() {
        assert!(parse(&HEAD.replace("v3.1.0", "v3.0.2")).is_ok());
        let json = r#"{"apiVersion":"v3.1.0","kind":"DataContract","id":"t","version":"1.0.0","status":"active","schema":[]}"#;
        assert!(parse(json).is_ok());
    }
}
