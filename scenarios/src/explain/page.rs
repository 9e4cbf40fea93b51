//! The page: `page.html` (inline CSS and script, nothing fetched from the network) with a
//! [`Timeline`] embedded as JSON in a `<script type="application/json">` block.

use super::Timeline;

/// The template; the script reads the JSON block `timeline-data`.
const TEMPLATE: &str = include_str!("page.html");

/// Where the timeline's JSON goes in the template.
const DATA_PLACEHOLDER: &str = "{{TIMELINE_JSON}}";

/// Where the page's title goes (escaped as HTML text).
const TITLE_PLACEHOLDER: &str = "{{TITLE}}";

/// The page of a timeline.
pub fn render(timeline: &Timeline) -> String {
    let json = serde_json::to_string(timeline).expect("a timeline serializes");
    TEMPLATE
        .replace(TITLE_PLACEHOLDER, &escape_html(&timeline.title))
        .replace(DATA_PLACEHOLDER, &escape_for_script(&json))
}

/// JSON made safe inside a `<script>` element: no `<` at all, so that neither `</script>` nor
/// `<!--` in a label can end or change the element. `<` only occurs inside JSON strings,
/// where `\u003c` means the same character.
fn escape_for_script(json: &str) -> String {
    json.replace('<', "\\u003c")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label that closes the script element stays inside the JSON string, and reads back the
    /// same.
    #[test]
    fn script_end_in_a_label_is_escaped() {
        let json = serde_json::to_string("</script><!--").unwrap();
        let escaped = escape_for_script(&json);
        assert!(!escaped.contains('<'), "{escaped}");
        let back: String = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, "</script><!--");
    }
}
