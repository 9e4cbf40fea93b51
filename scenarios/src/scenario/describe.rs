//! `hangsim describe`: every key of the format with its meaning, default and bounds, and what a
//! scenario sets it to.

use std::fmt::Write;

use super::keys::{Key, EVENT_USES, KEYS, TRIGGERS};
use super::spec::ScenarioFile;

/// The description of `file` (or of the format alone).
pub fn describe(file: Option<&ScenarioFile>) -> String {
    let mut out = String::new();
    let tree = file.map(|file| toml::Value::try_from(file).expect("a scenario serializes"));
    if let Some(file) = file {
        let _ = writeln!(out, "scenario {}: {}", file.name, file.description);
        let _ = writeln!(
            out,
            "{} topic(s), {} consumer(s), {} event(s){}",
            file.topics.len(),
            file.consumers.len(),
            file.events.len(),
            if file.swarm.is_some() { ", swarm faults" } else { "" }
        );
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "keys (meaning; default; bounds), and the values this scenario sets:");
    for key in KEYS {
        describe_key(&mut out, key, tree.as_ref());
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "event kinds (do = ...), each with at_ms or after, and delay_ms, enabled:"
    );
    for usage in EVENT_USES {
        let keys = if usage.keys.is_empty() {
            "no other keys".to_string()
        } else {
            usage
                .keys
                .iter()
                .map(|key| {
                    if usage.required.contains(key) {
                        format!("{key} (required)")
                    } else {
                        key.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(out, "  {:<22} {}; keys: {keys}", usage.name, usage.meaning);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "triggers (after = \"...\"), each optionally :<consumer>:");
    for (name, meaning) in TRIGGERS {
        let _ = writeln!(out, "  {name:<24} {meaning}");
    }
    let _ = writeln!(
        out,
        "\nany number may be drawn per seed: {{ min = A, max = B }}; any value from a list: {{ one_of = [...] }}"
    );
    out
}

fn describe_key(out: &mut String, key: &Key, tree: Option<&toml::Value>) {
    let bounds = key
        .bounds
        .as_ref()
        .map(|bounds| format!("; {}..={}", bounds.start(), bounds.end()))
        .unwrap_or_default();
    let _ = writeln!(out, "  {:<44} {}; default {}{bounds}", key.path, key.meaning, key.default);
    if let Some(tree) = tree {
        let segments: Vec<&str> = key.path.split('.').collect();
        let mut found = Vec::new();
        collect(tree, &segments, String::new(), &mut found);
        for (path, value) in found {
            let _ = writeln!(out, "      {path} = {value}");
        }
    }
}

/// Every value at `segments` below `value`, with its full path (list entries by index).
fn collect(value: &toml::Value, segments: &[&str], path: String, found: &mut Vec<(String, String)>) {
    let Some((first, rest)) = segments.split_first() else {
        found.push((path, inline(value)));
        return;
    };
    // The file's lists are named in the singular ([[topic]], [[consumer]], [[consumer.consume]]).
    let Some(inner) = value.get(*first) else {
        return;
    };
    let joined = if path.is_empty() {
        first.to_string()
    } else {
        format!("{path}.{first}")
    };
    match inner {
        toml::Value::Array(items) if !rest.is_empty() || items.iter().all(toml::Value::is_table) => {
            for (index, item) in items.iter().enumerate() {
                collect(item, rest, format!("{joined}[{index}]"), found);
            }
        }
        _ => collect(inner, rest, joined, found),
    }
}

/// A value on one line, as TOML writes it inline.
fn inline(value: &toml::Value) -> String {
    match value {
        // A range reads min first, as files write it (a table's keys are sorted).
        toml::Value::Table(table)
            if table.len() == 2 && table.contains_key("min") && table.contains_key("max") =>
        {
            format!(
                "{{ min = {}, max = {} }}",
                inline(&table["min"]),
                inline(&table["max"])
            )
        }
        toml::Value::Table(table) => {
            let parts: Vec<String> = table
                .iter()
                .map(|(key, value)| format!("{key} = {}", inline(value)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        toml::Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}
