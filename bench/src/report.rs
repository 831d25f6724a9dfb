//! Results: a human table on stderr and, with `--json`, one JSON object per workload on stdout, so
//! that runs can be compared by a script.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// One workload's figures, in the order they were added.
#[derive(Debug, Clone)]
pub struct Report {
    pub workload: &'static str,
    fields: Vec<(String, Value)>,
}

impl Report {
    pub fn new(workload: &'static str) -> Self {
        Self {
            workload,
            fields: Vec::new(),
        }
    }

    /// Adds a figure; the name carries the unit (`_us`, `_kib`, `_per_s`).
    pub fn add(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.fields.push((name.to_owned(), value.into()));
        self
    }

    /// Adds p50/p99/p99.9/max of a histogram recorded in nanoseconds, as microseconds.
    pub fn add_latency(&mut self, prefix: &str, h: &Histogram<u64>) -> &mut Self {
        let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
        self.add(&format!("{prefix}_p50_us"), us(h.value_at_quantile(0.50)));
        self.add(&format!("{prefix}_p99_us"), us(h.value_at_quantile(0.99)));
        self.add(&format!("{prefix}_p999_us"), us(h.value_at_quantile(0.999)));
        self.add(&format!("{prefix}_max_us"), us(h.max()));
        self
    }

    /// A figure by name, for tests and callers that check results.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("workload".into(), json!(self.workload));
        for (name, value) in &self.fields {
            map.insert(name.clone(), value.clone());
        }
        Value::Object(map)
    }

    /// Two aligned columns under the workload's name.
    pub fn to_table(&self) -> String {
        let width = self.fields.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let mut out = format!("== {} ==\n", self.workload);
        for (name, value) in &self.fields {
            let shown = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "  {name:<width$}  {shown}");
        }
        out
    }
}

/// A histogram for latencies in nanoseconds, 1 ns to 100 s at 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    #[allow(clippy::expect_used)] // constant arguments that hdrhistogram documents as valid
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json_carry_the_same_fields() {
        let mut h = latency_histogram();
        h.record(1_500).expect("in range");
        let mut r = Report::new("demo");
        r.add("delivered", 10).add_latency("latency", &h);
        let json = r.to_json();
        assert_eq!(json["workload"], "demo");
        assert_eq!(json["delivered"], 10);
        assert_eq!(json["latency_p50_us"], 1.5);
        assert!(r.to_table().contains("latency_max_us"));
    }
}
