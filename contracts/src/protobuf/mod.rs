//! Protobuf in the Confluent wire format: writer schemas as the Schema Registry holds them
//! (`.proto` text, or a base64 `FileDescriptorProto` as Confluent's Python serializer registers
//! it), compiled in memory; the message indexes after the schema id; bodies read as dynamic
//! messages and turned into the JSON value the contract checks; and whether a message type can
//! carry a contract ([`conforms`]), the same drift rule as Avro's.
//!
//! Imports of Google's well-known types (`google/protobuf/timestamp.proto`, wrappers, …) are
//! resolved from the compiler's built-in copies; imports of other registered schemas (Schema
//! Registry references) are not supported and make a schema unusable, with the import named.

mod conform;
mod value;

#[cfg(test)]
mod tests;

pub use conform::{conforms, conforms_properties};
pub use prost_reflect::{DescriptorPool, FileDescriptor, MessageDescriptor};
pub use value::{to_json, Projection};

use base64::Engine as _;
use prost_reflect::prost::Message as _;
use prost_reflect::prost_types::FileDescriptorProto;
use prost_reflect::DynamicMessage;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

/// Name given to a schema registered as `.proto` text (the registry keeps no file name).
const TEXT_NAME: &str = "schema.proto";
/// At most this many message indexes: a nesting deeper than any real schema.
const MAX_INDEXES: usize = 32;

/// A compiled writer schema: its file and the pool that resolves its types.
#[derive(Debug, Clone)]
pub struct ProtoSchema {
    file: FileDescriptor,
}

/// Why a schema cannot be used, or a payload not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The schema text does not compile (syntax, unresolved type, unsupported import).
    #[error("Protobuf schema does not compile: {0}")]
    Schema(String),
    /// The payload's message indexes are cut short or name no message of the schema.
    #[error("Protobuf message indexes {0}")]
    Indexes(String),
    /// The body is not a message of the type its indexes name.
    #[error("Protobuf body does not decode as {message} (schema id {schema_id}): {reason}")]
    Body {
        /// Writer schema id.
        schema_id: u32,
        /// Full message name.
        message: String,
        /// Decoder's message.
        reason: String,
    },
}

/// Serves one schema file, by its name, and the well-known types.
struct OneFile {
    file: File,
}

impl FileResolver for OneFile {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == self.file.name() {
            Ok(self.file.clone())
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

impl ProtoSchema {
    /// Compiles a schema as the registry stores it: `.proto` text, or base64 of a serialized
    /// `FileDescriptorProto` (tried first when the text is nothing but base64).
    ///
    /// # Errors
    /// [`ProtoError::Schema`] naming what does not compile.
    pub fn parse(text: &str) -> Result<Self, ProtoError> {
        let file = match descriptor_bytes(text) {
            Some(proto) => File::from_file_descriptor_proto(proto),
            None => File::from_source(TEXT_NAME, text).map_err(|e| ProtoError::Schema(e.to_string()))?,
        };
        let name = file.name().to_string();
        let mut chain = ChainFileResolver::new();
        chain.add(OneFile { file });
        chain.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(chain);
        compiler.include_imports(true);
        compiler.open_file(&name).map_err(|e| ProtoError::Schema(e.to_string()))?;
        let pool = compiler.descriptor_pool();
        let file = pool.get_file_by_name(&name).ok_or_else(|| ProtoError::Schema(format!("{name} is not in the compiled pool")))?;
        Ok(Self { file })
    }

    /// The schema's file.
    #[must_use]
    pub fn file(&self) -> &FileDescriptor {
        &self.file
    }

    /// The message type that `indexes` name: the first index picks a top-level message in
    /// declaration order, each next one a message nested in it.
    ///
    /// # Errors
    /// [`ProtoError::Indexes`] when an index names no message.
    pub fn message_at(&self, indexes: &[usize]) -> Result<MessageDescriptor, ProtoError> {
        let mut path = indexes.iter();
        let first = path.next().copied().unwrap_or(0);
        let mut m = self.file.messages().nth(first).ok_or_else(|| ProtoError::Indexes(format!("{indexes:?}: the schema has no top-level message {first}")))?;
        for &i in path {
            let child = m.child_messages().nth(i).ok_or_else(|| ProtoError::Indexes(format!("{indexes:?}: {} has no nested message {i}", m.full_name())))?;
            m = child;
        }
        Ok(m)
    }

    /// The first top-level message: what a schema registered for one message type describes.
    #[must_use]
    pub fn first_message(&self) -> Option<MessageDescriptor> {
        self.file.messages().next()
    }

    /// The schema as a serialized `FileDescriptorProto` in base64, the form Confluent's
    /// registry answers `?format=serialized` with.
    #[must_use]
    pub fn serialized(&self) -> String {
        let mut proto: FileDescriptorProto = self.file.file_descriptor_proto().clone();
        proto.source_code_info = None;
        base64::engine::general_purpose::STANDARD.encode(proto.encode_to_vec())
    }

    /// A canonical form for identity: the descriptor without source positions, serialized.
    /// Whitespace, comments and the form it was registered in do not change it.
    #[must_use]
    pub fn canonical(&self) -> String {
        self.serialized()
    }
}

/// The descriptor in `text` when it is base64 of a serialized `FileDescriptorProto`.
fn descriptor_bytes(text: &str) -> Option<FileDescriptorProto> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
    let proto = FileDescriptorProto::decode(bytes.as_slice()).ok()?;
    proto.name.as_ref().filter(|n| !n.is_empty())?;
    Some(proto)
}

/// Splits what follows the 5-byte header: the message indexes (a zigzag varint count, then
/// each index; a lone 0 stands for `[0]`) and the body.
///
/// # Errors
/// [`ProtoError::Indexes`] when the indexes are cut short, negative or too many.
pub fn split_indexes(after_header: &[u8]) -> Result<(Vec<usize>, &[u8]), ProtoError> {
    let mut rest = after_header;
    let count = zigzag(&mut rest)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    let count = usize::try_from(count).ok().filter(|c| *c <= MAX_INDEXES).ok_or_else(|| ProtoError::Indexes(format!("count {count} is not between 0 and {MAX_INDEXES}")))?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let i = zigzag(&mut rest)?;
        out.push(usize::try_from(i).map_err(|_| ProtoError::Indexes(format!("hold a negative index {i}")))?);
    }
    Ok((out, rest))
}

/// Reads one zigzag-encoded varint (at most 10 bytes) off the front of `buf`.
fn zigzag(buf: &mut &[u8]) -> Result<i64, ProtoError> {
    let mut v: u64 = 0;
    for (n, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * n);
        if b & 0x80 == 0 {
            *buf = &buf[n + 1..];
            #[allow(clippy::cast_possible_wrap)]
            return Ok(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    Err(ProtoError::Indexes("are cut short: the payload ends inside a varint".into()))
}

/// The message indexes `indexes` in the wire format (the producer's side; tests and drills).
#[must_use]
pub fn encode_indexes(indexes: &[usize]) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, v: i64) {
        #[allow(clippy::cast_sign_loss)]
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push(u8::try_from(z & 0x7f).unwrap_or(0) | 0x80);
            z >>= 7;
        }
        out.push(u8::try_from(z).unwrap_or(0));
    }
    let mut out = Vec::new();
    if indexes == [0] {
        out.push(0);
        return out;
    }
    put(&mut out, i64::try_from(indexes.len()).unwrap_or(0));
    for &i in indexes {
        put(&mut out, i64::try_from(i).unwrap_or(0));
    }
    out
}

/// Reads a body as a message of type `m`.
///
/// # Errors
/// [`ProtoError::Body`] when the bytes are not such a message.
pub fn decode_body(m: &MessageDescriptor, schema_id: u32, body: &[u8]) -> Result<DynamicMessage, ProtoError> {
    DynamicMessage::decode(m.clone(), body).map_err(|e| ProtoError::Body { schema_id, message: m.full_name().to_string(), reason: e.to_string() })
}
