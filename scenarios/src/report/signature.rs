//! Failure signatures: a short text that is the same for failures of the same shape, so that a
//! search keeps one fixture per shape and counts runs per shape.

use consumer::rt::ObligationKind;
use sim::RunResult;

/// `RemoveSubscription#4` -> `RemoveSubscription#N`: signatures ignore numbers.
pub fn without_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The shape of a hang: the open requests (or, without any, the other open obligations) and the
/// object each caller's chain of waits ends on, without numbers, sorted.
pub fn hang_signature(result: &RunResult) -> String {
    let liveness = &result.liveness;
    let mut parts: Vec<String> = liveness
        .open_obligations
        .iter()
        .filter(|open| open.kind == ObligationKind::Request)
        .map(|open| {
            let end = liveness
                .wait_chain(open.fiber)
                .last()
                .map(|waiting| waiting.waits_on.object.clone())
                .unwrap_or_else(|| "nothing".into());
            format!("{}@{}", without_numbers(&open.label), without_numbers(&end))
        })
        .collect();
    if parts.is_empty() {
        parts = liveness
            .open_obligations
            .iter()
            .map(|open| without_numbers(&open.label))
            .collect();
    }
    if parts.is_empty() {
        parts.push(format!("{:?}", result.outcome));
    }
    parts.sort();
    parts.dedup();
    format!("hang:{}", parts.join("+"))
}

/// The signature of a panic of the system under test, from its message's first line.
pub fn panic_signature(message: &str) -> String {
    format!(
        "panic:{}",
        without_numbers(message.lines().next().unwrap_or(""))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers become `N`, one per run of digits, so that the same shape gets one signature.
    #[test]
    fn numbers_become_n() {
        assert_eq!(
            without_numbers("RemoveSubscription#14@promise:Commit#7"),
            "RemoveSubscription#N@promise:Commit#N"
        );
        assert_eq!(panic_signature("boom 42\nsecond line"), "panic:boom N");
    }
}
