//! Tests of the scenario file format: the catalogue files, round trips, resolution per seed,
//! `--set`, every error a file can have (one line naming file, line and key), warnings,
//! `describe` and the size limit. Most are tables: one row per case.

use std::collections::{BTreeMap, BTreeSet};

use super::describe::describe;
use super::keys::{EVENT_USES, KEYS, TRIGGERS};
use super::load::{load, MAX_FILE_BYTES};
use super::resolve::resolve;
use super::spec::ScenarioFile;
use super::trigger::{Trigger, TriggerKind};
use super::Draw;

/// The built-in scenarios, by the names their files declare.
#[rustfmt::skip]
const CATALOGUE: &[(&str, &str)] = &[
    (
        "auth-crash",
        include_str!("../../catalogue/auth-crash.toml"),
    ),
    (
        "auth-crash-end-streams",
        include_str!("../../catalogue/auth-crash-end-streams.toml"),
    ),
    (
        "auth-crash-idle-streams",
        include_str!("../../catalogue/auth-crash-idle-streams.toml"),
    ),
    (
        "graceful-shutdown",
        include_str!("../../catalogue/graceful-shutdown.toml"),
    ),
    (
        "rebalance-during-shutdown",
        include_str!("../../catalogue/rebalance-during-shutdown.toml"),
    ),
    (
        "pull-timeout",
        include_str!("../../catalogue/pull-timeout.toml"),
    ),
    (
        "commit-after-crash",
        include_str!("../../catalogue/commit-after-crash.toml"),
    ),
    ("chaos", include_str!("../../catalogue/chaos.toml")),
    (
        "group-churn",
        include_str!("../../catalogue/group-churn.toml"),
    ),
];

/// The scenario files of the repository's tests and README.
#[rustfmt::skip]
const TEST_FILES: &[(&str, &str)] = &[
    (
        "slow-handler",
        include_str!("../../../tests/scenarios/slow-handler.toml"),
    ),
    (
        "revoked-then-denied",
        include_str!("../../../tests/scenarios/README-example.toml"),
    ),
];

fn every_file() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    CATALOGUE.iter().chain(TEST_FILES)
}

fn loaded(name: &str, text: &str) -> ScenarioFile {
    match load(text, &format!("catalogue:{name}"), &[]) {
        Ok(loaded) => loaded.file,
        Err(error) => panic!("{error}"),
    }
}

/// Every catalogue and test file loads with no warning, under the name it is known by, with a
/// description for `hangsim list`.
#[test]
fn every_file_loads_without_warnings() {
    for (name, text) in every_file() {
        let loaded = load(text, name, &[]).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(loaded.warnings, Vec::<String>::new(), "{name}");
        assert_eq!(loaded.file.name, *name);
        assert!(
            !loaded.file.description.is_empty(),
            "{name} has no description"
        );
        assert!(!loaded.file.description.contains('\n'), "{name}: one line");
    }
}

/// The catalogue is the nine scenarios the hard-coded catalogue and issue 10 named.
#[test]
fn the_catalogue_has_its_nine_scenarios() {
    let names: BTreeSet<&str> = CATALOGUE.iter().map(|(name, _)| *name).collect();
    assert_eq!(names.len(), 9);
}

/// load, serialize, load gives the same file, for every file as written and as resolved.
#[test]
fn files_round_trip_through_toml() {
    for (name, text) in every_file() {
        let file = loaded(name, text);
        for (what, file) in [
            ("written", file.clone()),
            ("resolved for seed 7", resolve(&file, 7)),
        ] {
            let written = toml::to_string(&file).unwrap_or_else(|error| panic!("{name}: {error}"));
            let again = load(&written, name, &[])
                .unwrap_or_else(|error| panic!("{name} {what}: {error}\n{written}"));
            assert_eq!(again.file, file, "{name} {what}:\n{written}");
        }
    }
}

/// Whether a TOML value is a draw: `{ min, max }` or `{ one_of }`.
fn is_draw(value: &toml::Value) -> bool {
    let Some(table) = value.as_table() else {
        return false;
    };
    let keys: BTreeSet<&str> = table.keys().map(String::as_str).collect();
    keys == BTreeSet::from(["min", "max"]) || keys == BTreeSet::from(["one_of"])
}

/// Whether `resolved` is a value `original` can draw.
fn drawable(original: &toml::Value, resolved: &toml::Value) -> bool {
    if let (Some(min), Some(max)) = (original.get("min"), original.get("max")) {
        let value = resolved.as_integer();
        return value.is_some() && min.as_integer() <= value && value <= max.as_integer();
    }
    match original.get("one_of").and_then(toml::Value::as_array) {
        Some(choices) => choices.contains(resolved),
        None => original == resolved,
    }
}

/// Checks that `resolved` is `original` with every draw fixed to a value it can draw; events
/// turned off for the seed are left out, and nothing else.
fn check_resolution(
    original: &toml::Value,
    resolved: &toml::Value,
    path: &str,
) -> Result<(), String> {
    if is_draw(resolved) {
        return Err(format!("{path} is still a draw: {resolved}"));
    }
    if is_draw(original) {
        return drawable(original, resolved)
            .then_some(())
            .ok_or_else(|| format!("{path} = {resolved} is not one of {original}"));
    }
    match (original, resolved) {
        (toml::Value::Table(original), toml::Value::Table(resolved)) => {
            for (key, value) in resolved {
                let inner = format!("{path}.{key}");
                match original.get(key) {
                    Some(before) => check_resolution(before, value, &inner)?,
                    // A consumption's name is written out; a swarm becomes a fault plan.
                    None if key == "name" || key == "faults" => {}
                    None => return Err(format!("{inner} was added")),
                }
            }
            for key in original.keys() {
                if !resolved.contains_key(key) && key != "enabled" && key != "swarm" {
                    return Err(format!("{path}.{key} was dropped"));
                }
            }
            Ok(())
        }
        (toml::Value::Array(original), toml::Value::Array(resolved)) if path.ends_with("event") => {
            // The resolved events are the original ones in order, some left out by their coin.
            let mut next = 0;
            for (index, event) in resolved.iter().enumerate() {
                loop {
                    let Some(candidate) = original.get(next) else {
                        return Err(format!("{path}[{index}] matches no event of the file"));
                    };
                    next += 1;
                    if check_resolution(candidate, event, &format!("{path}[{index}]")).is_ok() {
                        break;
                    }
                    let can_be_off = candidate
                        .get("enabled")
                        .is_some_and(|enabled| drawable(enabled, &toml::Value::Boolean(false)));
                    if !can_be_off {
                        return Err(format!(
                            "{path}: event {} was left out but is always on",
                            next - 1
                        ));
                    }
                }
            }
            Ok(())
        }
        (toml::Value::Array(original), toml::Value::Array(resolved)) => {
            if original.len() != resolved.len() {
                return Err(format!(
                    "{path} has {} entries, not {}",
                    resolved.len(),
                    original.len()
                ));
            }
            for (index, (before, after)) in original.iter().zip(resolved).enumerate() {
                check_resolution(before, after, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        _ if original == resolved => Ok(()),
        _ => Err(format!("{path} changed from {original} to {resolved}")),
    }
}

/// Resolving fixes every draw to a value it can draw, is the same for the same seed, and a
/// resolved file loads again and resolves to itself whatever the seed.
#[test]
fn resolution_fixes_every_draw_deterministically() {
    for (name, text) in every_file() {
        let file = loaded(name, text);
        let original = toml::Value::try_from(&file).expect("a scenario serializes");
        for seed in [0, 1, 2, 99, u64::MAX] {
            let resolved = resolve(&file, seed);
            assert_eq!(resolved, resolve(&file, seed), "{name} seed {seed}");
            let tree = toml::Value::try_from(&resolved).expect("a resolved scenario serializes");
            if let Err(problem) = check_resolution(&original, &tree, "") {
                panic!("{name} seed {seed}: {problem}");
            }
            assert!(
                resolved.swarm.is_none(),
                "{name}: the swarm is drawn into faults"
            );
            let again = load(&toml::to_string(&resolved).unwrap(), name, &[])
                .unwrap_or_else(|error| panic!("{name} seed {seed}: {error}"));
            assert_eq!(again.file, resolved);
            assert_eq!(
                resolve(&again.file, seed.wrapping_add(1)),
                resolved,
                "{name} seed {seed}"
            );
        }
    }
}

/// Swarm fault plans, drawn for one consumer or for a group, are within the bounds a written-out
/// plan is held to: every resolved file loads again.
#[test]
fn drawn_fault_plans_load_again() {
    let chaos = CATALOGUE
        .iter()
        .find(|(name, _)| *name == "chaos")
        .unwrap()
        .1;
    let group = TEST_FILES[1].1;
    let swarmed = load(group, "group", &["swarm.horizon_ms=8000".to_string()])
        .unwrap()
        .file;
    assert_eq!(swarmed.consumers.len(), 2, "a group swarm");
    for file in [loaded("chaos", chaos), swarmed] {
        let mut faults = 0;
        for seed in 0..300 {
            let resolved = resolve(&file, seed);
            faults += resolved.faults.acl_changes.len() + resolved.faults.call_faults.len();
            let text = toml::to_string(&resolved).unwrap();
            if let Err(error) = load(&text, "resolved", &[]) {
                panic!("{} seed {seed}: {error}", file.name);
            }
        }
        assert!(faults > 0, "{}: the swarm drew no fault", file.name);
    }
}

/// Different seeds resolve to different scenarios: every file is a family of runs.
#[test]
fn resolution_varies_across_seeds() {
    for (name, text) in every_file() {
        let file = loaded(name, text);
        let distinct: BTreeSet<String> = (0..32)
            .map(|seed| toml::to_string(&resolve(&file, seed)).unwrap())
            .collect();
        let expected = if *name == "slow-handler" { 1 } else { 16 };
        assert!(
            distinct.len() >= expected,
            "{name}: {} distinct resolutions of 32",
            distinct.len()
        );
    }
}

/// Collects the draws of a tree outside its events, by path.
fn draws(value: &toml::Value, path: String, found: &mut BTreeMap<String, toml::Value>) {
    if is_draw(value) {
        found.insert(path, value.clone());
        return;
    }
    match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                if key != "event" {
                    draws(inner, format!("{path}.{key}"), found);
                }
            }
        }
        toml::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                draws(item, format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// The value at a path `draws` wrote.
fn at_path<'v>(value: &'v toml::Value, path: &str) -> &'v toml::Value {
    let mut current = value;
    for part in path.trim_start_matches('.').split('.') {
        let (key, index) = match part.split_once('[') {
            Some((key, index)) => (
                key,
                Some(index.trim_end_matches(']').parse::<usize>().unwrap()),
            ),
            None => (part, None),
        };
        current = &current[key];
        if let Some(index) = index {
            current = &current[index];
        }
    }
    current
}

/// Over 200 seeds, every choice of every `one_of` outside events is drawn, and every range
/// draws several values: no choice is dead.
#[test]
fn every_choice_is_drawn_over_seeds() {
    for (name, text) in every_file() {
        let file = loaded(name, text);
        let mut found = BTreeMap::new();
        draws(
            &toml::Value::try_from(&file).unwrap(),
            String::new(),
            &mut found,
        );
        let resolved: Vec<toml::Value> = (0..200)
            .map(|seed| toml::Value::try_from(resolve(&file, seed)).unwrap())
            .collect();
        for (path, draw) in found {
            let seen: BTreeSet<String> = resolved
                .iter()
                .map(|tree| at_path(tree, &path).to_string())
                .collect();
            match draw.get("one_of").and_then(toml::Value::as_array) {
                Some(choices) => {
                    let all: BTreeSet<String> =
                        choices.iter().map(toml::Value::to_string).collect();
                    assert_eq!(seen, all, "{name}{path}");
                }
                None => assert!(seen.len() >= 2, "{name}{path} drew only {seen:?}"),
            }
        }
    }
}

/// An event with a coin is on for some seeds and off for others; events without one are kept
/// (`chaos` has nine event coins: a few thousand seeds see all of them on, and all off).
#[test]
fn coins_turn_events_on_and_off() {
    let file = loaded(
        "chaos",
        CATALOGUE
            .iter()
            .find(|(name, _)| *name == "chaos")
            .unwrap()
            .1,
    );
    let coins = file
        .events
        .iter()
        .filter(|event| event.enabled.is_some())
        .count();
    let counts: BTreeSet<usize> = (0..5_000)
        .map(|seed| resolve(&file, seed).events.len())
        .collect();
    let always = file.events.len() - coins;
    assert_eq!(counts.first(), Some(&always));
    assert_eq!(counts.last(), Some(&file.events.len()));
}

/// Each key draws from its own generator: overriding one key leaves every other draw as it was.
#[test]
fn overriding_one_key_leaves_other_draws_alone() {
    let text = CATALOGUE[0].1;
    let file = loaded("auth-crash", text);
    let set = vec!["topic[1].records_per_partition=7".to_string()];
    let overridden = load(text, "auth-crash", &set).unwrap().file;
    for seed in 0..20 {
        let (plain, changed) = (resolve(&file, seed), resolve(&overridden, seed));
        assert_eq!(changed.topics[1].records_per_partition, Draw::Fixed(7));
        assert_eq!(plain.topics[0], changed.topics[0], "seed {seed}");
        assert_eq!(plain.consumers, changed.consumers, "seed {seed}");
        assert_eq!(plain.events, changed.events, "seed {seed}");
    }
}

/// `--set` by index and by name (a consumption also by the name events use), nested, creating
/// a table, with any TOML value or a bare string.
#[test]
fn sets_override_by_index_and_by_name() {
    let text = CATALOGUE[0].1;
    type Check = fn(&ScenarioFile) -> bool;
    // One case a row.
    #[rustfmt::skip]
    let cases: &[(&str, Check)] = &[
        ("topic[0].partitions=3", |f| {
            f.topics[0].partitions == Draw::Fixed(3)
        }),
        (
            "topic[topic1].records_per_partition={ min = 2, max = 4 }",
            |f| f.topics[1].records_per_partition == Draw::Range { min: 2, max: 4 },
        ),
        ("consumer[app-1].auth_error_retries=7", |f| {
            f.consumers[0].auth_error_retries == Some(Draw::Fixed(7))
        }),
        ("consumer[0].consume[1].handler_delay_ms = 9", |f| {
            f.consumers[0].consumptions[1].handler_delay_ms == Some(Draw::Fixed(9))
        }),
        (
            "consumer[app-1].consume[consume_with:topic1].commit_each_record=false",
            |f| f.consumers[0].consumptions[1].commit_each_record == Some(Draw::Fixed(false)),
        ),
        ("run.final_stop_ms=40000", |f| {
            f.run.final_stop_ms == Some(Draw::Fixed(40_000))
        }),
        ("event[0].mode=silent", |f| {
            f.events[0].mode == Some(Draw::Fixed(super::spec::DenyMode::Silent))
        }),
        ("group.rebalance_protocol=cooperative-sticky", |f| {
            f.group.rebalance_protocol
                == Draw::Fixed(super::spec::RebalanceProtocolName::CooperativeSticky)
        }),
        ("description=\"changed\"", |f| f.description == "changed"),
    ];
    for (set, check) in cases {
        let loaded = load(text, "auth-crash", &[set.to_string()])
            .unwrap_or_else(|error| panic!("{set}: {error}"));
        assert!(check(&loaded.file), "{set}: {:?}", loaded.file);
    }
    // Several sets apply in order: the last one wins.
    let sets = [
        "topic[0].partitions=3".to_string(),
        "topic[0].partitions=4".to_string(),
    ];
    assert_eq!(
        load(text, "auth-crash", &sets).unwrap().file.topics[0].partitions,
        Draw::Fixed(4)
    );
}

/// Bad `--set`s: one line from `--set`, naming the path and what is wrong.
#[test]
fn bad_sets_are_refused_with_one_line() {
    let text = CATALOGUE[0].1;
    let cases = [
        (
            "topic[0].partitions",
            "--set: topic[0].partitions: expected PATH=VALUE",
        ),
        (
            "topic[5].partitions=1",
            "--set: topic[5].partitions: topic[5]: the file has 2 entries",
        ),
        (
            "topic[nope].partitions=1",
            "no entry of topic is named \"nope\"",
        ),
        (
            "topic[0]=1",
            "the path must end with a key, not a list entry",
        ),
        ("topic[0.partitions=1", "has no closing ]"),
        ("topic..partitions=1", "a path segment is empty"),
        ("=3", "a path segment is empty"),
        ("name.x=1", "name is not a table"),
        ("nothing[0].x=1", "the file has no list nothing"),
        (
            "topic[0].partitions=0",
            "--set: topic[0].partitions: 0 is outside its bounds 1..=8",
        ),
        (
            "topic[0].partitions=\"many\"",
            "catalogue:auth-crash after the overrides: invalid type: string \"many\"",
        ),
        ("topic[0].colour=red", "unknown field `colour`"),
        (
            "event[0].topic=nope",
            "--set: event[0].topic: no topic is named \"nope\"",
        ),
    ];
    for (set, expected) in cases {
        let error = load(text, "catalogue:auth-crash", &[set.to_string()])
            .err()
            .unwrap_or_else(|| panic!("{set} was accepted"));
        let line = error.to_string();
        assert!(line.starts_with("--set"), "{set}: {line}");
        assert!(
            line.contains(expected),
            "{set}: {line}\nexpected: {expected}"
        );
        assert!(!line.contains('\n'), "{set}: {line}");
    }
}

/// A small valid file: its lines are numbered so that cases can say where their error is.
const BASE: &str = r#"format = 1
name = "t"
[[topic]]
name = "topic0"
partitions = 2
records_per_partition = 5
[[consumer]]
name = "app-1"
[[consumer.consume]]
api = "consume_with"
topics = ["topic0"]
"#;

/// `BASE` with `extra` appended (it starts on line 12: inside the consumption's table, or a new
/// table).
fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

/// `BASE` with `from` replaced by `to`.
fn replaced(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    BASE.replacen(from, to, 1)
}

#[test]
fn the_base_file_is_valid() {
    let loaded = load(BASE, "t.toml", &[]).unwrap();
    assert!(loaded.warnings.is_empty());
    assert_eq!(BASE.lines().count(), 11);
}

/// Every error a file can have gives one line `file:line: key: message`, on the line of the key
/// it names.
#[test]
fn errors_name_file_line_and_key() {
    let event = |body: &str| with(&format!("[[event]]\n{body}"));
    // One case a row.
    #[rustfmt::skip]
    let cases: Vec<(&str, String, usize, &str, &str)> = vec![
        // (what, text, line, key, part of the message)
        (
            "unknown key",
            replaced("name = \"t\"\n", "name = \"t\"\ncolour = 1\n"),
            3,
            "colour",
            "unknown field `colour`",
        ),
        (
            "unknown key, nested",
            with("colour = 1\n"),
            12,
            "consumer[0].consume[0].colour",
            "unknown field `colour`",
        ),
        (
            "wrong type",
            with("handler_delay_ms = \"slow\"\n"),
            12,
            "consumer[0].consume[0].handler_delay_ms",
            "invalid type: string \"slow\"",
        ),
        (
            "negative number",
            replaced("partitions = 2", "partitions = -2"),
            5,
            "topic[0].partitions",
            "expected u64",
        ),
        (
            "unknown name",
            replaced("consume_with", "consume_forever"),
            10,
            "consumer[0].consume[0].api",
            "unknown variant `consume_forever`",
        ),
        (
            "unknown event kind",
            event("do = \"explode\"\n"),
            13,
            "event[0].do",
            "unknown variant `explode`",
        ),
        (
            "missing key",
            replaced("name = \"topic0\"\n", ""),
            3,
            "topic[0].name",
            "missing field `name`",
        ),
        (
            "missing key at the top",
            replaced("name = \"t\"\n", ""),
            1,
            "name",
            "missing field `name`",
        ),
        (
            "missing key, nested",
            replaced("api = \"consume_with\"\n", ""),
            9,
            "consumer[0].consume[0].api",
            "missing field `api`",
        ),
        (
            "bad draw",
            replaced("partitions = 2", "partitions = { low = 2 }"),
            5,
            "topic[0].partitions",
            "found keys low",
        ),
        (
            "half a range",
            replaced("partitions = 2", "partitions = { min = 2 }"),
            5,
            "topic[0].partitions",
            "found keys min",
        ),
        (
            "min > max",
            with("handler_delay_ms = { min = 9, max = 1 }\n"),
            12,
            "consumer[0].consume[0].handler_delay_ms",
            "min 9 is greater than max 1",
        ),
        (
            "range of a boolean",
            with("commit_each_record = { min = false, max = true }\n"),
            12,
            "consumer[0].consume[0].commit_each_record",
            "ranges apply to numbers only",
        ),
        (
            "empty choice",
            with("handler_delay_ms = { one_of = [] }\n"),
            12,
            "consumer[0].consume[0].handler_delay_ms",
            "one_of lists no value",
        ),
        (
            "above its bounds",
            with("handler_delay_ms = 60001\n"),
            12,
            "consumer[0].consume[0].handler_delay_ms",
            "60001 is outside its bounds 0..=60000",
        ),
        (
            "a range beyond its bounds",
            replaced("partitions = 2", "partitions = { min = 1, max = 9 }"),
            5,
            "topic[0].partitions",
            "9 is outside its bounds 1..=8",
        ),
        (
            "a choice beyond its bounds",
            replaced("partitions = 2", "partitions = { one_of = [2, 0] }"),
            5,
            "topic[0].partitions",
            "0 is outside its bounds 1..=8",
        ),
        (
            "unknown format",
            replaced("format = 1", "format = 2"),
            1,
            "format",
            "format 2 is not known",
        ),
        (
            "bad scenario name",
            replaced("name = \"t\"", "name = \"t t\""),
            2,
            "name",
            "has characters a name cannot have",
        ),
        (
            "topic twice",
            with("[[topic]]\nname = \"topic0\"\n"),
            13,
            "topic[1].name",
            "declared twice",
        ),
        (
            "consumption of an unknown topic",
            replaced("topics = [\"topic0\"]", "topics = [\"topic9\"]"),
            11,
            "consumer[0].consume[0].topics",
            "no topic is named \"topic9\"",
        ),
        (
            "first consumer with a protocol",
            replaced(
                "name = \"app-1\"\n",
                "name = \"app-1\"\nprotocol = \"race-only\"\n",
            ),
            9,
            "consumer[0].protocol",
            "the first consumer is the one under test",
        ),
        (
            "a consumer named with ':'",
            replaced("name = \"app-1\"", "name = \"app:1\""),
            8,
            "consumer[0].name",
            "cannot contain ':'",
        ),
        (
            "event naming no consumer",
            event("do = \"stop-consumption\"\nconsumer = \"app-9\"\n"),
            14,
            "event[0].consumer",
            "no consumer is named \"app-9\"",
        ),
        (
            "event naming no topic",
            event("do = \"deny-read\"\ntopic = \"topic9\"\n"),
            14,
            "event[0].topic",
            "no topic is named \"topic9\"",
        ),
        (
            "event naming no consumption",
            event("do = \"interrupt-consume\"\nconsume = \"nope\"\n"),
            14,
            "event[0].consume",
            "app-1 has no consumption named \"nope\" (it has: consume_with:topic0)",
        ),
        (
            "event naming no trigger",
            event("do = \"stop-consumption\"\nafter = \"partitions-moved\"\n"),
            14,
            "event[0].after",
            "\"partitions-moved\" is not a trigger",
        ),
        (
            "trigger naming no consumer",
            event("do = \"stop-consumption\"\nafter = \"partitions-revoked:app-9\"\n"),
            14,
            "event[0].after",
            "no consumer is named \"app-9\"",
        ),
        (
            "trigger naming no command",
            event("do = \"stop-consumption\"\nafter = \"command-offered:Explode\"\n"),
            14,
            "event[0].after",
            "\"Explode\" is not a runloop command",
        ),
        (
            "a key the kind does not use",
            event("do = \"peer-join\"\npeer = \"p\"\ntopic = \"topic0\"\n"),
            15,
            "event[0].topic",
            "do = \"peer-join\" does not use topic",
        ),
        (
            "a required key missing",
            event("do = \"deny-read\"\n"),
            13,
            "event[0].do",
            "do = \"deny-read\" needs topic",
        ),
        (
            "at_ms and after both",
            event("do = \"stop-consumption\"\nat_ms = 1\nafter = \"rebalance-started\"\n"),
            15,
            "event[0].after",
            "at_ms or after, not both",
        ),
        (
            "event time beyond its bounds",
            event("do = \"stop-consumption\"\nat_ms = 600001\n"),
            14,
            "event[0].at_ms",
            "outside its bounds 0..=600000",
        ),
        (
            "add-subscription of an at-start consumption",
            event("do = \"add-subscription\"\nconsume = \"consume_with:topic0\"\n"),
            14,
            "event[0].consume",
            "add-subscription starts only consumptions with start = \"on-event\"",
        ),
        (
            "commit latency of another call",
            event("do = \"commit-latency\"\nms = 5\ncall = \"poll\"\n"),
            15,
            "event[0].call",
            "commit-latency delays commit_async or commit_sync",
        ),
        (
            "a peer named as a consumer",
            event("do = \"peer-join\"\npeer = \"app-1\"\n"),
            14,
            "event[0].peer",
            "is a full consumer",
        ),
        (
            "swarm of an unknown topic",
            with("[swarm]\nhorizon_ms = 100\ntopics = [\"topic9\"]\n"),
            14,
            "swarm.topics",
            "no topic is named \"topic9\"",
        ),
        (
            "no topics",
            replaced(
                "[[topic]]\nname = \"topic0\"\npartitions = 2\nrecords_per_partition = 5\n",
                "",
            ),
            0,
            "topic",
            "a scenario has 1 to 8 topics",
        ),
    ];
    let choices = format!(
        "handler_delay_ms = {{ one_of = [{}] }}\n",
        vec!["1"; 65].join(", ")
    );
    let events = "[[event]]\ndo = \"session-timeout\"\n".repeat(65);
    // One case a row.
    #[rustfmt::skip]
    let limits = vec![
        ("too many choices", with(&choices), 12, "consumer[0].consume[0].handler_delay_ms", "one_of lists at most 64 values"),
        ("too many events", with(&events), 12, "event", "65 events; a scenario has at most 64"),
        ("a written-out latency beyond its bounds", with("[[faults.poll_latency]]\nfrom_ms = 0\nlatency_ms = 60001\n"), 14, "faults.poll_latency[0].latency_ms", "60001 is outside its bounds 0..=60000"),
        ("a written-out denial of no topic", with("[[faults.acl_changes]]\nat_ms = 0\ntopic = \"topic9\"\naccess = \"allowed\"\n"), 14, "faults.acl_changes[0].topic", "no topic is named \"topic9\""),
        ("a written-out fault of no client", with("[[faults.call_faults]]\ncall = \"poll\"\nerror = \"wakeup\"\ntimes = \"once\"\nclient = \"app-9\"\n"), 16, "faults.call_faults[0].client", "no consumer is named \"app-9\""),
        ("a written-out peer of another group", with("[[faults.peer_changes]]\nat_ms = 0\ngroup = \"other\"\npeer = \"p\"\naction = \"join\"\n"), 14, "faults.peer_changes[0].group", "the scenario's group is \"hangsim-group\", not \"other\""),
        ("a written-out time beyond its bounds", with("[[faults.session_timeouts]]\nat_ms = 600001\ngroup = \"hangsim-group\"\n"), 13, "faults.session_timeouts[0].at_ms", "600001 is outside its bounds 0..=600000"),
    ];
    for (what, text, line, key, message) in cases.into_iter().chain(limits) {
        let error = match load(&text, "t.toml", &[]) {
            Ok(_) => panic!("{what}: accepted\n{text}"),
            Err(error) => error.to_string(),
        };
        let place = if line == 0 {
            format!("t.toml: {key}: ")
        } else {
            format!("t.toml:{line}: {key}: ")
        };
        assert!(
            error.starts_with(&place),
            "{what}: {error}\nexpected it to start with {place:?}"
        );
        assert!(
            error.contains(message),
            "{what}: {error}\nexpected: {message}"
        );
        assert!(!error.contains('\n'), "{what}: {error}");
    }
}

/// Triggers that can never fire, and consumptions nothing starts, are warned about; the same
/// events where they can fire are not.
#[test]
fn triggers_that_never_fire_are_warned_about() {
    let event = |body: &str| with(&format!("[[event]]\ndo = \"stop-consumption\"\n{body}"));
    let deny = "[[event]]\ndo = \"deny-read\"\ntopic = \"topic0\"\n";
    // One case a row.
    #[rustfmt::skip]
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("crash without a fault", event("after = \"runloop-crashed\"\n"), Some("event[0].after = \"runloop-crashed\" can never fire: nothing in the scenario fails a runloop")),
        ("crash with a denial", format!("{}{deny}", event("after = \"runloop-crashed\"\n")), None),
        ("crash with a swarm", format!("{}[swarm]\nhorizon_ms = 100\n", event("after = \"runloop-crashed\"\n")), None),
        ("lost without a session timeout", event("after = \"partitions-lost:app-1\"\n"), Some("partitions are lost only after a session timeout")),
        ("lost after a session timeout", format!("{}[[event]]\ndo = \"session-timeout\"\n", event("after = \"partitions-lost\"\n")), None),
        ("more records than produced", event("after = \"records-processed:11\"\n"), Some("the topics hold at most 10 records")),
        ("every record produced", event("after = \"records-processed:10\"\n"), None),
        ("a consumption nothing starts", with("start = \"on-event\"\n"), Some("consumer[0].consume[0] starts on an event, but no add-subscription event starts it")),
        ("a consumption an event starts", with("start = \"on-event\"\n[[event]]\ndo = \"add-subscription\"\nconsume = \"consume_with:topic0\"\n"), None),
    ];
    for (what, text, expected) in cases {
        let loaded = load(&text, "t.toml", &[]).unwrap_or_else(|error| panic!("{what}: {error}"));
        match expected {
            Some(warning) => {
                assert_eq!(loaded.warnings.len(), 1, "{what}: {:?}", loaded.warnings);
                assert!(
                    loaded.warnings[0].contains(warning),
                    "{what}: {:?}",
                    loaded.warnings
                );
            }
            None => assert!(loaded.warnings.is_empty(), "{what}: {:?}", loaded.warnings),
        }
    }
}

/// Triggers read as `name[:argument][:consumer]`.
#[test]
fn triggers_parse() {
    // One case a row.
    #[rustfmt::skip]
    let valid = [
        ("rebalance-started", TriggerKind::RebalanceStarted, None),
        (
            "partitions-assigned:app-2",
            TriggerKind::PartitionsAssigned,
            Some("app-2"),
        ),
        ("partitions-revoked", TriggerKind::PartitionsRevoked, None),
        (
            "partitions-lost:app-1",
            TriggerKind::PartitionsLost,
            Some("app-1"),
        ),
        ("runloop-crashed", TriggerKind::RunloopCrashed, None),
        (
            "command-offered:StopRunloop",
            TriggerKind::CommandOffered("StopRunloop".into()),
            None,
        ),
        (
            "command-offered:Poll:app-1",
            TriggerKind::CommandOffered("Poll".into()),
            Some("app-1"),
        ),
        (
            "records-processed:100",
            TriggerKind::RecordsProcessed(100),
            None,
        ),
        (
            "records-processed:1:app-1",
            TriggerKind::RecordsProcessed(1),
            Some("app-1"),
        ),
    ];
    for (text, kind, consumer) in valid {
        let trigger = Trigger::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        assert_eq!(
            trigger,
            Trigger {
                kind: kind.clone(),
                consumer: consumer.map(str::to_string)
            }
        );
        let written = match consumer {
            Some(consumer) => format!("{kind}:{consumer}"),
            None => kind.to_string(),
        };
        assert_eq!(written, text);
    }
    let invalid = [
        ("", "is not a trigger"),
        ("rebalance", "is not a trigger"),
        ("command-offered", "needs a command"),
        ("command-offered:Explode", "is not a runloop command"),
        ("records-processed", "needs a count"),
        ("records-processed:0", "needs a count"),
        ("records-processed:many", "needs a count"),
        ("records-processed:1000001", "needs a count"),
        ("partitions-revoked:app-1:extra", "has too many parts"),
        ("partitions-revoked:", "has too many parts"),
    ];
    for (text, expected) in invalid {
        let error = Trigger::parse(text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} parsed"));
        assert!(error.contains(expected), "{text:?}: {error}");
    }
}

/// `describe` names every key, every event kind and every trigger, and a scenario's values.
#[test]
fn describe_mentions_every_key_event_and_trigger() {
    let format = describe(None);
    for key in KEYS {
        assert!(format.contains(key.path), "{}", key.path);
        assert!(format.contains(key.meaning), "{}", key.path);
    }
    for usage in EVENT_USES {
        assert!(format.contains(usage.name), "{}", usage.name);
    }
    for (trigger, _) in TRIGGERS {
        assert!(format.contains(trigger), "{trigger}");
    }
    let file = loaded("auth-crash", CATALOGUE[0].1);
    let text = describe(Some(&file));
    for expected in [
        "scenario auth-crash: consume_with on two subscriptions",
        "2 topic(s), 1 consumer(s), 1 event(s)",
        "topic[1].partitions = 2",
        "consumer[0].consume[1].handler_delay_ms = { min = 0, max = 30 }",
        "event[0].do = \"deny-read\"",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}

/// A file over the byte limit is refused before it is parsed; one at the limit is read.
#[test]
fn files_over_the_byte_limit_are_refused() {
    // BASE and one long comment line, `total` bytes in all.
    let padding = |total: usize| format!("{BASE}#{}\n", "x".repeat(total - BASE.len() - 2));
    let at_limit = padding(MAX_FILE_BYTES);
    assert_eq!(at_limit.len(), MAX_FILE_BYTES);
    assert!(load(&at_limit, "big.toml", &[]).is_ok());
    let over = format!("{at_limit}#");
    let error = load(&over, "big.toml", &[]).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "big.toml: the file has {} bytes; a scenario file has at most {MAX_FILE_BYTES}",
            MAX_FILE_BYTES + 1
        )
    );
}
