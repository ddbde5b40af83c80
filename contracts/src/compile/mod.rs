//! Compiling a contract once into a fast validator for one schema object.

pub(crate) mod fast;
pub mod locate;
pub mod quality;
pub mod schema;

use crate::error::{ContractError, Problem, Severity};
use crate::model::{custom, Contract, LogicalType, Property, SchemaObject};
use crate::window::WindowRule;
use quality::{Compiled, Probe, Scope};
use schema::PostCheck;
use std::collections::HashSet;
use std::sync::Arc;

/// Top-level ODCS keys (the standard forbids others at the top level).
const TOP_KEYS: &[&str] = &[
    "version", "kind", "apiVersion", "id", "name", "tenant", "tags", "status", "servers", "dataProduct", "description",
    "domain", "schema", "support", "price", "team", "roles", "slaDefaultElement", "slaProperties",
    "authoritativeDefinitions", "customProperties", "contractCreatedTs",
];

const PROPERTY_KEYS: &[&str] = &[
    "primaryKeyPosition", "physicalType", "physicalName", "partitioned", "partitionKeyPosition", "classification",
    "encryptedName", "transformSourceObjects", "transformLogic", "transformDescription", "examples",
    "criticalDataElement", "relationships", "description", "businessName", "authoritativeDefinitions", "tags",
];

/// A contract compiled for one of its schema objects.
#[derive(Debug)]
pub struct CompiledContract {
    /// Contract id.
    pub id: Arc<str>,
    /// Contract version.
    pub version: Arc<str>,
    /// Name of the schema object records are checked against.
    pub object: Arc<str>,
    /// Names of all the contract's schema objects, in order (a caller that named none got the
    /// first, and may need to know whether that choice was ambiguous).
    pub objects: Vec<Arc<str>>,
    /// Window rules, in the order of [`crate::WindowState::accumulators`].
    pub rules: Vec<WindowRule>,
    /// Lint findings that are not errors (not enforced, warnings).
    pub notices: Vec<Problem>,
    pub(crate) validator: jsonschema::Validator,
    /// The one-pass walk for records that pass (`None`: every record takes the full validator).
    pub(crate) fast: Option<fast::FastSchema>,
    pub(crate) post: Vec<PostCheck>,
    pub(crate) probes: Vec<Probe>,
    pub(crate) rule_ids: Vec<Arc<str>>,
    pub(crate) required: HashSet<String>,
    pub(crate) allow_extra: bool,
    pub(crate) known_top: HashSet<String>,
    pub(crate) dup_slots: usize,
    pub(crate) top_types: Vec<(String, Option<LogicalType>)>,
    pub(crate) schema_doc: serde_json::Value,
    /// Distinct field paths the probes read; a record's values are looked up once per path.
    pub(crate) lookups: Vec<Vec<String>>,
    /// Single-key lookups sorted by key, for one merge pass over a record's sorted keys.
    pub(crate) top_sorted: Vec<(String, usize)>,
    /// Lookups with nested paths.
    pub(crate) nested: Vec<usize>,
    /// Per probe, the lookup index of each path it reads.
    pub(crate) probe_at: Vec<Vec<usize>>,
    /// Hash of duplicate-detection tuples; one seed per compiled contract.
    pub(crate) dup_hasher: foldhash::quality::RandomState,
}

/// Paths a probe reads.
fn paths_of(p: &Probe) -> Vec<&Vec<String>> {
    match p {
        Probe::Null { path } | Probe::Missing { path, .. } | Probe::Invalid { path, .. } | Probe::Freshness { path, .. } | Probe::Stale { path, .. } | Probe::Age { path, .. } | Probe::Distribution { path, .. } => vec![path],
        Probe::Duplicate { paths, .. } => paths.iter().collect(),
        Probe::RowCount | Probe::RecordFailures | Probe::DecodeErrors | Probe::NoData => Vec::new(),
    }
}

type Lookups = (Vec<Vec<String>>, Vec<(String, usize)>, Vec<usize>, Vec<Vec<usize>>);

fn index_lookups(probes: &[Probe]) -> Lookups {
    let mut lookups: Vec<Vec<String>> = Vec::new();
    let probe_at = probes
        .iter()
        .map(|p| {
            paths_of(p)
                .into_iter()
                .map(|path| match lookups.iter().position(|l| l == path) {
                    Some(i) => i,
                    None => {
                        lookups.push(path.clone());
                        lookups.len() - 1
                    }
                })
                .collect()
        })
        .collect();
    let mut top_sorted: Vec<(String, usize)> = lookups.iter().enumerate().filter(|(_, l)| l.len() == 1).map(|(i, l)| (l[0].clone(), i)).collect();
    top_sorted.sort();
    let nested = lookups.iter().enumerate().filter(|(_, l)| l.len() != 1).map(|(i, _)| i).collect();
    (lookups, top_sorted, nested, probe_at)
}

impl CompiledContract {
    /// The JSON Schema the record checks run.
    #[must_use]
    pub fn json_schema(&self) -> &serde_json::Value {
        &self.schema_doc
    }

    /// Whether unknown fields are allowed (they are still counted as drift).
    #[must_use]
    pub fn allows_extra_fields(&self) -> bool {
        self.allow_extra
    }

    /// Top-level property names and logical types, in contract order (for typing CSV).
    #[must_use]
    pub fn top_level_types(&self) -> &[(String, Option<LogicalType>)] {
        &self.top_types
    }
}

/// Compiles `contract` for the schema object named `object` (default: the only or first one).
///
/// # Errors
/// [`ContractError::Invalid`] listing every error with its path.
pub fn compile(contract: &Contract, object: Option<&str>) -> Result<CompiledContract, ContractError> {
    build(contract, object).map_err(|all| ContractError::Invalid { problems: all.into_iter().filter(|p| p.severity == Severity::Error).collect() })
}

/// [`compile`], failing with every finding (errors and the rest: lint lists them all).
fn build(contract: &Contract, object: Option<&str>) -> Result<CompiledContract, Vec<Problem>> {
    let mut problems = Vec::new();
    let (obj_idx, obj) = match pick_object(contract, object) {
        Ok(x) => x,
        Err(p) => return Err(vec![p]),
    };
    let opath = format!("schema[{obj_idx}]");
    top_level_lint(contract, &mut problems);
    let allow_extra = match custom(&obj.custom_properties, "gateAllowExtraFields").or_else(|| custom(&contract.custom_properties, "gateAllowExtraFields")) {
        None => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(v) => {
            problems.push(Problem::error(format!("{opath}.customProperties[gateAllowExtraFields]"), format!("expected true or false, found {v}")));
            false
        }
    };
    let built = schema::build(&obj.properties, &opath, allow_extra);
    problems.extend(built.problems);
    let mut rules = Compiled::default();
    let names: Vec<&str> = contract.schema.iter().map(|o| o.name.as_str()).collect();
    let scope = Scope { object: &obj.name, properties: &obj.properties, objects: &names, allow_extra };
    walk_properties(&mut rules, &obj.properties, &[], &opath, false, &scope, &mut problems);
    for (i, q) in obj.quality.iter().enumerate() {
        quality::quality_rule(&mut rules, q, None, &scope, &format!("{opath}.quality[{i}]"));
    }
    let stale_limit = quality::percent_setting(&mut rules, &contract.custom_properties, &obj.custom_properties, "gateMaxStalePercent", 5.0, &opath).unwrap_or(5.0);
    quality::sla_rules(&mut rules, &contract.sla_properties, &scope, stale_limit);
    quality::gate_rules(&mut rules, &contract.custom_properties, &obj.custom_properties, &opath);
    problems.append(&mut rules.problems);

    let validator = json_validator(&built.schema);
    let validator = match validator {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(Problem::error(opath.clone(), format!("schema does not compile: {e}")));
            None
        }
    };
    let (errors, notices): (Vec<_>, Vec<_>) = problems.into_iter().partition(|p| p.severity == Severity::Error);
    let Some(validator) = validator.filter(|_| errors.is_empty()) else {
        return Err(errors.into_iter().chain(notices).collect());
    };
    let dup_slots = rules.dup_slots();
    let (lookups, top_sorted, nested, probe_at) = index_lookups(&rules.probes);
    let fast = fast::FastSchema::new(&built.schema, &top_sorted, |s| json_validator(s).ok());
    Ok(CompiledContract {
        id: contract.id.as_str().into(),
        version: contract.version.as_str().into(),
        object: obj.name.as_str().into(),
        objects: contract.schema.iter().map(|o| Arc::from(o.name.as_str())).collect(),
        rule_ids: rules.rules.iter().map(|r| Arc::from(r.id.as_str())).collect(),
        rules: rules.rules,
        notices,
        validator,
        fast,
        post: built.post,
        probes: rules.probes,
        required: built.required.into_iter().collect(),
        allow_extra,
        known_top: obj.properties.iter().map(|p| p.name.clone()).collect(),
        dup_slots,
        top_types: obj.properties.iter().map(|p| (p.name.clone(), p.logical_type)).collect(),
        schema_doc: built.schema,
        lookups,
        top_sorted,
        nested,
        probe_at,
        dup_hasher: foldhash::quality::RandomState::default(),
    })
}

/// Compiles a JSON Schema the way every record check runs it: formats asserted, and the regex
/// engine for patterns (linear time on hostile input, and the same engine lint checks patterns
/// with).
fn json_validator(schema: &serde_json::Value) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options().should_validate_formats(true).with_pattern_options(jsonschema::PatternOptions::regex()).build(schema)
}

/// Every finding about a contract: errors, warnings and rules not enforced, for every object.
#[must_use]
pub fn lint(contract: &Contract) -> Vec<Problem> {
    let mut all = Vec::new();
    if contract.schema.is_empty() {
        all.push(Problem::warning("schema", "no schema objects: there is nothing to check records against"));
        top_level_lint(contract, &mut all);
    }
    for obj in &contract.schema {
        match build(contract, Some(&obj.name)) {
            Ok(c) => all.extend(c.notices),
            Err(found) => all.extend(found),
        }
    }
    // Each object repeats the contract-level findings; keep one of each.
    let mut seen = HashSet::new();
    all.retain(|p| seen.insert((p.path.clone(), p.message.clone())));
    all.sort_by_key(|p| p.severity);
    all
}

/// [`lint`] of a contract's source text (a parse error is the one finding), every finding with
/// its line where its path reaches into the text.
#[must_use]
pub fn lint_source(text: &str) -> Vec<Problem> {
    let mut problems = match crate::load::parse(text) {
        Ok(c) => lint(&c),
        Err(e) => e.problems(),
    };
    locate::locate(text, &mut problems);
    problems
}

fn pick_object<'a>(contract: &'a Contract, object: Option<&str>) -> Result<(usize, &'a SchemaObject), Problem> {
    match object {
        Some(name) => contract.schema.iter().enumerate().find(|(_, o)| o.name == name).ok_or_else(|| {
            let names: Vec<_> = contract.schema.iter().map(|o| o.name.as_str()).collect();
            Problem::error("schema", format!("no schema object named {name:?}; the contract has {names:?}"))
        }),
        None => contract.schema.first().map(|o| (0, o)).ok_or_else(|| Problem::error("schema", "the contract has no schema objects to check records against")),
    }
}

fn top_level_lint(contract: &Contract, problems: &mut Vec<Problem>) {
    for k in contract.other.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            problems.push(Problem::error(k.clone(), "unknown top-level key (ODCS allows no others)"));
        }
    }
    if !matches!(contract.status.as_str(), "proposed" | "draft" | "active" | "deprecated" | "retired") {
        problems.push(Problem::warning("status", format!("unusual status {:?}; ODCS suggests proposed, draft, active, deprecated or retired", contract.status)));
    }
}

fn walk_properties(out: &mut Compiled, props: &[Property], keys: &[String], path: &str, in_array: bool, scope: &Scope<'_>, problems: &mut Vec<Problem>) {
    for (i, p) in props.iter().enumerate() {
        let ppath = format!("{path}.properties[{i}]");
        for k in p.other.keys() {
            if !PROPERTY_KEYS.contains(&k.as_str()) {
                problems.push(Problem::error(format!("{ppath}.{k}"), "unknown key in a property"));
            }
        }
        let mut k = keys.to_vec();
        k.push(p.name.clone());
        quality::property_rules(out, p, &k, &ppath, in_array, scope);
        walk_properties(out, &p.properties, &k, &ppath, in_array, scope, problems);
        if let Some(items) = &p.items {
            let mut ik = k.clone();
            if let Some(last) = ik.last_mut() {
                last.push_str("[]");
            }
            walk_properties(out, &items.properties, &ik, &format!("{ppath}.items"), true, scope, problems);
            if !items.quality.is_empty() {
                problems.push(Problem::not_enforced(format!("{ppath}.items.quality"), "quality rules on array items are not enforced"));
            }
        }
    }
}

#[cfg(test)]
mod tests;
