//! Avro records in the Confluent Schema Registry wire format, seen through a contract.
//!
//! Pure: the caller fetches writer schemas (by the id in each payload) and hands them in.
//! - [`parse_wire`] splits a payload into its schema id and Avro body;
//! - [`decode_body`] reads the body with a cached [`GenericDatumReader`];
//! - [`Projection`] turns the decoded value into the JSON record the contract's checks read,
//!   rendering logical types the way the contract writes them (so one rule set serves JSON
//!   and Avro);
//! - [`conforms`] says whether a writer schema can carry the contract at all: a schema that
//!   cannot is schema drift, judged once per schema id instead of once per record.

mod conform;
mod encode;
pub(crate) mod shape;
pub(crate) mod value;

#[cfg(test)]
mod tests;

pub use apache_avro::reader::datum::GenericDatumReader;
pub use apache_avro::Schema;
pub use conform::{conforms, conforms_never_null, conforms_properties, recursion, unreadable, Mismatch, MismatchKind};
pub use encode::{frame, from_json};
pub use value::Projection;

use crate::compile::quality::Probe;
use crate::{Accumulator, CompiledContract, Observer};

/// The first byte of every payload in the Confluent wire format.
pub const MAGIC: u8 = 0;
/// Magic byte and the 4-byte big-endian schema id.
pub const HEADER_LEN: usize = 5;
/// Rule id of schema drift: a record written with a schema the binding does not allow.
pub const DRIFT_RULE: &str = "$.schema";

/// Why a payload is not a Confluent-framed Avro record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer than the 5 header bytes.
    #[error("payload is {len} bytes, shorter than the 5-byte wire-format header (magic byte and schema id)")]
    Short {
        /// Payload length.
        len: usize,
    },
    /// The first byte is not [`MAGIC`].
    #[error("magic byte is {found:#04x}, expected 0x00 (Confluent wire format)")]
    Magic {
        /// The byte found.
        found: u8,
    },
}

/// Why an Avro body could not be read with its writer schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body ends before the value does, or its bytes do not fit the schema.
    #[error("Avro body does not decode with schema id {schema_id}: {reason}")]
    Corrupt {
        /// Writer schema id.
        schema_id: u32,
        /// Reader's message.
        reason: String,
    },
    /// Bytes left over after one complete value: the body was not written with this schema.
    #[error("Avro body has {extra} bytes left after the value written with schema id {schema_id}")]
    Trailing {
        /// Writer schema id.
        schema_id: u32,
        /// Unread bytes.
        extra: usize,
    },
}

/// Splits a wire-format payload into the writer schema id and the Avro body.
///
/// # Errors
/// [`WireError`] when the payload is too short or the magic byte is wrong.
pub fn parse_wire(payload: &[u8]) -> Result<(u32, &[u8]), WireError> {
    let Some((header, body)) = payload.split_first_chunk::<HEADER_LEN>() else {
        return Err(WireError::Short { len: payload.len() });
    };
    if header[0] != MAGIC {
        return Err(WireError::Magic { found: header[0] });
    }
    let id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    Ok((id, body))
}

/// Reads one Avro value from `body`; the whole body must be that value.
///
/// # Errors
/// [`BodyError`] for a truncated or corrupt body, or bytes left after the value.
pub fn decode_body(reader: &GenericDatumReader<'_>, schema_id: u32, body: &[u8]) -> Result<apache_avro::types::Value, BodyError> {
    let mut rest = body;
    let v = reader.read_value(&mut rest).map_err(|e| BodyError::Corrupt { schema_id, reason: e.to_string() })?;
    if !rest.is_empty() {
        return Err(BodyError::Trailing { schema_id, extra: rest.len() });
    }
    Ok(v)
}

impl CompiledContract {
    /// Counts a record refused before its fields were checked (schema drift): a record in the
    /// window and a record failure, but not a decode error — the payload was well formed.
    pub fn record_refused(&self, obs: &mut Observer) {
        obs.window.records += 1;
        for (i, probe) in self.probes.iter().enumerate() {
            if let Accumulator::Count { hits, total } = &mut obs.window.accumulators[i] {
                *total += 1;
                if matches!(probe, Probe::RecordFailures) {
                    *hits += 1;
                }
            }
        }
    }
}
