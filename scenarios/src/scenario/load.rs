//! Reading a scenario file: TOML into [`ScenarioFile`], `--set` overrides, and errors that name
//! the file, the line and the key.

use std::fmt;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use super::spec::ScenarioFile;
use super::validate;

/// The most bytes of a scenario file (the catalogue's largest is a few KiB).
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// One segment of a key's path: a table key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A key's path inside a file, as errors print it (`consumer[1].consume[0].api`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    /// A path of one top-level key.
    pub fn root(key: &str) -> KeyPath {
        KeyPath(vec![Segment::Key(key.to_string())])
    }

    /// This path, one key deeper.
    pub fn key(&self, key: &str) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_string()));
        KeyPath(segments)
    }

    /// This path, one list index deeper.
    pub fn index(&self, index: usize) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }

    /// The path without indices, as [`super::keys::KEYS`] names keys.
    pub fn pattern(&self) -> String {
        self.0
            .iter()
            .filter_map(|segment| match segment {
                Segment::Key(key) => Some(key.as_str()),
                Segment::Index(_) => None,
            })
            .collect::<Vec<_>>()
            .join(".")
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if position == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A problem found in a file, before it is placed on a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: KeyPath,
    pub message: String,
}

impl Problem {
    pub fn new(path: KeyPath, message: impl Into<String>) -> Problem {
        Problem {
            path,
            message: message.into(),
        }
    }
}

/// Why a scenario could not be read: one line naming the file, the line and the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file (or `catalogue:NAME`, or `--set`).
    pub origin: String,
    pub line: Option<usize>,
    /// The key's path, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A scenario read from text, with the warnings its checks gave.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub file: ScenarioFile,
    pub warnings: Vec<String>,
}

/// Reads, overrides and checks a scenario. `origin` names the text in errors; `sets` are
/// `PATH=VALUE` overrides applied in order.
pub fn load(text: &str, origin: &str, sets: &[String]) -> Result<Loaded, ScenarioError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ScenarioError {
            origin: origin.to_string(),
            line: None,
            key: None,
            message: format!(
                "the file has {} bytes; a scenario file has at most {MAX_FILE_BYTES}",
                text.len()
            ),
        });
    }
    let spans = DeTable::parse(text).map_err(|error| syntax_error(text, origin, &error))?;
    let file: ScenarioFile = toml::from_str(text).map_err(|error| {
        // A type error (unknown key, wrong type, missing key) names the key it is about: the
        // innermost key whose span holds the error's.
        let mut placed = syntax_error(text, origin, &error);
        let at = error
            .span()
            .and_then(|span| path_at(spans.get_ref(), &span));
        placed.key = at.as_ref().map(KeyPath::to_string);
        // A missing key is named in full: the error's span is its table's.
        if let Some(missing) = missing_field(error.message()) {
            placed.key = Some(at.unwrap_or_default().key(missing).to_string());
        }
        placed
    })?;
    let placed = |problem: Problem| place(text, origin, spans.get_ref(), problem);
    let mut warnings = validate::check(&file).map_err(placed)?;
    if sets.is_empty() {
        return Ok(Loaded { file, warnings });
    }
    let mut table: toml::Table = toml::from_str(text).map_err(|error| syntax_error(text, origin, &error))?;
    for set in sets {
        apply_set(&mut table, set)?;
    }
    let set_error = |message: String| ScenarioError {
        origin: "--set".into(),
        line: None,
        key: None,
        message,
    };
    let file = ScenarioFile::deserialize(toml::Value::Table(table))
        .map_err(|error| set_error(format!("{} after the overrides: {}", origin, error.message().trim().replace('\n', " "))))?;
    warnings = validate::check(&file).map_err(|problem| ScenarioError {
        origin: "--set".into(),
        line: None,
        key: Some(problem.path.to_string()),
        message: problem.message,
    })?;
    Ok(Loaded { file, warnings })
}

/// A TOML or type error, placed on its line.
fn syntax_error(text: &str, origin: &str, error: &toml::de::Error) -> ScenarioError {
    ScenarioError {
        origin: origin.to_string(),
        line: error.span().map(|span| line_of(text, span.start)),
        key: None,
        message: error.message().trim().replace('\n', " "),
    }
}

/// The path of the innermost key or list entry of `table` whose span (its key's or its value's)
/// holds all of `span`; `None` for an empty span, which the parser gives for the whole file.
/// Every entry is searched: an array of tables' entries span only their `[[header]]` lines, so
/// the spans do not nest.
fn path_at(table: &DeTable<'_>, span: &std::ops::Range<usize>) -> Option<KeyPath> {
    if span.is_empty() {
        return None;
    }
    let mut best = None;
    innermost(table, &KeyPath::default(), span, &mut best);
    best.map(|(_, path)| path)
}

/// Keeps in `best` the smallest span holding `span` below `table`, the deeper on a tie.
fn innermost(
    table: &DeTable<'_>,
    at: &KeyPath,
    span: &std::ops::Range<usize>,
    best: &mut Option<(usize, KeyPath)>,
) {
    for (name, value) in table.iter() {
        let path = at.key(name.get_ref());
        keep_if_holds(best, name.span(), span, &path);
        keep_if_holds(best, value.span(), span, &path);
        match value.get_ref() {
            DeValue::Table(inner) => innermost(inner, &path, span, best),
            DeValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    let entry = path.index(index);
                    keep_if_holds(best, item.span(), span, &entry);
                    if let DeValue::Table(inner) = item.get_ref() {
                        innermost(inner, &entry, span, best);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Keeps `path` in `best` when `outer` holds `span` and is no larger than the best so far.
fn keep_if_holds(
    best: &mut Option<(usize, KeyPath)>,
    outer: std::ops::Range<usize>,
    span: &std::ops::Range<usize>,
    path: &KeyPath,
) {
    let holds = outer.start <= span.start && span.end <= outer.end;
    if holds && best.as_ref().is_none_or(|(size, _)| outer.len() <= *size) {
        *best = Some((outer.len(), path.clone()));
    }
}

/// The key of serde's "missing field `KEY`" message.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Places a problem on the line of its key, or of the nearest enclosing key that exists.
fn place(text: &str, origin: &str, table: &DeTable<'_>, problem: Problem) -> ScenarioError {
    let mut span = None;
    let mut current: Option<&DeValue<'_>> = None;
    for (position, segment) in problem.path.0.iter().enumerate() {
        let found = match (segment, position, current) {
            (Segment::Key(key), 0, _) => lookup(table, key),
            (Segment::Key(key), _, Some(DeValue::Table(inner))) => lookup(inner, key),
            (Segment::Index(index), _, Some(DeValue::Array(items))) => {
                items.get(*index).map(|item| (item.span(), item.get_ref()))
            }
            _ => None,
        };
        let Some((found_span, value)) = found else {
            break;
        };
        span = Some(found_span);
        current = Some(value);
    }
    ScenarioError {
        origin: origin.to_string(),
        line: span.map(|span| line_of(text, span.start)),
        key: Some(problem.path.to_string()),
        message: problem.message,
    }
}

/// The span of a key (the key itself, which is where a reader looks) and its value.
fn lookup<'t, 'i>(
    table: &'t DeTable<'i>,
    key: &str,
) -> Option<(std::ops::Range<usize>, &'t DeValue<'i>)> {
    table
        .iter()
        .find(|(name, _)| name.get_ref().as_ref() == key)
        .map(|(name, value)| (name.span(), value.get_ref()))
}

/// Applies one `PATH=VALUE` override. PATH is a key path (`topic[0].partitions`,
/// `consumer[app-2].commit_timeout_ms`: a list entry by index or by its `name`); VALUE is a TOML
/// value (`5`, `true`, `{ min = 1, max = 3 }`), or else taken as a string.
pub fn apply_set(table: &mut toml::Table, set: &str) -> Result<(), ScenarioError> {
    let error = |message: String| ScenarioError {
        origin: "--set".into(),
        line: None,
        key: Some(set.split('=').next().unwrap_or(set).trim().to_string()),
        message,
    };
    let (path, value_text) = set
        .split_once('=')
        .ok_or_else(|| error("expected PATH=VALUE".into()))?;
    let value = parse_value(value_text.trim());
    let segments = parse_path(path.trim()).map_err(&error)?;
    let Some((last, parents)) = segments.split_last() else {
        return Err(error("the path is empty".into()));
    };
    let mut current = table;
    for segment in parents {
        current = descend(current, segment).map_err(&error)?;
    }
    match last {
        PathPart::Key(key) => {
            current.insert(key.clone(), value);
            Ok(())
        }
        PathPart::Entry(..) => Err(error(
            "the path must end with a key, not a list entry".into(),
        )),
    }
}

/// A part of an override's path.
#[derive(Debug)]
enum PathPart {
    Key(String),
    /// A list's entry, by index or by the entry's `name`.
    Entry(String, String),
}

fn parse_path(path: &str) -> Result<Vec<PathPart>, String> {
    let mut parts = Vec::new();
    for piece in path.split('.') {
        if piece.is_empty() {
            return Err("a path segment is empty".into());
        }
        match piece.split_once('[') {
            Some((list, rest)) => {
                let selector = rest
                    .strip_suffix(']')
                    .ok_or_else(|| format!("{piece:?} has no closing ]"))?;
                parts.push(PathPart::Entry(list.to_string(), selector.to_string()));
            }
            None => parts.push(PathPart::Key(piece.to_string())),
        }
    }
    Ok(parts)
}

fn descend<'t>(table: &'t mut toml::Table, part: &PathPart) -> Result<&'t mut toml::Table, String> {
    match part {
        PathPart::Key(key) => table
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("{key} is not a table")),
        PathPart::Entry(list, selector) => {
            let items = table
                .get_mut(list)
                .and_then(toml::Value::as_array_mut)
                .ok_or_else(|| format!("the file has no list {list}"))?;
            let count = items.len();
            let position = match selector.parse::<usize>() {
                Ok(index) if index < count => index,
                Ok(index) => return Err(format!("{list}[{index}]: the file has {count} entries")),
                Err(_) => items
                    .iter()
                    .position(|item| entry_name(item).as_deref() == Some(selector.as_str()))
                    .ok_or_else(|| format!("no entry of {list} is named {selector:?}"))?,
            };
            items[position]
                .as_table_mut()
                .ok_or_else(|| format!("{list}[{selector}] is not a table"))
        }
    }
}

/// The name an override selects a list entry by: its `name`, or for a consumption without one
/// the name events use (`<api>:<topics joined by +>`, as `ConsumeSpec::display_name`).
fn entry_name(item: &toml::Value) -> Option<String> {
    if let Some(name) = item.get("name") {
        return name.as_str().map(str::to_string);
    }
    let topics = item.get("topics")?.as_array()?;
    let topics: Vec<&str> = topics.iter().filter_map(toml::Value::as_str).collect();
    let api = item.get("api")?.as_str().unwrap_or("consume");
    Some(format!("{api}:{}", topics.join("+")))
}

/// A TOML value, or the text as a string when it is not one (`--set mode=silent`).
fn parse_value(text: &str) -> toml::Value {
    let wrapped = format!("value = {text}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut table) => table
            .remove("value")
            .unwrap_or(toml::Value::String(text.into())),
        Err(_) => toml::Value::String(text.to_string()),
    }
}
