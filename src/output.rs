//! Standard output for the commands. Rust ignores SIGPIPE, so `println!` panics when the reader
//! has gone (`hangsim replay ... | head -1`); here a closed stdout ends the command at once and
//! quietly, with the status 141 a shell gives a tool killed by SIGPIPE.

use std::io::Write;

/// The exit status of a command whose stdout was closed under it (128 + SIGPIPE).
const CLOSED_PIPE_STATUS: i32 = 141;

/// Writes `text` to stdout. A closed pipe ends the process quietly; any other write error ends
/// it with one `error:` line and status 2.
pub fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(CLOSED_PIPE_STATUS);
        }
        eprintln!("error: cannot write to stdout: {error}");
        std::process::exit(2);
    }
}

/// `print!` through [`say`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::say(&format!($($arg)*))
    };
}

/// `println!` through [`say`].
macro_rules! outln {
    () => {
        $crate::output::say("\n")
    };
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        $crate::output::say(&line)
    }};
}

pub(crate) use {out, outln};
