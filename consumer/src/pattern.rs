//! Topic patterns for `Subscription::Pattern`: the subset of Java regular expressions that topic
//! patterns use in practice, matched against whole topic names as Kafka does (`matcher.matches`).
//!
//! Supported: literals, `.`, character classes (`[abc]`, `[a-z]`, `[^x]`), the escapes `\.`,
//! `\d`, `\w`, `\s` and escaped punctuation, the quantifiers `*`, `+`, `?`, and top-level
//! alternation `a|b`. Left out (rejected when parsing, never mismatched silently): groups,
//! counted repetition, anchors inside the pattern, lazy and possessive quantifiers.

/// A parsed topic pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPattern {
    alternatives: Vec<Vec<Piece>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Piece {
    atom: Atom,
    min: usize,
    /// `None`: unbounded.
    max: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Atom {
    Literal(char),
    Any,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Literal(literal) => *literal == c,
            Atom::Any => c != '\n',
            Atom::Class { negated, ranges } => {
                ranges.iter().any(|(low, high)| (*low..=*high).contains(&c)) != *negated
            }
        }
    }
}

/// The longest pattern accepted: a bound on the matcher's work.
const MAX_PATTERN_CHARS: usize = 1_000;

impl TopicPattern {
    /// Parses `pattern`, or says what it cannot handle.
    pub fn parse(pattern: &str) -> Result<TopicPattern, String> {
        if pattern.chars().count() > MAX_PATTERN_CHARS {
            return Err(format!(
                "pattern longer than {MAX_PATTERN_CHARS} characters"
            ));
        }
        let pattern = pattern.strip_prefix('^').unwrap_or(pattern);
        let pattern = pattern.strip_suffix('$').unwrap_or(pattern);
        let mut alternatives = vec![Vec::new()];
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let atom = match c {
                '|' => {
                    alternatives.push(Vec::new());
                    continue;
                }
                '.' => Atom::Any,
                '\\' => match chars.next() {
                    Some('d') => class(false, &[('0', '9')]),
                    Some('w') => class(false, &[('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')]),
                    Some('s') => class(
                        false,
                        &[(' ', ' '), ('\t', '\t'), ('\n', '\n'), ('\r', '\r')],
                    ),
                    Some(escaped) if !escaped.is_alphanumeric() => Atom::Literal(escaped),
                    Some(other) => return Err(format!("unsupported escape \\{other}")),
                    None => return Err("pattern ends with a backslash".into()),
                },
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        let Some(low) = chars.next() else {
                            return Err("unclosed character class".into());
                        };
                        if low == ']' && !ranges.is_empty() {
                            break;
                        }
                        let low = if low == '\\' {
                            chars.next().ok_or("unclosed character class")?
                        } else {
                            low
                        };
                        if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                Some(']') => {
                                    ranges.push((low, low));
                                    ranges.push(('-', '-'));
                                    break;
                                }
                                Some(high) if high >= low => ranges.push((low, high)),
                                _ => return Err("invalid range in character class".into()),
                            }
                        } else {
                            ranges.push((low, low));
                        }
                    }
                    Atom::Class { negated, ranges }
                }
                '(' | ')' | '{' | '}' | '^' | '$' => {
                    return Err(format!("unsupported pattern syntax '{c}'"))
                }
                '*' | '+' | '?' => return Err(format!("quantifier '{c}' without an atom")),
                literal => Atom::Literal(literal),
            };
            let (min, max) = match chars.peek() {
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('?') => (0, Some(1)),
                _ => (1, Some(1)),
            };
            if (min, max) != (1, Some(1)) {
                chars.next();
                if matches!(chars.peek(), Some('?' | '+')) {
                    return Err("lazy and possessive quantifiers are not supported".into());
                }
            }
            alternatives
                .last_mut()
                .expect("at least one alternative")
                .push(Piece { atom, min, max });
        }
        Ok(TopicPattern { alternatives })
    }

    /// Whether the whole `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        let chars: Vec<char> = topic.chars().collect();
        self.alternatives
            .iter()
            .any(|pieces| match_from(pieces, &chars))
    }
}

fn class(negated: bool, ranges: &[(char, char)]) -> Atom {
    Atom::Class {
        negated,
        ranges: ranges.to_vec(),
    }
}

/// Backtracking match of `pieces` against all of `text`. Work is bounded by the pattern and
/// topic lengths (both short and bounded: topic names have at most 249 characters).
fn match_from(pieces: &[Piece], text: &[char]) -> bool {
    let Some((piece, rest)) = pieces.split_first() else {
        return text.is_empty();
    };
    let mut taken = 0;
    while taken < piece.min {
        match text.get(taken) {
            Some(c) if piece.atom.matches(*c) => taken += 1,
            _ => return false,
        }
    }
    let max = piece.max.unwrap_or(text.len()).min(text.len());
    let mut longest = taken;
    while longest < max && piece.atom.matches(text[longest]) {
        longest += 1;
    }
    // Greedy, as Java's default quantifiers: try the longest run first.
    (taken..=longest)
        .rev()
        .any(|split| match_from(rest, &text[split..]))
}

#[cfg(test)]
mod tests {
    use super::TopicPattern;

    /// Patterns match whole topic names with Java's greedy quantifiers and classes.
    #[test]
    fn patterns_match_whole_topic_names() {
        let pattern = TopicPattern::parse("orders-.*").unwrap();
        assert!(pattern.matches("orders-eu"));
        assert!(pattern.matches("orders-"));
        assert!(!pattern.matches("old-orders-eu"));
        let pattern = TopicPattern::parse("t[0-9]+|audit\\.log").unwrap();
        assert!(pattern.matches("t12"));
        assert!(!pattern.matches("t"));
        assert!(pattern.matches("audit.log"));
        assert!(!pattern.matches("auditxlog"));
    }

    /// Syntax the matcher does not support is rejected rather than mismatched.
    #[test]
    fn unsupported_syntax_is_rejected() {
        assert!(TopicPattern::parse("(a|b)c").is_err());
        assert!(TopicPattern::parse("a{2}").is_err());
        assert!(TopicPattern::parse("*a").is_err());
    }
}
