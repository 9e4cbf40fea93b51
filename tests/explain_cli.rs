//! `hangsim explain` as a user runs it: where the page goes, and bad input (one `error:` line,
//! exit 2). The page in a browser is tests/explain_browser.rs.

use std::path::Path;

mod cli_support;

use cli_support::{hangsim, master_hang_fixture};

fn assert_one_error_line(stderr: &str, mentions: &str) {
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(mentions), "{stderr}");
}

/// Without `-o` the page is written next to the fixture, its extension `.html`.
#[test]
fn the_page_goes_next_to_the_fixture_by_default() {
    assert!(sim::SIMULATED);
    let scratch = tempfile::tempdir().unwrap();
    let fixture = scratch.path().join("hang.toml");
    std::fs::copy(master_hang_fixture(), &fixture).unwrap();
    let (status, stdout, stderr) = hangsim(&["explain".as_ref(), fixture.as_os_str()]);
    assert_eq!(status, 0, "{stderr}");
    let page = scratch.path().join("hang.html");
    assert!(
        stdout.contains(&format!("wrote {}", page.display())),
        "{stdout}"
    );
    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(r#"id="timeline-data""#));
    // Self-contained: nothing is fetched. The only `http://` is the SVG namespace, a name.
    for fetch in ["https://", "<link", "src=", "@import", "url(http"] {
        assert!(!html.contains(fetch), "the page refers to {fetch}");
    }
    assert_eq!(
        html.matches("http://").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
}

/// `-o -` writes the page to stdout.
#[test]
fn dash_writes_the_page_to_stdout() {
    let fixture = master_hang_fixture();
    let (status, stdout, stderr) = hangsim(&[
        "explain".as_ref(),
        fixture.as_os_str(),
        "-o".as_ref(),
        "-".as_ref(),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.starts_with("<!DOCTYPE html>"));
    assert!(stdout.trim_end().ends_with("</html>"));
}

#[test]
fn a_missing_or_malformed_fixture_is_bad_input() {
    let scratch = tempfile::tempdir().unwrap();
    let missing = scratch.path().join("missing.toml");
    let (status, _, stderr) = hangsim(&["explain".as_ref(), missing.as_os_str()]);
    assert_eq!(status, 2);
    assert_one_error_line(&stderr, "missing.toml");
    let malformed = scratch.path().join("malformed.toml");
    std::fs::write(&malformed, "format_version = \"two\"\n").unwrap();
    let (status, _, stderr) = hangsim(&["explain".as_ref(), malformed.as_os_str()]);
    assert_eq!(status, 2);
    assert_one_error_line(&stderr, "malformed.toml");
    assert!(!Path::new(&scratch.path().join("malformed.html")).exists());
}

#[test]
fn an_output_that_cannot_be_written_is_bad_input() {
    let scratch = tempfile::tempdir().unwrap();
    let fixture = master_hang_fixture();
    let (status, _, stderr) = hangsim(&[
        "explain".as_ref(),
        fixture.as_os_str(),
        "-o".as_ref(),
        scratch.path().as_os_str(),
    ]);
    assert_eq!(status, 2);
    assert_one_error_line(&stderr, "is a directory");
    let nowhere = scratch.path().join("no/such/dir/page.html");
    let (status, _, stderr) = hangsim(&[
        "explain".as_ref(),
        fixture.as_os_str(),
        "-o".as_ref(),
        nowhere.as_os_str(),
    ]);
    assert_eq!(status, 2);
    assert_one_error_line(&stderr, "cannot write");
}
