//! SLA properties → window rules: latency and freshness (the age of the newest timestamp and
//! the share of stale records), frequency ("no data").

use super::{Compiled, Probe, Scope};
use crate::error::Problem;
use crate::model::SlaProperty;
use crate::threshold::{Operator, Unit};
use crate::window::{Enforcement, MetricKind, WindowRule};

/// Seconds in one `unit` of an SLA value.
#[must_use]
pub fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ms" | "millisecond" | "milliseconds" => 0.001,
        "s" | "sec" | "second" | "seconds" => 1.0,
        "m" | "min" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        "y" | "yr" | "year" | "years" => 31_536_000.0,
        _ => return None,
    })
}

/// Compiles SLA properties that apply to the scope's object. A latency (or freshness) SLA
/// gives three rules: the age of the newest timestamp (a stream gone stale or silent), the
/// share of records that were already older than the SLA when judged, at most
/// `gateMaxStalePercent` (a stale burst among fresh records), and the 95th percentile of the
/// records' ages (`<id>.recordAge`), reported beside the SLA but not judged: above the SLA it
/// says no more than a stale share above 5 % does. An element naming an object or
/// property the contract lacks is an error for the SLAs the gate enforces (they could never
/// fire) and a warning for the others.
pub fn sla_rules(out: &mut Compiled, slas: &[SlaProperty], scope: &Scope<'_>, stale_limit: f64) {
    for (i, s) in slas.iter().enumerate() {
        let spath = format!("slaProperties[{i}]");
        let kind = match s.property.as_str() {
            "latency" | "freshness" => Some(MetricKind::Freshness),
            "frequency" => Some(MetricKind::NoData),
            _ => None,
        };
        let element = s.element.as_deref().unwrap_or_default();
        let (obj, prop) = element.split_once('.').unwrap_or((element, ""));
        let lacking = if element.is_empty() {
            None
        } else if !scope.objects.contains(&obj) {
            Some(format!("SLA {} is on element {element:?}, but the contract has no schema object {obj:?} (objects: {})", s.property, scope.objects.join(", ")))
        } else if obj == scope.object && !prop.is_empty() && scope.find(prop).is_none() {
            Some(format!("SLA {} is on element {element:?}, but object {obj:?} has no property {prop:?}", s.property))
        } else {
            None
        };
        let Some(kind) = kind else {
            out.problems.push(Problem::not_enforced(spath.clone(), format!("SLA property {:?} is not enforced on streams (the gate enforces latency, freshness and frequency)", s.property)));
            if let Some(m) = lacking {
                out.problems.push(Problem::warning(format!("{spath}.element"), m));
            }
            continue;
        };
        if let Some(m) = lacking {
            out.problems.push(Problem::error(format!("{spath}.element"), format!("{m}: it could never fire")));
            continue;
        }
        let Some(value) = s.value.as_f64() else {
            out.problems.push(Problem::error(format!("{spath}.value"), format!("expected a number for {}, found {}", s.property, s.value)));
            continue;
        };
        let unit = s.unit.as_deref().unwrap_or("s");
        let Some(mult) = unit_seconds(unit) else {
            out.problems.push(Problem::error(format!("{spath}.unit"), format!("unknown unit {unit:?}; expected ms, s, m, h, d, w or y")));
            continue;
        };
        if !element.is_empty() && obj != scope.object {
            continue; // the SLA is about another object of the contract
        }
        let probe = if kind == MetricKind::Freshness {
            if prop.is_empty() {
                out.problems.push(Problem::error(format!("{spath}.element"), format!("{} needs element object.property naming a date or timestamp field", s.property)));
                continue;
            }
            let Some(p) = scope.find(prop) else { continue }; // reported above
            match crate::compile::schema::TimeFormat::of(p) {
                Some(format) => Probe::Freshness { path: prop.split('.').map(String::from).collect(), format },
                None => {
                    out.problems.push(Problem::error(format!("{spath}.element"), format!("{prop:?} must have logicalType timestamp or date to measure {}", s.property)));
                    continue;
                }
            }
        } else {
            Probe::NoData
        };
        let field = (!prop.is_empty()).then(|| prop.to_string());
        let derived = format!("{}.{}", field.as_deref().unwrap_or("$"), s.property);
        let id = out.unique_id(s.id.as_deref(), derived, &spath);
        let stale = match &probe {
            Probe::Freshness { path, format } => {
                #[allow(clippy::cast_possible_truncation)]
                let max_age_ms = (value * mult * 1000.0).round() as i64;
                Some((Probe::Stale { path: path.clone(), format: format.clone(), max_age_ms }, Probe::Age { path: path.clone(), format: format.clone() }))
            }
            _ => None,
        };
        out.push(WindowRule { id: id.clone(), metric: kind, field: field.clone(), operator: Operator::MustBeLessOrEqualTo(value * mult), unit: Unit::Seconds, baseline: None, enforcement: Enforcement::Window }, probe);
        if let Some((probe, ages)) = stale {
            let sid = out.unique_id(None, format!("{id}.staleRecords"), &spath);
            out.push(WindowRule { id: sid, metric: MetricKind::StaleRecords, field: field.clone(), operator: Operator::MustBeLessOrEqualTo(stale_limit), unit: Unit::Percent, baseline: None, enforcement: Enforcement::Window }, probe);
            let aid = out.unique_id(None, format!("{id}.recordAge"), &spath);
            out.push(WindowRule { id: aid, metric: MetricKind::RecordAge, field, operator: Operator::MustBeLessOrEqualTo(value * mult), unit: Unit::Seconds, baseline: None, enforcement: Enforcement::Report }, ages);
        }
    }
}
