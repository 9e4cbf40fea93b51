//! Atomic file writes: a reader, or a search stopped at any point, sees either the old file or
//! the whole new one, never a part.
//!
//! The text goes to a temporary file in the same directory (named `.<file>.<random>.tmp`, so
//! that it is recognisably ours), which is flushed to disk, renamed over the target, and then
//! the directory itself is flushed, so that the rename survives a crash too. A process killed
//! between creating and renaming leaves its temporary file behind;
//! [`remove_stale_temporaries`] removes those of a target. [`PendingFile`] does the same for a
//! file written piece by piece (a merged NDJSON file), put in place only once it is whole.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The directory a path's file lives in (`.` for a bare file name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// What the temporary files of `path` start with: `.<file name>.`.
fn temporary_prefix(path: &Path) -> std::io::Result<OsString> {
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} names no file", path.display())))?;
    let mut prefix = OsString::from(".");
    prefix.push(file_name);
    prefix.push(".");
    Ok(prefix)
}

/// Writes `text` to `path` atomically (see the module docs).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut pending = PendingFile::create(path)?;
    pending.write_all(text.as_bytes())?;
    pending.commit()
}

/// A file written atomically piece by piece: its text goes to a temporary file next to `path`
/// (buffered), and [`PendingFile::commit`] puts it in place whole. Dropped without a commit
/// (an error halfway), it leaves `path` as it was and removes the temporary file.
pub struct PendingFile {
    path: PathBuf,
    writer: std::io::BufWriter<tempfile::NamedTempFile>,
}

impl PendingFile {
    /// Starts writing `path`.
    pub fn create(path: &Path) -> std::io::Result<PendingFile> {
        let temporary = tempfile::Builder::new()
            .prefix(&temporary_prefix(path)?)
            .suffix(".tmp")
            .tempfile_in(directory_of(path))?;
        Ok(PendingFile {
            path: path.to_path_buf(),
            writer: std::io::BufWriter::new(temporary),
        })
    }

    /// Flushes the text to disk, renames it over `path`, and flushes the directory.
    pub fn commit(self) -> std::io::Result<()> {
        let temporary = self
            .writer
            .into_inner()
            .map_err(|error| error.into_error())?;
        temporary.as_file().sync_all()?;
        // On failure the temporary file is removed when the error drops it.
        temporary.persist(&self.path).map_err(|error| error.error)?;
        std::fs::File::open(directory_of(&self.path))?.sync_all()
    }
}

impl std::io::Write for PendingFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.writer.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Removes the temporary files a killed writer of `path` left behind: `.<file>.<...>.tmp`, and
/// `.<file>.tmp<pid>` from hangsim versions before this one. Returns how many it removed.
pub fn remove_stale_temporaries(path: &Path) -> std::io::Result<usize> {
    let prefix = temporary_prefix(path)?;
    let prefix = prefix.to_string_lossy();
    let mut removed = 0;
    let entries = match std::fs::read_dir(directory_of(path)) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(rest) = name.strip_prefix(prefix.as_ref()) else {
            continue;
        };
        let ours = rest.ends_with(".tmp")
            || rest
                .strip_prefix("tmp")
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if ours && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write replaces the file whole and leaves no temporary file; stale temporaries of the
    /// target (both namings) are removed, and nothing else is.
    #[test]
    fn writes_replace_whole_files_and_stale_temporaries_are_removed() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("out.ndjson.progress");
        write_atomically(&path, "one").unwrap();
        write_atomically(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        for stale in [
            ".out.ndjson.progress.tmp4242",
            ".out.ndjson.progress.abc123.tmp",
        ] {
            std::fs::write(directory.path().join(stale), "half").unwrap();
        }
        std::fs::write(directory.path().join(".unrelated.tmp"), "keep").unwrap();
        assert_eq!(remove_stale_temporaries(&path).unwrap(), 2);
        let mut names: Vec<String> = std::fs::read_dir(directory.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".unrelated.tmp", "out.ndjson.progress"]);
    }
}
