//! Just enough JSON for the search's NDJSON lines: writing flat objects of strings, integers and
//! nulls, and reading back the lines we wrote (for `--resume`). Hand-written to keep the
//! dependency list short; it rejects anything it does not understand rather than guess.

use std::fmt::Write as _;

/// A value of a flat object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Integer(u64),
    Null,
}

/// Writes `text` as a JSON string, escaping quotes, backslashes and control characters.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One flat object on one line, keys in the order given.
pub fn object(fields: &[(&str, Value)]) -> String {
    let mut out = String::from("{");
    for (index, (key, value)) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&quote(key));
        out.push(':');
        match value {
            Value::Text(text) => out.push_str(&quote(text)),
            Value::Integer(number) => out.push_str(&number.to_string()),
            Value::Null => out.push_str("null"),
        }
    }
    out.push('}');
    out
}

/// Reads a flat object written by [`object`]: keys and values in order.
pub fn parse_object(line: &str) -> Result<Vec<(String, Value)>, String> {
    let mut chars = line.trim().chars().peekable();
    let mut fields = Vec::new();
    if chars.next() != Some('{') {
        return Err("expected `{`".into());
    }
    // A line holds at most a few dozen fields; the bound stops a runaway on garbage.
    for _field in 0..1_000 {
        skip_spaces(&mut chars);
        if chars.peek() == Some(&'}') && fields.is_empty() {
            chars.next();
            return finish(chars, fields);
        }
        let key = parse_string(&mut chars)?;
        skip_spaces(&mut chars);
        if chars.next() != Some(':') {
            return Err(format!("expected `:` after key {key:?}"));
        }
        skip_spaces(&mut chars);
        let value = match chars.peek() {
            Some('"') => Value::Text(parse_string(&mut chars)?),
            Some('n') => {
                let word: String = (0..4).filter_map(|_| chars.next()).collect();
                if word != "null" {
                    return Err(format!("bad value of {key:?}"));
                }
                Value::Null
            }
            Some(c) if c.is_ascii_digit() => {
                let mut digits = String::new();
                while let Some(c) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(c);
                    chars.next();
                }
                Value::Integer(
                    digits
                        .parse()
                        .map_err(|_| format!("bad number of {key:?}"))?,
                )
            }
            _ => return Err(format!("bad value of {key:?}")),
        };
        fields.push((key, value));
        skip_spaces(&mut chars);
        match chars.next() {
            Some(',') => continue,
            Some('}') => return finish(chars, fields),
            _ => return Err("expected `,` or `}`".into()),
        }
    }
    Err("too many fields".into())
}

fn finish(
    mut chars: std::iter::Peekable<std::str::Chars<'_>>,
    fields: Vec<(String, Value)>,
) -> Result<Vec<(String, Value)>, String> {
    skip_spaces(&mut chars);
    match chars.next() {
        None => Ok(fields),
        Some(_) => Err("text after the object".into()),
    }
}

fn skip_spaces(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
}

fn parse_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    if chars.next() != Some('"') {
        return Err("expected a string".into());
    }
    let mut out = String::new();
    loop {
        match chars.next() {
            None => return Err("unterminated string".into()),
            Some('"') => return Ok(out),
            Some('\\') => match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('/') => out.push('/'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('u') => {
                    let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                    let code = u32::from_str_radix(&hex, 16)
                        .map_err(|_| format!("bad escape \\u{hex}"))?;
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                _ => return Err("bad escape".into()),
            },
            Some(c) => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects we write read back to the same fields, escapes and all.
    #[test]
    fn objects_round_trip() {
        let fields = vec![
            ("seed", Value::Integer(42)),
            (
                "why",
                Value::Text("a \"quoted\" \\ line\nwith\ttabs and \u{1} control".into()),
            ),
            ("invariant", Value::Null),
        ];
        let line = object(&fields);
        assert!(!line.contains('\n'));
        let parsed = parse_object(&line).unwrap();
        let expected: Vec<(String, Value)> = fields
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect();
        assert_eq!(parsed, expected);
    }

    /// Garbage is refused, not guessed at.
    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "{",
            "{\"a\":}",
            "{\"a\":1",
            "[1]",
            "{\"a\":1} x",
            "{\"a\":\"x}",
        ] {
            assert!(parse_object(bad).is_err(), "{bad:?}");
        }
    }
}
