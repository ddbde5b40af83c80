//! The Protobuf rules of the Schema Registry subset, pure: whether a reader schema reads every
//! message a writer schema writes, on the wire, and whether a schema's message can carry a
//! contract's records. Schemas are compiled by `contracts::protobuf::ProtoSchema` (`.proto`
//! text, or base64 of a `FileDescriptorProto` as Confluent's Python serializer registers it).
//!
//! Compatibility ([`reads`]) compares message types by full name (nested ones too) and their
//! fields by number, as the wire does; each of these is a reason, naming the message and the
//! field:
//!
//! * the first message type differs: it is the message a subject describes (serializers of
//!   one class write it at index 0), so another one is another record type;
//! * a message type of the writer is missing in the reader (Confluent: `MESSAGE_REMOVED`): a
//!   payload's message indexes may name it;
//! * a field's type changes outside the groups the wire reads alike: {int32, uint32, int64,
//!   uint64, bool}, {sint32, sint64}, {fixed32, sfixed32}, {fixed64, sfixed64}, {string,
//!   bytes}; an enum or message field must keep its type's full name;
//! * a field changes between repeated and singular, or moves into, out of or between oneofs
//!   (a proto3 `optional`'s synthetic oneof does not count: it only marks presence).
//!
//! Fields added or removed, and renamed fields with the same number, are compatible: readers
//! skip unknown numbers and default missing ones, which is proto3's evolution model.

use crate::avro_rules::compiled_object;
use contracts::protobuf::{MessageDescriptor, ProtoSchema};
use contracts::Contract;
use prost_reflect::{Cardinality, FieldDescriptor, Kind};
use std::collections::BTreeMap;

/// Every reason `reader` cannot read messages written with `writer` (empty when it can), by
/// the rules in the module doc.
#[must_use]
pub fn reads(writer: &ProtoSchema, reader: &ProtoSchema) -> Vec<String> {
    let mut out = Vec::new();
    match (writer.first_message(), reader.first_message()) {
        (Some(w), Some(r)) if w.full_name() != r.full_name() => out.push(format!("the first message type changed from {} to {}: it is the message the subject describes", w.full_name(), r.full_name())),
        (Some(w), None) => out.push(format!("the reader has no message type; the writer writes {}", w.full_name())),
        _ => {}
    }
    let readers = messages(reader);
    for (name, w) in messages(writer) {
        match readers.get(&name) {
            Some(r) => fields(&w, r, &mut out),
            None => out.push(format!("message {name}: removed (the writer's messages may name it)")),
        }
    }
    out
}

/// Every message type of the schema's file, nested ones too, by full name.
fn messages(s: &ProtoSchema) -> BTreeMap<String, MessageDescriptor> {
    fn walk(m: MessageDescriptor, out: &mut BTreeMap<String, MessageDescriptor>) {
        for child in m.child_messages() {
            walk(child, out);
        }
        out.insert(m.full_name().to_string(), m);
    }
    let mut out = BTreeMap::new();
    for m in s.file().messages() {
        walk(m, &mut out);
    }
    out
}

/// Wire group of a scalar kind: kinds of one group read each other's values.
fn group(k: &Kind) -> Option<u8> {
    Some(match k {
        Kind::Int32 | Kind::Uint32 | Kind::Int64 | Kind::Uint64 | Kind::Bool => 0,
        Kind::Sint32 | Kind::Sint64 => 1,
        Kind::Fixed32 | Kind::Sfixed32 => 2,
        Kind::Fixed64 | Kind::Sfixed64 => 3,
        Kind::String | Kind::Bytes => 4,
        Kind::Double => 5,
        Kind::Float => 6,
        Kind::Message(_) | Kind::Enum(_) => return None,
    })
}

fn kind_name(k: &Kind) -> String {
    match k {
        Kind::Message(m) => m.full_name().to_string(),
        Kind::Enum(e) => e.full_name().to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn same_wire_type(w: &Kind, r: &Kind) -> bool {
    match (w, r) {
        (Kind::Message(a), Kind::Message(b)) => a.full_name() == b.full_name(),
        (Kind::Enum(a), Kind::Enum(b)) => a.full_name() == b.full_name(),
        (a, b) => group(a).is_some() && group(a) == group(b),
    }
}

/// The real oneof a field belongs to (a proto3 `optional` is in a synthetic one).
fn oneof(f: &FieldDescriptor) -> Option<String> {
    f.containing_oneof().filter(|o| !o.is_synthetic()).map(|o| o.name().to_string())
}

fn fields(w: &MessageDescriptor, r: &MessageDescriptor, out: &mut Vec<String>) {
    for wf in w.fields() {
        let Some(rf) = r.get_field(wf.number()) else { continue };
        let at = format!("message {} field {} (number {})", r.full_name(), rf.name(), wf.number());
        let (wk, rk) = (wf.kind(), rf.kind());
        if !same_wire_type(&wk, &rk) {
            out.push(format!("{at}: type changed from {} to {}, which the wire does not read alike", kind_name(&wk), kind_name(&rk)));
        }
        let repeated = |f: &FieldDescriptor| f.cardinality() == Cardinality::Repeated;
        if repeated(&wf) != repeated(&rf) {
            let say = |f: &FieldDescriptor| if repeated(f) { "repeated" } else { "singular" };
            out.push(format!("{at}: changed from {} to {}", say(&wf), say(&rf)));
        }
        match (oneof(&wf), oneof(&rf)) {
            (a, b) if a == b => {}
            (None, Some(b)) => out.push(format!("{at}: moved into oneof {b}")),
            (Some(a), None) => out.push(format!("{at}: moved out of oneof {a}")),
            (Some(a), Some(b)) => out.push(format!("{at}: moved from oneof {a} to oneof {b}")),
            (None, None) => {}
        }
    }
}

/// Checks that the schema's first message type can carry records of `contract`, judged
/// against the schema object named like the message (else the contract's first object), by
/// the sidecar's rule (`contracts::protobuf::conforms`). Returns every problem, each naming
/// the field; a schema without a message type cannot carry anything.
#[must_use]
pub fn contract_gaps(contract: &Contract, schema: &ProtoSchema) -> Vec<String> {
    let Some(m) = schema.first_message() else {
        return vec![format!("contract {} describes records, but this Protobuf schema declares no message type", contract.id)];
    };
    match compiled_object(contract, Some(m.name())) {
        Ok(Some(compiled)) => contracts::protobuf::conforms(&compiled, &m).iter().map(ToString::to_string).collect(),
        Ok(None) => Vec::new(),
        Err(e) => vec![e],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(body: &str) -> ProtoSchema {
        ProtoSchema::parse(&format!("syntax = \"proto3\";\npackage nyc;\n{body}")).expect("schema")
    }

    const V1: &str = "message Flight { string carrier = 1; int32 delay = 2; repeated string tags = 3; Leg leg = 4; }\nmessage Leg { string origin = 1; }";

    #[test]
    fn reader_against_writer() {
        // (writer, reader, expected reason fragment; "" = compatible)
        let cases: [(&str, &str, &str); 14] = [
            (V1, V1, ""),
            // Added and removed fields, renamed fields: the wire does not care.
            (V1, "message Flight { string carrier = 1; int32 delay = 2; repeated string tags = 3; Leg leg = 4; bool late = 5; }\nmessage Leg { string origin = 1; }", ""),
            (V1, "message Flight { string carrier = 1; }\nmessage Leg { string origin = 1; }", ""),
            (V1, "message Flight { string airline = 1; int32 delay = 2; repeated string tags = 3; Leg leg = 4; }\nmessage Leg { string origin = 1; }", ""),
            // Wire-compatible groups.
            (V1, "message Flight { bytes carrier = 1; int64 delay = 2; repeated string tags = 3; Leg leg = 4; }\nmessage Leg { string origin = 1; }", ""),
            (V1, "message Flight { string carrier = 1; sint32 delay = 2; repeated string tags = 3; Leg leg = 4; }\nmessage Leg { string origin = 1; }", "message nyc.Flight field delay (number 2): type changed from int32 to sint32"),
            (V1, "message Flight { string carrier = 1; double delay = 2; repeated string tags = 3; Leg leg = 4; }\nmessage Leg { string origin = 1; }", "type changed from int32 to double"),
            (V1, "message Flight { string carrier = 1; int32 delay = 2; repeated string tags = 3; Other leg = 4; }\nmessage Leg { string origin = 1; }\nmessage Other { string origin = 1; }", "type changed from nyc.Leg to nyc.Other"),
            // Cardinality and oneofs.
            (V1, "message Flight { string carrier = 1; int32 delay = 2; string tags = 3; Leg leg = 4; }\nmessage Leg { string origin = 1; }", "field tags (number 3): changed from repeated to singular"),
            (V1, "message Flight { oneof who { string carrier = 1; string pilot = 9; } int32 delay = 2; repeated string tags = 3; Leg leg = 4; }\nmessage Leg { string origin = 1; }", "field carrier (number 1): moved into oneof who"),
            (V1, "message Flight { optional string carrier = 1; int32 delay = 2; repeated string tags = 3; Leg leg = 4; }\nmessage Leg { string origin = 1; }", ""),
            // Message types removed, or the first one replaced.
            (V1, "message Flight { string carrier = 1; int32 delay = 2; repeated string tags = 3; }", "message nyc.Leg: removed"),
            (V1, "message Leg { string origin = 1; }\nmessage Flight { string carrier = 1; int32 delay = 2; repeated string tags = 3; Leg leg = 4; }", "the first message type changed from nyc.Flight to nyc.Leg"),
            ("message Flight { string carrier = 1; message Inner { int32 x = 1; } Inner inner = 2; }", "message Flight { string carrier = 1; message Inner { string x = 1; } Inner inner = 2; }", "message nyc.Flight.Inner field x (number 1): type changed from int32 to string"),
        ];
        for (i, (w, r, want)) in cases.iter().enumerate() {
            let got = reads(&schema(w), &schema(r));
            if want.is_empty() {
                assert!(got.is_empty(), "case {i}: {got:?}");
            } else {
                assert!(got.iter().any(|g| g.contains(want)), "case {i}: want {want:?} in {got:?}");
            }
        }
    }

    #[test]
    fn contract_coverage_names_the_field() {
        let c = contracts::parse("apiVersion: v3.1.0\nkind: DataContract\nid: flights\nversion: 1.0.0\nstatus: active\nschema:\n  - name: flights\n    properties:\n      - name: carrier\n        logicalType: string\n        required: true\n").expect("contract");
        assert!(contract_gaps(&c, &schema("message Flight { string carrier = 1; }")).is_empty());
        let gaps = contract_gaps(&c, &schema("message Flight { int32 delay = 1; }"));
        assert!(gaps.iter().any(|g| g.contains("carrier")), "{gaps:?}");
        let gaps = contract_gaps(&c, &schema("enum E { A = 0; }"));
        assert!(gaps.iter().any(|g| g.contains("declares no message type")), "{gaps:?}");
    }
}
