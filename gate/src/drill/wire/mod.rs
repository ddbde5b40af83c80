//! Drills on bindings in a Confluent wire format (magic byte 0, 4-byte schema id, then an
//! Avro body, a JSON Schema record, or Protobuf message indexes and a message), as a producer
//! with a registry-aware serializer writes them.
//!
//! Pure, like the injectors: [`drift`] derives the writer schema a broken producer would
//! register for a fault (a field retyped, renamed, dropped or added; an enum symbol more; a
//! field made nullable) in the binding's format ([`avro`], [`json_schema`], [`protobuf`]),
//! [`Base::refuses`] says whether the gate would take that schema as drift, and [`Writers`]
//! turns good and broken records into wire-format bytes. Reading the baseline's schema and
//! registering drifted ones is [`registry`].

pub mod avro;
pub mod json_schema;
pub mod protobuf;
pub mod registry;

#[cfg(test)]
mod tests;

use super::faults::{garbage, mix, Applied, Ctx, Fault, Out};
use crate::config::PayloadFormat;
use contracts::avro::{Mismatch, Schema, HEADER_LEN};
use contracts::protobuf::{MessageDescriptor, ProtoSchema};
use contracts::CompiledContract;
use prost_reflect::prost_types::FileDescriptorProto;
use serde_json::Value;
use std::sync::Arc;

/// The wire formats a drill writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Avro bodies.
    Avro,
    /// JSON records under a JSON Schema.
    JsonSchema,
    /// Protobuf messages.
    Protobuf,
}

impl Format {
    /// The wire format a binding reads; `None` for plain JSON.
    #[must_use]
    pub fn of(f: PayloadFormat) -> Option<Self> {
        match f {
            PayloadFormat::Json => None,
            PayloadFormat::Avro => Some(Self::Avro),
            PayloadFormat::JsonSchema => Some(Self::JsonSchema),
            PayloadFormat::Protobuf => Some(Self::Protobuf),
        }
    }

    /// The registry's `schemaType`.
    #[must_use]
    pub fn schema_type(self) -> &'static str {
        match self {
            Self::Avro => "AVRO",
            Self::JsonSchema => "JSON",
            Self::Protobuf => "PROTOBUF",
        }
    }

    /// Name for messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Avro => "Avro",
            Self::JsonSchema => "JSON Schema",
            Self::Protobuf => "Protobuf",
        }
    }
}

/// A writer schema in the form a drift edits it: Avro and JSON Schema as JSON, Protobuf as
/// its file descriptor.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    /// An Avro schema.
    Avro(Value),
    /// A JSON Schema.
    JsonSchema(Value),
    /// A Protobuf schema file (boxed: a descriptor is several times a JSON value's size).
    Protobuf(Box<FileDescriptorProto>),
}

impl Doc {
    /// Its format.
    #[must_use]
    pub fn format(&self) -> Format {
        match self {
            Self::Avro(_) => Format::Avro,
            Self::JsonSchema(_) => Format::JsonSchema,
            Self::Protobuf(_) => Format::Protobuf,
        }
    }

    /// The text registered: JSON, or the descriptor serialized in base64 (which the
    /// registries and the gate take as a Protobuf schema, and which needs no `.proto` printer).
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::Avro(v) | Self::JsonSchema(v) => v.to_string(),
            Self::Protobuf(d) => protobuf::serialized(d),
        }
    }

    /// A short stable digest of the schema, naming the drill's own subject for it.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.text().as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The schema ready to encode records, as registered under `id`.
    ///
    /// # Errors
    /// A schema that does not parse or compile.
    pub fn writer(&self, id: u32) -> Result<Writer, String> {
        Writer::parse(self.format(), id, &self.text())
    }
}

/// A writer schema ready to encode records.
#[derive(Debug, Clone)]
pub enum Codec {
    /// Avro.
    Avro(Schema),
    /// JSON Schema: the schema the records must fit.
    JsonSchema(Value),
    /// Protobuf: the message written (indexes `[0]`).
    Protobuf(MessageDescriptor),
}

/// A registered writer schema.
#[derive(Debug, Clone)]
pub struct Writer {
    /// Its id in the registry.
    pub id: u32,
    /// The parsed schema.
    pub codec: Codec,
}

impl Writer {
    /// Parses `text` as the `format` schema registered under `id`.
    ///
    /// # Errors
    /// The parser's or compiler's message.
    pub fn parse(format: Format, id: u32, text: &str) -> Result<Self, String> {
        let codec = match format {
            Format::Avro => Codec::Avro(avro::parse(id, text)?),
            Format::JsonSchema => {
                let v: Value = serde_json::from_str(text).map_err(|e| format!("schema id {id} is not a usable JSON Schema: {e}"))?;
                Codec::JsonSchema(v)
            }
            Format::Protobuf => {
                let s = ProtoSchema::parse(text).map_err(|e| format!("schema id {id}: {e}"))?;
                Codec::Protobuf(s.first_message().ok_or_else(|| format!("schema id {id} defines no message"))?)
            }
        };
        Ok(Self { id, codec })
    }

    /// `rec` in the wire format with this schema.
    ///
    /// # Errors
    /// A field that does not fit the schema, named.
    pub fn encode(&self, rec: &Value) -> Result<Vec<u8>, String> {
        match &self.codec {
            Codec::Avro(s) => avro::encode(self.id, s, rec),
            Codec::JsonSchema(s) => json_schema::encode(self.id, s, rec),
            Codec::Protobuf(m) => protobuf::encode(self.id, m, rec),
        }
    }

    /// Whether the gate would refuse this schema for `contract`, and why.
    fn mismatches(&self, contract: &CompiledContract) -> Vec<Mismatch> {
        match &self.codec {
            Codec::Avro(s) => contracts::avro::conforms(contract, s),
            Codec::JsonSchema(s) => contracts::json_wire::conforms(contract, s),
            Codec::Protobuf(m) => contracts::protobuf::conforms(contract, m),
        }
    }

    /// Whether `framed` (a record of this schema) is still read as a whole record: a proper
    /// prefix of an Avro body or a JSON object never is, one of a Protobuf message may be (it
    /// ends between two fields).
    fn reads(&self, framed: &[u8]) -> bool {
        match &self.codec {
            Codec::Avro(_) | Codec::JsonSchema(_) => false,
            Codec::Protobuf(m) => framed.get(HEADER_LEN..).and_then(|rest| contracts::protobuf::split_indexes(rest).ok()).is_some_and(|(_, body)| contracts::protobuf::decode_body(m, self.id, body).is_ok()),
        }
    }
}

/// Parses the registered `text` of a schema into the form a drift edits.
///
/// # Errors
/// A schema that does not parse.
fn doc(format: Format, id: u32, text: &str) -> Result<Doc, String> {
    Ok(match format {
        Format::Avro => Doc::Avro(serde_json::from_str(text).map_err(|e| format!("schema id {id}: {e}"))?),
        Format::JsonSchema => Doc::JsonSchema(serde_json::from_str(text).map_err(|e| format!("schema id {id}: {e}"))?),
        Format::Protobuf => Doc::Protobuf(Box::new(protobuf::descriptor(ProtoSchema::parse(text).map_err(|e| format!("schema id {id}: {e}"))?.file()))),
    })
}

/// The binding's side of a wire-format drill: the producers' writer schema and how the gate
/// judges schemas.
#[derive(Debug, Clone)]
pub struct Base {
    /// The baseline's writer schema.
    pub writer: Writer,
    /// The same schema as a drift edits it.
    pub doc: Doc,
    /// The binding's contract.
    pub contract: Arc<CompiledContract>,
    /// The binding's `allowed_schema_ids`.
    pub allowed: Option<Vec<u32>>,
}

fn joined(m: &[Mismatch]) -> String {
    m.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl Base {
    /// The base for the `format` schema `text` registered under `id`; the gate must accept it.
    ///
    /// # Errors
    /// A schema that does not parse, that the contract refuses, or that the binding does not
    /// allow: every baseline record would be drift.
    pub fn new(format: Format, id: u32, text: &str, contract: Arc<CompiledContract>, allowed: Option<Vec<u32>>) -> Result<Self, String> {
        let writer = Writer::parse(format, id, text)?;
        let doc = doc(format, id, text)?;
        if allowed.as_ref().is_some_and(|ids| !ids.contains(&id)) {
            return Err(format!("the baseline's writer schema id {id} is not among the binding's allowed_schema_ids: every record would be schema drift"));
        }
        let m = writer.mismatches(&contract);
        if !m.is_empty() {
            return Err(format!("the baseline's writer schema id {id} does not conform to {} {}: {}", contract.id, contract.version, joined(&m)));
        }
        Ok(Self { writer, doc, contract, allowed })
    }

    /// Why the gate would refuse the writer schema `schema` as drift, or `None` when it would
    /// read its records and check them one by one. A drifted schema is always a new id, so
    /// pinned ids refuse it.
    ///
    /// # Errors
    /// A schema that does not parse or compile.
    pub fn refuses(&self, schema: &Doc) -> Result<Option<String>, String> {
        let w = schema.writer(0).map_err(|e| format!("the drifted writer schema is not usable: {e}"))?;
        if let Some(ids) = &self.allowed {
            return Ok(Some(format!("a new schema id is not among allowed_schema_ids {ids:?}")));
        }
        let m = w.mismatches(&self.contract);
        Ok((!m.is_empty()).then(|| joined(&m)))
    }
}

/// The writer schema a producer sending `fault`'s records would register, derived from the
/// base schema in its own format; `None` when the base schema carries them.
///
/// # Errors
/// A fault on a field the schema does not have, or a schema of the wrong shape.
pub fn drift(base: &Doc, fault: &Fault) -> Result<Option<Doc>, String> {
    Ok(match base {
        Doc::Avro(v) => avro::drift(v, fault)?.map(Doc::Avro),
        Doc::JsonSchema(v) => json_schema::drift(v, fault)?.map(Doc::JsonSchema),
        Doc::Protobuf(d) => protobuf::drift(d, fault)?.map(|d| Doc::Protobuf(Box::new(d))),
    })
}

/// The id in the header of a malformed record meant to be unknown: -1 as the Java registries'
/// signed ids read it, which none hands out.
pub const UNKNOWN_ID: u32 = u32::MAX;

/// How one drill writes records on a wire-format binding.
#[derive(Debug, Clone)]
pub struct Writers {
    /// The producers' schema: the baseline, and faults it can carry.
    pub base: Writer,
    /// The fault's own schema ([`drift`]), registered for this drill.
    pub fault: Option<Writer>,
}

impl Writers {
    /// A good record.
    ///
    /// # Errors
    /// The record does not fit the base schema.
    pub fn baseline(&self, rec: &Value) -> Result<Vec<u8>, String> {
        self.base.encode(rec)
    }

    /// What the drill sends in place of `rec` while `fault` lasts.
    ///
    /// # Errors
    /// The broken record does not fit its writer schema.
    pub fn inject(&self, fault: &Fault, rec: &Value, ctx: &Ctx<'_>) -> Result<Out, String> {
        Ok(match fault.apply(rec, ctx) {
            Applied::Skip => Out::Skip,
            Applied::Previous => Out::Send(match ctx.previous {
                Some(p) => p.to_vec(),
                None => self.base.encode(rec)?,
            }),
            Applied::Malformed => Out::Send(malformed(&self.base, &self.base.encode(rec)?, ctx)),
            Applied::Record(r) => Out::Send(self.fault.as_ref().unwrap_or(&self.base).encode(&r)?),
        })
    }
}

/// In turn, in every wire format: the frame cut inside its body (a torn write: the header
/// reads, the body does not), 16–63 pseudo-random bytes starting with 0xFF (a wrong magic
/// byte: not the wire format), and the frame under [`UNKNOWN_ID`] (a schema the registry does
/// not know). `framed` is a record written by `w`.
#[must_use]
pub fn malformed(w: &Writer, framed: &[u8], ctx: &Ctx<'_>) -> Vec<u8> {
    let r = mix(ctx.seed, ctx.index);
    match ctx.index % 3 {
        0 => {
            let body = framed.len().saturating_sub(HEADER_LEN);
            #[allow(clippy::cast_possible_truncation)]
            let keep = if body > 1 { (r as usize) % body } else { 0 };
            // A Protobuf cut between two fields is a shorter message, not a torn one: move
            // the cut on until it lands inside a field (the last byte always does). No body
            // left at all fails in every format.
            let mut cut = (HEADER_LEN + keep).min(framed.len());
            while cut < framed.len() && w.reads(&framed[..cut]) {
                cut += 1;
            }
            if cut >= framed.len() {
                cut = HEADER_LEN.min(framed.len());
            }
            framed[..cut].to_vec()
        }
        1 => garbage(r),
        _ => {
            let mut out = framed.to_vec();
            if let Some(id) = out.get_mut(1..HEADER_LEN) {
                id.copy_from_slice(&UNKNOWN_ID.to_be_bytes());
            }
            out
        }
    }
}

/// Checks, before anything is registered or sent, that `fault`'s record made from `sample`
/// can be written: with its drifted schema (`drifted`) when it has one, else with the base
/// schema. A fault the format cannot carry is refused at plan time, not as failed sends.
///
/// # Errors
/// The writer's message.
pub fn check_fault(base: &Writer, drifted: Option<&Doc>, fault: &Fault, sample: &Value) -> Result<(), String> {
    let w = Writers { base: base.clone(), fault: drifted.map(|d| d.writer(0)).transpose()? };
    let ctx = Ctx { index: 0, seed: 0, now_ms: chrono::Utc::now().timestamp_millis(), previous: None };
    w.inject(fault, sample, &ctx).map(|_| ()).map_err(|e| format!("the fault's records cannot be written in the binding's format: {e}"))
}

/// Checks that every baseline record, restamped as the drill will send it, fits the base
/// schema: before the drill, not as failed sends in the middle of it.
///
/// # Errors
/// The first record that does not fit, with the writer's message.
pub fn check_baseline(records: &[Value], restamp: Option<&str>, base: &Writer) -> Result<(), String> {
    let now_us = chrono::Utc::now().timestamp_micros();
    for (i, rec) in records.iter().enumerate() {
        let mut r = rec.clone();
        if let (Some(f), Some(o)) = (restamp, r.as_object_mut()) {
            let stamped = super::faults::restamp(o.get(f), now_us);
            o.insert(f.to_string(), stamped);
        }
        base.encode(&r).map_err(|e| format!("baseline record {} does not fit the writer schema id {}: {e}", i + 1, base.id))?;
    }
    Ok(())
}
