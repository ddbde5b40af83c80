//! Can a writer schema carry a contract? Judged once per schema, so a producer that moved to
//! an incompatible schema is caught as schema drift on its first record, whatever the record's
//! values happen to be.
//!
//! Rules: every contract property must be a field of the writer schema (matched by name, at
//! every depth), with a type whose values the property's logical type accepts; a union is
//! compatible when each non-null branch is. Nullability is left to the record checks: a
//! nullable writer field for a required property can still carry every valid record, and the
//! records that are null fail `required` one by one. Writer fields the contract does not name
//! are drift unless the contract allows extra fields (`gateAllowExtraFields`), the same rule
//! the record checks apply to JSON.

use super::shape::Shape;
use super::Schema;
use crate::model::{LogicalType, Property};
use apache_avro::schema::{Name, NamespaceRef, RecordSchema, ResolvedSchema};
use std::collections::HashMap;

/// One reason a writer schema cannot carry a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Dotted field path (`a.b`, `items[]` for array items); empty for the schema itself.
    pub field: String,
    /// What is wrong.
    pub kind: MismatchKind,
}

/// Kinds of [`Mismatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MismatchKind {
    /// The contract names the field; the writer schema does not have it.
    Missing,
    /// The writer's type can hold values the property's logical type refuses.
    Type {
        /// The property's logical type.
        expected: &'static str,
        /// The writer's type, e.g. `string`, `long (timestamp-millis)`, `union [null, string]`.
        found: String,
    },
    /// A writer field the contract does not name, and extra fields are not allowed.
    Extra,
    /// A required property whose writer type allows null ([`conforms_never_null`] only).
    Nullable,
    /// The schema itself cannot be used (not a record, unresolved reference).
    Unusable {
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = if self.field.is_empty() { "schema" } else { &self.field };
        match &self.kind {
            MismatchKind::Missing => write!(f, "{field}: missing from the writer schema"),
            MismatchKind::Type { expected, found } => write!(f, "{field}: contract {expected}, writer {found}"),
            MismatchKind::Extra => write!(f, "{field}: not in the contract (extra fields not allowed)"),
            MismatchKind::Nullable => write!(f, "field {field:?} is required by the contract (never null) but the writer schema lets it be null"),
            MismatchKind::Unusable { reason } => write!(f, "{field}: {reason}"),
        }
    }
}

/// Whether `schema` can carry records of `contract`'s checked schema object; empty when it can.
#[must_use]
pub fn conforms(contract: &crate::CompiledContract, schema: &Schema) -> Vec<Mismatch> {
    check(&Shape::from_contract(contract), contract.allows_extra_fields(), false, schema)
}

/// [`conforms`], and every required property must be a field that cannot be null
/// ([`MismatchKind::Nullable`]): the stricter door of schema registration. The sidecar itself
/// lets a nullable field through and fails its null records one by one.
#[must_use]
pub fn conforms_never_null(contract: &crate::CompiledContract, schema: &Schema) -> Vec<Mismatch> {
    check(&Shape::from_contract(contract), contract.allows_extra_fields(), true, schema)
}

/// [`conforms`] for a list of top-level properties (e.g. a schema object of a contract that
/// is not compiled). `allow_extra`: writer fields outside the contract are allowed.
#[must_use]
pub fn conforms_properties(props: &[Property], allow_extra: bool, schema: &Schema) -> Vec<Mismatch> {
    check(&props.iter().map(Shape::from_property).collect::<Vec<_>>(), allow_extra, false, schema)
}

/// Why no value of `schema` may be decoded at all, whatever the contract: it nests without
/// bound ([`recursion`]), does not resolve, or has arrays whose items take no bytes (a few
/// bytes could claim millions of items). Readers call it before the first value.
#[must_use]
pub fn unreadable(schema: &Schema) -> Option<Mismatch> {
    resolve_readable(schema).err()
}

/// The schema's named types, or why it is [`unreadable`].
fn resolve_readable(schema: &Schema) -> Result<HashMap<Name, &Schema>, Mismatch> {
    if let Some(m) = recursion(schema) {
        return Err(m);
    }
    let names = match ResolvedSchema::try_from(schema) {
        Ok(r) => r.get_names().clone(),
        Err(e) => return Err(Mismatch { field: String::new(), kind: MismatchKind::Unusable { reason: format!("does not resolve: {e}") } }),
    };
    match weightless_items(schema, &names) {
        Some(m) => Err(m),
        None => Ok(names),
    }
}

fn check(props: &[Shape], allow_extra: bool, never_null: bool, schema: &Schema) -> Vec<Mismatch> {
    let names = match resolve_readable(schema) {
        Ok(names) => names,
        Err(m) => return vec![m],
    };
    let mut c = Checker { names, allow_extra, never_null, out: Vec::new() };
    match c.resolve(schema, None) {
        (Schema::Record(r), ns) => c.record("", r, props, ns, 0),
        (other, _) => c.out.push(Mismatch { field: String::new(), kind: MismatchKind::Unusable { reason: format!("the writer schema is {}, the contract needs a record", kind(other)) } }),
    }
    c.out
}

/// The first place a writer schema refers back to a record it is inside of. Such a schema
/// nests without bound (a value 1,500 records deep is a valid value), no contract describes
/// it, and decoding it depends on the stack: it is refused before any record is read. Named
/// types are defined before use and only once, so every cycle passes through a reference to
/// an enclosing record, which is what this looks for.
#[must_use]
pub fn recursion(schema: &Schema) -> Option<Mismatch> {
    fn walk(s: &Schema, ns: Option<&str>, path: &str, enclosing: &mut Vec<Name>) -> Option<Mismatch> {
        match s {
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns).into_owned();
                enclosing.contains(&full).then(|| Mismatch {
                    field: path.to_string(),
                    kind: MismatchKind::Unusable { reason: format!("refers back to the enclosing record {}: a recursive writer schema nests without bound", full.name()) },
                })
            }
            Schema::Record(r) => {
                let full = r.name.fully_qualified_name(ns).into_owned();
                let inner = full.namespace().map(str::to_string);
                enclosing.push(full);
                let found = r.fields.iter().find_map(|f| walk(&f.schema, inner.as_deref(), &join(path, &f.name), enclosing));
                enclosing.pop();
                found
            }
            Schema::Union(u) => u.variants().iter().find_map(|v| walk(v, ns, path, enclosing)),
            Schema::Array(a) => walk(&a.items, ns, &format!("{path}[]"), enclosing),
            Schema::Map(m) => walk(&m.types, ns, &format!("{path}{{}}"), enclosing),
            _ => None,
        }
    }
    walk(schema, None, "", &mut Vec::new())
}

/// The first array whose items can take no bytes at all (null, an empty record, a zero-size
/// fixed). Its count alone says how many items there are, so a payload of a few bytes claims
/// millions of them and the decoder allocates for each (found by fuzzing: 14 bytes held the
/// reader for a second and hundreds of MB). Every other item takes a byte at least, which
/// bounds an array by its payload; map entries always do (their key's length).
fn weightless_items(schema: &Schema, names: &HashMap<Name, &Schema>) -> Option<Mismatch> {
    /// Whether a value of `s` can be encoded in zero bytes. `depth` guards a schema that
    /// names itself through a record (refused as recursion before this runs).
    fn weightless(s: &Schema, ns: NamespaceRef<'_>, names: &HashMap<Name, &Schema>, depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        match s {
            Schema::Null => true,
            Schema::Fixed(f) => f.size == 0,
            Schema::Decimal(d) => matches!(&d.inner, apache_avro::schema::InnerDecimalSchema::Fixed(f) if f.size == 0),
            Schema::Record(r) => {
                let full = r.name.fully_qualified_name(ns);
                r.fields.iter().all(|f| weightless(&f.schema, full.namespace(), names, depth + 1))
            }
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns);
                names.get(full.as_ref()).is_some_and(|t| weightless(t, full.namespace(), names, depth + 1))
            }
            _ => false,
        }
    }
    fn walk(s: &Schema, ns: NamespaceRef<'_>, path: &str, names: &HashMap<Name, &Schema>, depth: usize) -> Option<Mismatch> {
        if depth > 64 {
            return None;
        }
        match s {
            Schema::Array(a) if weightless(&a.items, ns, names, 0) => Some(Mismatch {
                field: format!("{path}[]"),
                kind: MismatchKind::Unusable { reason: format!("array items of type {} take no bytes, so a record of a few bytes can claim any number of them", kind(&a.items)) },
            }),
            Schema::Array(a) => walk(&a.items, ns, &format!("{path}[]"), names, depth + 1),
            Schema::Map(m) => walk(&m.types, ns, &format!("{path}{{}}"), names, depth + 1),
            Schema::Union(u) => u.variants().iter().find_map(|v| walk(v, ns, path, names, depth + 1)),
            Schema::Record(r) => {
                let full = r.name.fully_qualified_name(ns);
                r.fields.iter().find_map(|f| walk(&f.schema, full.namespace(), &join(path, &f.name), names, depth + 1))
            }
            _ => None,
        }
    }
    walk(schema, None, "", names, 0)
}

struct Checker<'a> {
    names: HashMap<Name, &'a Schema>,
    allow_extra: bool,
    /// Required properties must not be nullable.
    never_null: bool,
    out: Vec<Mismatch>,
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

impl<'a> Checker<'a> {
    /// Follows references to their definition; returns the namespace records inside it use.
    fn resolve<'n>(&self, s: &'a Schema, ns: NamespaceRef<'n>) -> (&'a Schema, Option<String>) {
        let mut s = s;
        let mut ns = ns.map(str::to_string);
        for _ in 0..64 {
            let Schema::Ref { name } = s else { break };
            let full = name.fully_qualified_name(ns.as_deref()).into_owned();
            match self.names.get(&full) {
                Some(t) => {
                    ns = full.namespace().map(str::to_string);
                    s = t;
                }
                None => break,
            }
        }
        if let Schema::Record(r) = s {
            ns = r.name.fully_qualified_name(ns.as_deref()).namespace().map(str::to_string);
        }
        (s, ns)
    }

    fn record(&mut self, path: &str, r: &'a RecordSchema, props: &[Shape], ns: Option<String>, depth: usize) {
        for p in props {
            let field = join(path, &p.name);
            match r.fields.iter().find(|f| f.name == p.name) {
                None => self.out.push(Mismatch { field, kind: MismatchKind::Missing }),
                Some(f) => self.typed(&field, &f.schema, p, ns.as_deref(), depth + 1),
            }
        }
        if !self.allow_extra {
            for f in &r.fields {
                if !props.iter().any(|p| p.name == f.name) {
                    self.out.push(Mismatch { field: join(path, &f.name), kind: MismatchKind::Extra });
                }
            }
        }
    }

    fn typed(&mut self, field: &str, s: &'a Schema, p: &Shape, ns: NamespaceRef<'_>, depth: usize) {
        if depth > 64 {
            return; // recursive schema deeper than any contract: nothing left to compare
        }
        let (s, ns) = self.resolve(s, ns);
        if self.never_null && p.required && matches!(s, Schema::Union(u) if u.variants().iter().any(|b| matches!(b, Schema::Null))) {
            self.out.push(Mismatch { field: field.to_string(), kind: MismatchKind::Nullable });
        }
        let Some(ty) = p.ty else {
            // Untyped properties accept any value; their nested properties still apply.
            if let (Schema::Record(r), false) = (s, p.props.is_empty()) {
                self.record(field, r, &p.props, ns, depth);
            }
            return;
        };
        let branches: Vec<&'a Schema> = match s {
            Schema::Union(u) => u.variants().iter().filter(|b| !matches!(b, Schema::Null)).collect(),
            other => vec![other],
        };
        if branches.is_empty() {
            if p.required {
                self.out.push(Mismatch { field: field.to_string(), kind: MismatchKind::Type { expected: ty.as_str(), found: kind(s) } });
            }
            return;
        }
        for b in branches {
            let (b, bns) = self.resolve(b, ns.as_deref());
            if !accepts(ty, p, b) {
                self.out.push(Mismatch { field: field.to_string(), kind: MismatchKind::Type { expected: ty.as_str(), found: kind(s) } });
                return;
            }
            match (ty, b) {
                (LogicalType::Object, Schema::Record(r)) => self.record(field, r, &p.props, bns, depth),
                (LogicalType::Array, Schema::Array(a)) => {
                    if let Some(items) = &p.items {
                        self.typed(&format!("{field}[]"), &a.items, items, bns.as_deref(), depth + 1);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Whether every value of the (non-union, resolved) Avro type `s` has the JSON form the
/// logical type accepts (see the rendering rules in `value.rs`).
fn accepts(ty: LogicalType, p: &Shape, s: &Schema) -> bool {
    use Schema as S;
    match ty {
        LogicalType::Integer => matches!(s, S::Int | S::Long) || matches!(s, S::Decimal(d) if d.scale == 0),
        LogicalType::Number => matches!(s, S::Int | S::Long | S::Float | S::Double | S::Decimal(_) | S::BigDecimal),
        LogicalType::String => matches!(s, S::String | S::Enum(_) | S::Uuid(_)),
        LogicalType::Boolean => matches!(s, S::Boolean),
        LogicalType::Timestamp => {
            matches!(s, S::String | S::TimestampMillis | S::TimestampMicros | S::TimestampNanos | S::LocalTimestampMillis | S::LocalTimestampMicros | S::LocalTimestampNanos)
        }
        LogicalType::Date => matches!(s, S::String | S::Date),
        LogicalType::Time => matches!(s, S::String | S::TimeMillis | S::TimeMicros),
        // An object with named properties needs a record to find them in; a free-form object
        // also takes a map.
        LogicalType::Object => matches!(s, S::Record(_)) || (p.props.is_empty() && matches!(s, S::Map(_))),
        LogicalType::Array => matches!(s, S::Array(_)),
    }
}

/// A short human name of an Avro type.
fn kind(s: &Schema) -> String {
    use Schema as S;
    let simple = match s {
        S::Null => "null",
        S::Boolean => "boolean",
        S::Int => "int",
        S::Long => "long",
        S::Float => "float",
        S::Double => "double",
        S::Bytes => "bytes",
        S::String => "string",
        S::Array(_) => "array",
        S::Map(_) => "map",
        S::Record(_) => "record",
        S::Enum(_) => "enum",
        S::Fixed(_) => "fixed",
        S::Decimal(_) => "decimal",
        S::BigDecimal => "bytes (big-decimal)",
        S::Uuid(_) => "string (uuid)",
        S::Date => "int (date)",
        S::TimeMillis => "int (time-millis)",
        S::TimeMicros => "long (time-micros)",
        S::TimestampMillis => "long (timestamp-millis)",
        S::TimestampMicros => "long (timestamp-micros)",
        S::TimestampNanos => "long (timestamp-nanos)",
        S::LocalTimestampMillis => "long (local-timestamp-millis)",
        S::LocalTimestampMicros => "long (local-timestamp-micros)",
        S::LocalTimestampNanos => "long (local-timestamp-nanos)",
        S::Duration(_) => "fixed (duration)",
        S::Ref { name } => return name.to_string(),
        S::Union(u) => return format!("union [{}]", u.variants().iter().map(kind).collect::<Vec<_>>().join(", ")),
    };
    simple.to_string()
}
