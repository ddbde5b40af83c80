//! A draft contract inferred from sample records (`contract-gate contracts infer`).
//!
//! Feed records to an [`Inferrer`] (one pass, any source), then ask for a [`Draft`]: an ODCS
//! v3.1 document with one schema object whose properties carry logical types, `required`,
//! ranges and lengths, string formats and enumerations, and window rules (null rates,
//! duplicate keys, distribution baselines) set from the observed values with headroom. Every
//! inferred item carries a `gateInferred` custom property with its evidence, for the person
//! who reviews the draft. The rules are in [`rules`]; docs/design-notes.md, "Inferring a
//! draft", says why each is what it is. Pure: no I/O.

mod emit;
pub mod profile;
pub mod rules;
#[cfg(test)]
mod tests;

use emit::{Ctx, Description, Doc, Object, Tally};
use profile::{Field, Formats};
use serde_json::Value;

/// Why no draft could be made.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// Nothing to infer from.
    #[error("no records to infer from: {records} read, none a JSON object ({undecodable} did not decode)")]
    NoRecords {
        /// Records read.
        records: u64,
        /// Of which did not decode.
        undecodable: u64,
    },
    /// The YAML writer failed.
    #[error("writing the draft as YAML: {0}")]
    Yaml(String),
}

/// What the draft is called and where its records came from.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Contract id (also the schema object's name).
    pub id: String,
    /// Human name (default: the id).
    pub name: Option<String>,
    /// ODCS `physicalType` of the object (`topic`, `file`, …), if known.
    pub physical_type: Option<String>,
    /// Where the records came from, for the header and the description.
    pub source: String,
}

/// Profiles records one at a time.
#[derive(Debug)]
pub struct Inferrer {
    root: Field,
    formats: Formats,
    records: u64,
    undecodable: u64,
    not_objects: u64,
}

impl Default for Inferrer {
    fn default() -> Self {
        Self { root: Field::new("", 0), formats: Formats::default(), records: 0, undecodable: 0, not_objects: 0 }
    }
}

/// What a draft holds, for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Records read.
    pub records: u64,
    /// Records that did not decode (not profiled).
    pub undecodable: u64,
    /// Records that decoded to something other than an object (not profiled).
    pub not_objects: u64,
    /// Properties, nested ones and array items included.
    pub properties: usize,
    /// Window rules (null rates, enumerations, duplicates).
    pub rules: usize,
    /// Distribution baselines.
    pub distributions: usize,
}

/// An inferred contract, ready to write.
#[derive(Debug)]
pub struct Draft {
    doc: Doc,
    header: String,
    /// What it holds.
    pub summary: Summary,
}

impl Inferrer {
    /// Takes one decoded record.
    pub fn add(&mut self, record: &Value) {
        self.records += 1;
        if record.is_object() {
            self.root.add(Some(record), &self.formats);
        } else {
            self.not_objects += 1;
        }
    }

    /// Counts a record that did not decode.
    pub fn add_undecodable(&mut self) {
        self.records += 1;
        self.undecodable += 1;
    }

    /// Records taken so far (decoded or not).
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The draft from the records so far.
    ///
    /// # Errors
    /// [`InferError::NoRecords`] when no record was an object.
    pub fn draft(&self, opts: &Options) -> Result<Draft, InferError> {
        let objects = self.root.kinds.objects;
        if objects == 0 {
            return Err(InferError::NoRecords { records: self.records, undecodable: self.undecodable });
        }
        // One line in the header comment whatever the source's name holds.
        let source: String = opts.source.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
        let mut tally = Tally::default();
        let ctx = Ctx { records: objects, parent: "", in_array: false };
        let properties = emit::properties(&self.root.children, ctx, &mut tally);
        // Fields the draft cannot list would fail every record as schema drift.
        let mut object_props = Vec::new();
        if tally.unnamed > 0 || self.root.too_many_keys {
            let why = if self.root.too_many_keys { format!("records have more than {} distinct top-level keys; the first ones are listed", profile::MAX_PROPERTIES) } else { format!("{} fields have an empty name, which no property can have", tally.unnamed) };
            let ev = emit::Evidence { records: objects, notes: vec![format!("gateAllowExtraFields: {why}")], ..emit::Evidence::default() };
            object_props.push(emit::Custom { property: "gateAllowExtraFields", value: emit::CustomValue::Raw(Value::Bool(true)) });
            object_props.push(emit::Custom { property: "gateInferred", value: emit::CustomValue::Evidence(Box::new(ev)) });
        }
        let purpose = format!("DRAFT inferred by contract-gate from {objects} records of {source}; every item awaits review (see its gateInferred evidence).");
        let doc = Doc {
            api_version: "v3.1.0",
            kind: "DataContract",
            id: opts.id.clone(),
            name: opts.name.clone().unwrap_or_else(|| opts.id.clone()),
            version: "0.1.0",
            status: "draft",
            description: Description { purpose },
            schema: vec![Object { name: opts.id.clone(), physical_type: opts.physical_type.clone(), logical_type: "object", properties, custom_properties: object_props }],
        };
        let header = format!(
            "# DRAFT data contract inferred by `contract-gate contracts infer` from {objects} records of\n\
             #   {source}\n\
             # Nothing in it is reviewed yet. Every inferred item carries a `gateInferred` custom\n\
             # property with its evidence (records seen, observed min/max, null rate, distinct values)\n\
             # and how the item was set from it. Check each against what the data means, then delete\n\
             # the gateInferred entries and set `status: active`.\n"
        );
        let summary = Summary { records: self.records, undecodable: self.undecodable, not_objects: self.not_objects, properties: tally.properties, rules: tally.rules, distributions: tally.distributions };
        Ok(Draft { doc, header, summary })
    }
}

impl Draft {
    /// The draft as YAML, under its header comment.
    ///
    /// # Errors
    /// [`InferError::Yaml`] if the writer fails.
    pub fn to_yaml(&self) -> Result<String, InferError> {
        let body = serde_saphyr::to_string(&self.doc).map_err(|e| InferError::Yaml(e.to_string()))?;
        Ok(format!("{}{body}", self.header))
    }
}
