//! Can a Protobuf message type carry a contract? The rule Avro writer schemas are judged by
//! (`crate::avro::conforms`): every contract property is a field (by name, at every depth)
//! whose values the property's logical type accepts, and fields the contract does not name are
//! drift unless it allows extra fields. Nullability is left to the record checks: a field with
//! presence that is not set is missing from the record, which `required` fails.

use crate::avro::shape::Shape;
use crate::avro::{Mismatch, MismatchKind};
use crate::model::{LogicalType, Property};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

/// Whether `m` can carry records of `contract`'s checked schema object; empty when it can.
#[must_use]
pub fn conforms(contract: &crate::CompiledContract, m: &MessageDescriptor) -> Vec<Mismatch> {
    let mut out = Vec::new();
    message("", m, &Shape::from_contract(contract), contract.allows_extra_fields(), &mut out, 0);
    out
}

/// [`conforms`] for a list of top-level properties (a contract that is not compiled).
#[must_use]
pub fn conforms_properties(props: &[Property], allow_extra: bool, m: &MessageDescriptor) -> Vec<Mismatch> {
    let mut out = Vec::new();
    message("", m, &props.iter().map(Shape::from_property).collect::<Vec<_>>(), allow_extra, &mut out, 0);
    out
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

fn message(path: &str, m: &MessageDescriptor, props: &[Shape], allow_extra: bool, out: &mut Vec<Mismatch>, depth: usize) {
    if depth > 64 {
        return; // a recursive message deeper than any contract: nothing left to compare
    }
    for p in props {
        let field = join(path, &p.name);
        match m.get_field_by_name(&p.name) {
            None => out.push(Mismatch { field, kind: MismatchKind::Missing }),
            Some(f) => typed(&field, &f, p, allow_extra, out, depth + 1),
        }
    }
    if !allow_extra {
        for f in m.fields() {
            if !props.iter().any(|p| p.name == f.name()) {
                out.push(Mismatch { field: join(path, f.name()), kind: MismatchKind::Extra });
            }
        }
    }
}

fn typed(field: &str, f: &FieldDescriptor, p: &Shape, allow_extra: bool, out: &mut Vec<Mismatch>, depth: usize) {
    let Some(ty) = p.ty else {
        if let (Kind::Message(m), false, false) = (f.kind(), f.is_list() || f.is_map(), p.props.is_empty()) {
            message(field, &m, &p.props, allow_extra, out, depth);
        }
        return;
    };
    let mismatch = |out: &mut Vec<Mismatch>| out.push(Mismatch { field: field.to_string(), kind: MismatchKind::Type { expected: ty.as_str(), found: describe(f) } });
    if f.is_map() {
        if !(ty == LogicalType::Object && p.props.is_empty()) {
            mismatch(out);
        }
        return;
    }
    if f.is_list() {
        if ty != LogicalType::Array {
            mismatch(out);
        } else if let Some(items) = &p.items {
            item(&format!("{field}[]"), f, items, allow_extra, out, depth + 1);
        }
        return;
    }
    if ty == LogicalType::Array {
        mismatch(out);
        return;
    }
    item(field, f, p, allow_extra, out, depth);
}

/// One value of `f` (an element, for a repeated field) against `p`.
fn item(field: &str, f: &FieldDescriptor, p: &Shape, allow_extra: bool, out: &mut Vec<Mismatch>, depth: usize) {
    let Some(ty) = p.ty else { return };
    let kind = f.kind();
    if !accepts(ty, &kind) {
        out.push(Mismatch { field: field.to_string(), kind: MismatchKind::Type { expected: ty.as_str(), found: kind_name(&kind) } });
        return;
    }
    if let (LogicalType::Object, Kind::Message(m)) = (ty, &kind) {
        message(field, m, &p.props, allow_extra, out, depth);
    }
}

/// Whether every value of `k` has the JSON form (see `value.rs`) the logical type accepts.
fn accepts(ty: LogicalType, k: &Kind) -> bool {
    use Kind as K;
    let wrapped = |names: &[&str]| matches!(k, K::Message(m) if names.contains(&m.full_name()));
    let int = matches!(k, K::Int32 | K::Int64 | K::Uint32 | K::Uint64 | K::Sint32 | K::Sint64 | K::Fixed32 | K::Fixed64 | K::Sfixed32 | K::Sfixed64)
        || wrapped(&["google.protobuf.Int32Value", "google.protobuf.Int64Value", "google.protobuf.UInt32Value", "google.protobuf.UInt64Value"]);
    let timestamp = wrapped(&["google.protobuf.Timestamp"]);
    let string = matches!(k, K::String | K::Enum(_)) || wrapped(&["google.protobuf.StringValue"]);
    match ty {
        LogicalType::Integer => int,
        LogicalType::Number => int || matches!(k, K::Float | K::Double) || wrapped(&["google.protobuf.FloatValue", "google.protobuf.DoubleValue"]),
        LogicalType::String => string,
        LogicalType::Boolean => matches!(k, K::Bool) || wrapped(&["google.protobuf.BoolValue"]),
        LogicalType::Timestamp | LogicalType::Date => string || timestamp,
        LogicalType::Time => string,
        LogicalType::Object => matches!(k, K::Message(m) if !m.full_name().starts_with("google.protobuf.")),
        LogicalType::Array => false,
    }
}

fn describe(f: &FieldDescriptor) -> String {
    let k = kind_name(&f.kind());
    if f.is_map() {
        "map".into()
    } else if f.is_list() {
        format!("repeated {k}")
    } else {
        k
    }
}

fn kind_name(k: &Kind) -> String {
    match k {
        Kind::Message(m) => m.full_name().to_string(),
        Kind::Enum(e) => format!("enum {}", e.full_name()),
        other => format!("{other:?}").to_lowercase(),
    }
}
