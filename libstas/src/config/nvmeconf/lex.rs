//! The lexical grammar (ecosystem-2026.md §3.2): lines split on `\n`, each trimmed of C
//! `isspace()` characters; blank lines and lines starting with `#` are comments (`;` is not a
//! comment and there are no inline comments); `[name]` headers; `key = value` pairs split at
//! the first `=`; anything else is junk.

/// One meaningful line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// `[name]`, with the name trimmed (never empty).
    Section(&'a str),
    /// `key = value`, both trimmed; the key is never empty, the value may be.
    Pair {
        /// Text before the first `=`.
        key: &'a str,
        /// Text after the first `=`.
        value: &'a str,
    },
    /// A line that is none of the above.
    Junk,
}

/// C's `isspace()` in the C locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
pub(super) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Trims C whitespace on both sides.
pub(super) fn trim(s: &str) -> &str {
    s.trim_matches(is_c_space)
}

/// Classifies one already-trimmed, non-comment line.
fn classify(line: &str) -> Line<'_> {
    if let Some(rest) = line.strip_prefix('[') {
        return match rest.find(']') {
            Some(end) if trim(&rest[end + 1..]).is_empty() => {
                let name = trim(&rest[..end]);
                if name.is_empty() {
                    Line::Junk
                } else {
                    Line::Section(name)
                }
            }
            _ => Line::Junk,
        };
    }
    match line.find('=') {
        Some(0) | None => Line::Junk,
        Some(eq) => Line::Pair {
            key: trim(&line[..eq]),
            value: trim(&line[eq + 1..]),
        },
    }
}

/// The meaningful lines of `text` with their 1-based numbers (comments and blank lines
/// skipped).
pub(super) fn lines(text: &str) -> impl Iterator<Item = (usize, Line<'_>)> {
    text.split('\n').enumerate().filter_map(|(i, raw)| {
        let line = trim(raw);
        if line.is_empty() || line.starts_with('#') {
            None
        } else {
            Some((i + 1, classify(line)))
        }
    })
}
