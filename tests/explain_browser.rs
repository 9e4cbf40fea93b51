//! `hangsim explain` in a real browser: headless Chromium loads the pages of a few hang
//! fixtures; the rendered DOM must hold the lanes, a red stuck wait and the report's `why:`, and
//! a screenshot must show the red of the stuck wait among many colours.
//!
//! Chromium is Debian's `chromium` package at /usr/bin/chromium (`.ci/run` installs it). When
//! it is missing this test fails and says how to install it: a browser test that passes without
//! a browser would prove nothing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scenarios::fixture::read_fixture;

mod cli_support;

use cli_support::{fixture_starting_with, hangsim, master_hang_fixture};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium is killed after this long: a page that does not load is a failure, not a hang of
/// the test suite.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

/// The red of a stuck wait, as the page draws it (`#d32f2f`).
const STUCK_RED: [u8; 3] = [0xd3, 0x2f, 0x2f];

fn require_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: this test renders `hangsim explain` pages in headless Chromium. \
         Install it (Debian/Ubuntu: `sudo apt-get install chromium`; .ci/run does) and run the \
         tests again."
    );
}

/// Runs Chromium headless on `page` (a path or a `file://` URL) with `extra` arguments; returns
/// its stdout. Killed after [`CHROMIUM_TIMEOUT`].
fn chromium(page: &std::ffi::OsStr, extra: &[String], profile: &Path) -> String {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(page)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("piped stdout");
    // Read stdout on its own thread: a DOM larger than the pipe's buffer would otherwise
    // block Chromium before it exits.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).expect("chromium's stdout reads");
        text
    });
    let started = Instant::now();
    loop {
        if child.try_wait().expect("chromium's status").is_some() {
            break;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish {page:?} within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("the reader thread ends")
}

/// The text of the DOM with the entities `--dump-dom` writes turned back into characters.
fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The distinct colours of a PNG and how many of its pixels are the stuck wait's red.
fn colours_and_red_pixels(png_path: &Path) -> (usize, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(png_path).expect("the screenshot opens"));
    let mut reader = decoder.read_info().expect("the screenshot is a PNG");
    let mut buffer = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buffer).expect("the PNG decodes");
    let channels = frame.color_type.samples();
    assert!(
        channels >= 3 && frame.bit_depth == png::BitDepth::Eight,
        "unexpected PNG format {:?} {:?}",
        frame.color_type,
        frame.bit_depth
    );
    let mut colours = std::collections::BTreeSet::new();
    let mut red = 0;
    for pixel in buffer[..frame.buffer_size()].chunks_exact(channels) {
        colours.insert([pixel[0], pixel[1], pixel[2]]);
        red += usize::from(pixel[..3] == STUCK_RED);
    }
    (colours.len(), red)
}

/// Writes the page of `fixture`, loads it in Chromium and checks the rendered DOM and a
/// screenshot.
fn check_page_in_chromium(fixture_path: &Path) {
    let fixture = read_fixture(fixture_path).expect("the fixture reads");
    let report = fixture
        .report
        .as_ref()
        .expect("the fixture keeps its report");
    let hang = report.hang.as_ref().expect("a hang fixture");
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let page = scratch.path().join("page.html");
    let (status, _, stderr) = hangsim(&[
        "explain".as_ref(),
        fixture_path.as_os_str(),
        "-o".as_ref(),
        page.as_os_str(),
    ]);
    assert_eq!(
        status,
        0,
        "hangsim explain {}: {stderr}",
        fixture_path.display()
    );

    let profile = scratch.path().join("profile");
    let dom = unescape(&chromium(
        page.as_os_str(),
        &["--dump-dom".to_string()],
        &profile,
    ));
    let name = fixture_path.display();
    assert!(
        dom.contains(r#"data-rendered="true""#),
        "{name}: the page's script did not finish:\n{}",
        &dom[..dom.len().min(2000)]
    );
    // A lane for every fiber of the hang's wait chains, found by its data attribute.
    for caller in &hang.stuck {
        for step in &caller.waits {
            let lane = format!(r#"class="lane stuck-lane" data-fiber="{}""#, step.fiber.id);
            let lane_other_order = format!(r#"data-fiber="{}" class="lane"#, step.fiber.id);
            assert!(
                dom.contains(&lane) || dom.contains(&lane_other_order),
                "{name}: no stuck lane for fiber#{}",
                step.fiber.id
            );
            let stuck = format!(r#"class="stuck" data-fiber="{}""#, step.fiber.id);
            let at = dom.find(&stuck).unwrap_or_else(|| {
                panic!("{name}: no stuck wait element for fiber#{}", step.fiber.id)
            });
            let element = &dom[at..at + dom[at..].find('>').expect("the element's tag ends")];
            assert!(
                element.contains("background: rgb(211, 47, 47)"),
                "{name}: the stuck wait is not red: {element}"
            );
        }
    }
    assert!(
        dom.matches(r#"class="lane"#).count() >= 4,
        "{name}: too few lanes"
    );
    assert!(
        dom.contains(r#"data-lane="queue""#),
        "{name}: no command queue lane"
    );
    assert!(
        dom.contains(r#"data-group="folded""#),
        "{name}: no folded group"
    );
    assert!(
        dom.contains(r#"class="chain-arrow""#),
        "{name}: no wait-for arrow"
    );
    let why = format!("why: </b>{}", report.why());
    assert!(dom.contains(&why), "{name}: the page lacks {why:?}");
    // A schedule keyed by fiber is listed, one entry per item.
    if let Some(schedule) = &fixture.schedule {
        assert!(
            dom.contains(r#"<details id="schedule-box">"#),
            "{name}: the schedule is hidden"
        );
        for line in schedule.to_lines() {
            assert!(
                dom.contains(&format!("<li>{line}</li>")),
                "{name}: the page lacks the entry {line:?}"
            );
        }
    } else {
        assert!(
            dom.contains(r#"<details id="schedule-box" hidden="">"#),
            "{name}"
        );
    }
    assert!(
        !dom.contains(r#"class="lane member""#),
        "{name}: quiet fibers are unfolded at first"
    );
    // `#unfold` opens the page with the folded fibers in lanes of their own.
    let unfolded_url = format!("file://{}#unfold", page.display());
    let unfolded = chromium(unfolded_url.as_ref(), &["--dump-dom".to_string()], &profile);
    let folded_fibers = dom
        .find(r#"data-group="folded""#)
        .map(|at| &dom[at..])
        .and_then(|group| group.split_once('>').map(|(_, rest)| rest))
        .and_then(|label| label.split(" quiet fibers").next())
        .and_then(|label| label.rsplit(' ').next())
        .and_then(|count| count.parse::<usize>().ok())
        .expect("the folded group says how many fibers it holds");
    assert_eq!(
        unfolded.matches(r#"class="lane member""#).count(),
        folded_fibers.min(1500),
        "{name}: unfolding shows every quiet fiber"
    );

    let screenshot = scratch.path().join("page.png");
    chromium(
        page.as_os_str(),
        &[
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1400,900".to_string(),
        ],
        &profile,
    );
    let (colours, red) = colours_and_red_pixels(&screenshot);
    assert!(
        colours >= 20,
        "{name}: the screenshot has {colours} colours: blank?"
    );
    assert!(
        red >= 50,
        "{name}: the screenshot shows {red} pixels of the stuck red"
    );
}

#[test]
fn explained_hangs_render_in_chromium() {
    assert!(sim::SIMULATED);
    require_chromium();
    check_page_in_chromium(&master_hang_fixture());
    // The drain race of check-offer-drain, and a chaos run, when the catalogue of fixtures
    // has them.
    for prefix in [
        "auth-crash.check-offer-drain.pct-3.hang-",
        "chaos.check-offer-drain.pct-3.hang-",
    ] {
        if let Some(fixture) = fixture_starting_with(prefix) {
            check_page_in_chromium(&fixture);
        }
    }
    // The drain race shrunk to a schedule keyed by fiber: the page lists its entries.
    let shrunk = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "tests/fixtures/shrunk/commit-after-crash.check-offer-drain.pct-3.hang-removesubscription-n-promise-remove-ec022b42.shrunk.toml",
    );
    assert!(
        read_fixture(&shrunk).unwrap().schedule.is_some(),
        "the shrunk drain race is no longer a schedule"
    );
    check_page_in_chromium(&shrunk);
}
