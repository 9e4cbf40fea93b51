//! Labels of fibers, races and promises, made without `format!`.
//!
//! A run makes a label for every fiber, race and promise it creates, several hundred per run, and
//! the search runs thousands of runs per second: going through `core::fmt` for each cost about a
//! tenth of the search's time. These helpers build the same text by concatenation.

use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    /// One scratch buffer per thread, so that a label costs one allocation: its own.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The concatenation of `parts`, as a shared label.
pub fn join(parts: &[&str]) -> Rc<str> {
    SCRATCH.with(|scratch| {
        let mut text = scratch.borrow_mut();
        text.clear();
        for part in parts {
            text.push_str(part);
        }
        Rc::from(text.as_str())
    })
}

/// `number` in decimal, written into `buffer`: the same digits as `number.to_string()`.
pub fn decimal(number: u64, buffer: &mut [u8; 20]) -> &str {
    let mut start = buffer.len();
    let mut rest = number;
    loop {
        start -= 1;
        buffer[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[start..]).expect("decimal digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_to_string() {
        for number in [0, 7, 10, 99, 100, 12_345, u64::MAX] {
            let mut buffer = [0; 20];
            assert_eq!(decimal(number, &mut buffer), number.to_string());
        }
    }

    #[test]
    fn join_concatenates_in_order() {
        assert_eq!(&*join(&["fiber:", "pull", "#", "12"]), "fiber:pull#12");
        assert_eq!(&*join(&[]), "");
    }
}
