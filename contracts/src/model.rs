//! Typed model of the parts of an ODCS v3.0/v3.1 contract that the gate reads.
//!
//! Everything else in a contract (team, servers, pricing, …) is kept as raw JSON in the
//! `other` maps so a contract round-trips and lint can tell an unknown key from a known one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A whole ODCS document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    /// ODCS version of the document, e.g. `v3.1.0`.
    pub api_version: String,
    /// Always `DataContract`.
    pub kind: String,
    /// Contract id; stable across versions.
    pub id: String,
    /// Semantic version of this contract.
    pub version: String,
    /// Lifecycle status (`proposed`, `draft`, `active`, `deprecated`, `retired`).
    pub status: String,
    /// Human name.
    #[serde(default)]
    pub name: Option<String>,
    /// Schema objects (tables, topics).
    #[serde(default)]
    pub schema: Vec<SchemaObject>,
    /// Service-level agreements.
    #[serde(default)]
    pub sla_properties: Vec<SlaProperty>,
    /// Contract-level custom properties (gate settings live here).
    #[serde(default)]
    pub custom_properties: Vec<CustomProperty>,
    /// Every other top-level key, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One schema object: a table, a topic's value, a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaObject {
    /// Object name; SLA `element`s refer to `name.property`.
    pub name: String,
    /// Stable id.
    #[serde(default)]
    pub id: Option<String>,
    /// Always `object` when given.
    #[serde(default)]
    pub logical_type: Option<String>,
    /// Properties of the object.
    #[serde(default)]
    pub properties: Vec<Property>,
    /// Object-level quality rules (rowCount, multi-field duplicates, sql, …).
    #[serde(default)]
    pub quality: Vec<Quality>,
    /// Object-level custom properties.
    #[serde(default)]
    pub custom_properties: Vec<CustomProperty>,
    /// Every other key, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// ODCS logical types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogicalType {
    /// Text.
    String,
    /// Calendar date, `YYYY-MM-DD`.
    Date,
    /// Instant, RFC 3339.
    Timestamp,
    /// Time of day.
    Time,
    /// Any number.
    Number,
    /// Whole number.
    Integer,
    /// Nested object.
    Object,
    /// List.
    Array,
    /// true/false.
    Boolean,
}

impl LogicalType {
    /// Name as written in contracts.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Date => "date",
            Self::Timestamp => "timestamp",
            Self::Time => "time",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Object => "object",
            Self::Array => "array",
            Self::Boolean => "boolean",
        }
    }
}

/// A property (column, field), possibly nested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    /// Field name as it appears in records. Array item definitions may omit it.
    #[serde(default)]
    pub name: String,
    /// Stable id.
    #[serde(default)]
    pub id: Option<String>,
    /// Logical type; a property without one accepts any value.
    #[serde(default)]
    pub logical_type: Option<LogicalType>,
    /// Type options (ranges, lengths, pattern, format).
    #[serde(default)]
    pub logical_type_options: Option<LogicalTypeOptions>,
    /// ODCS `required`: the value may not be null (and, in records, not absent).
    #[serde(default)]
    pub required: bool,
    /// Values must be unique.
    #[serde(default)]
    pub unique: bool,
    /// Part of the primary key.
    #[serde(default)]
    pub primary_key: bool,
    /// Nested properties of an object.
    #[serde(default)]
    pub properties: Vec<Property>,
    /// Item definition of an array.
    #[serde(default)]
    pub items: Option<Box<Property>>,
    /// Property-level quality rules.
    #[serde(default)]
    pub quality: Vec<Quality>,
    /// Property-level custom properties (distribution baselines live here).
    #[serde(default)]
    pub custom_properties: Vec<CustomProperty>,
    /// Every other key, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `logicalTypeOptions`; which keys apply depends on the logical type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogicalTypeOptions {
    /// Inclusive lower bound (a number, or a date/timestamp string).
    #[serde(default)]
    pub minimum: Option<Value>,
    /// Inclusive upper bound.
    #[serde(default)]
    pub maximum: Option<Value>,
    /// Exclusive lower bound.
    #[serde(default)]
    pub exclusive_minimum: Option<Value>,
    /// Exclusive upper bound.
    #[serde(default)]
    pub exclusive_maximum: Option<Value>,
    /// Numbers must be multiples of this.
    #[serde(default)]
    pub multiple_of: Option<f64>,
    /// Minimum string length in characters.
    #[serde(default)]
    pub min_length: Option<u64>,
    /// Maximum string length in characters.
    #[serde(default)]
    pub max_length: Option<u64>,
    /// Regular expression the whole string must match somewhere (ECMA-262 semantics).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Format: `email`, `uuid`, `date-time`, `date`, … for strings; `i32`, `f64`, … for numbers.
    #[serde(default)]
    pub format: Option<String>,
    /// Whether timestamps carry a zone.
    #[serde(default)]
    pub timezone: Option<bool>,
    /// Zone assumed when a timestamp has none.
    #[serde(default)]
    pub default_timezone: Option<String>,
    /// Minimum array length.
    #[serde(default)]
    pub min_items: Option<u64>,
    /// Maximum array length.
    #[serde(default)]
    pub max_items: Option<u64>,
    /// Array items must be distinct.
    #[serde(default)]
    pub unique_items: Option<bool>,
    /// Minimum number of object keys.
    #[serde(default)]
    pub min_properties: Option<u64>,
    /// Maximum number of object keys.
    #[serde(default)]
    pub max_properties: Option<u64>,
    /// Object keys that must be present.
    #[serde(default)]
    pub required: Option<Vec<String>>,
}

/// A quality rule, any type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Quality {
    /// Stable id; becomes the rule id.
    #[serde(default)]
    pub id: Option<String>,
    /// Human name.
    #[serde(default)]
    pub name: Option<String>,
    /// `library` (default), `sql`, `custom` or `text`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Library metric.
    #[serde(default)]
    pub metric: Option<String>,
    /// Deprecated spelling of `metric`.
    #[serde(default)]
    pub rule: Option<String>,
    /// `rows` or `percent`.
    #[serde(default)]
    pub unit: Option<String>,
    /// Metric arguments (`validValues`, `pattern`, `missingValues`, `properties`).
    #[serde(default)]
    pub arguments: Option<Map<String, Value>>,
    /// `mustBe` operand (any type in ODCS; the gate needs a number).
    #[serde(default)]
    pub must_be: Option<Value>,
    /// `mustNotBe` operand.
    #[serde(default)]
    pub must_not_be: Option<Value>,
    /// `mustBeGreaterThan` operand.
    #[serde(default)]
    pub must_be_greater_than: Option<f64>,
    /// `mustBeGreaterOrEqualTo` operand.
    #[serde(default)]
    pub must_be_greater_or_equal_to: Option<f64>,
    /// `mustBeLessThan` operand.
    #[serde(default)]
    pub must_be_less_than: Option<f64>,
    /// `mustBeLessOrEqualTo` operand.
    #[serde(default)]
    pub must_be_less_or_equal_to: Option<f64>,
    /// `mustBeBetween` bounds.
    #[serde(default)]
    pub must_be_between: Option<Vec<f64>>,
    /// `mustNotBeBetween` bounds.
    #[serde(default)]
    pub must_not_be_between: Option<Vec<f64>>,
    /// Severity; informational to the gate.
    #[serde(default)]
    pub severity: Option<String>,
    /// Every other key (description, dimension, query, engine, …), kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An SLA entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaProperty {
    /// `latency`, `freshness`, `frequency`, `retention`, …
    pub property: String,
    /// Agreement value.
    pub value: Value,
    /// Unit (`d`, `h`, `m`, `s`, `ms`, `y`, …).
    #[serde(default)]
    pub unit: Option<String>,
    /// `object.property` the SLA applies to.
    #[serde(default)]
    pub element: Option<String>,
    /// Stable id.
    #[serde(default)]
    pub id: Option<String>,
    /// Every other key, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A custom property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomProperty {
    /// Key, camelCase.
    pub property: String,
    /// Value, any JSON.
    pub value: Value,
    /// Every other key, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Looks up a custom property by key.
#[must_use]
pub fn custom<'a>(props: &'a [CustomProperty], key: &str) -> Option<&'a Value> {
    props.iter().find(|p| p.property == key).map(|p| &p.value)
}
