//! Text that came from the internet (an update graph's risks and channel names, a tree's
//! record from across the gap) shown on the admin's terminal: control characters escaped,
//! on one line, and bounded, so it can neither drive the terminal nor pose as a command.

use release_mirror::graph::Risk;

/// The most characters of one graph text shown; the rest is counted.
pub const MAX_SHOWN: usize = 400;

/// `text` on one line: control, line-separator and bidirectional characters escaped
/// (`\n`, `\u{1b}`), cut after [`MAX_SHOWN`] characters with the number left out.
pub fn one_line(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    for c in chars.by_ref().take(MAX_SHOWN) {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    let rest = chars.count();
    if rest > 0 {
        out.push_str(&format!("… ({rest} more characters)"));
    }
    out
}

/// One risk's line: `    risk NAME: MESSAGE (URL)`.
pub fn risk(risk: &Risk) -> String {
    format!("    risk {}: {} ({})\n", one_line(&risk.name), one_line(&risk.message), one_line(&risk.url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_newlines_stay_on_one_inert_line() {
        let message = "clear\u{1b}[2J\u{1b}]0;title\u{7}\r\n    oc adm upgrade --to-image evil\u{202e}";
        let shown = one_line(message);
        assert_eq!(shown, r"clear\u{1b}[2J\u{1b}]0;title\u{7}\r\n    oc adm upgrade --to-image evil\u{202e}");
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn a_huge_message_is_cut_and_says_how_much_was_left_out() {
        let shown = one_line(&"é".repeat(20_000_000));
        assert!(shown.starts_with(&"é".repeat(MAX_SHOWN)), "{}", &shown[..20]);
        assert!(shown.ends_with("… (19999600 more characters)"), "{}", &shown[shown.len() - 40..]);
    }

    #[test]
    fn plain_text_is_unchanged() {
        let risk = Risk {
            name: "R".into(),
            url: "https://issues.example/R".into(),
            message: "R may bite: ünïcode ok.".into(),
        };
        assert_eq!(super::risk(&risk), "    risk R: R may bite: ünïcode ok. (https://issues.example/R)\n");
    }
}
