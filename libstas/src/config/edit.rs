//! Line-preserving edits of nvme-stas INI files (`sys.conf`), for `stasadm`.
//!
//! nvme-stas's `stasadm` rewrote the whole file with Python's `configparser.write()`, losing
//! comments and formatting. Here an edit touches only the assignment lines of the option being
//! set or removed (and their indented continuation lines); every other line of the file, comments
//! included, is kept byte for byte.
//!
//! Lines are classified the way `configparser` reads them (the settings nvme-stas uses:
//! `delimiters='='`, `allow_no_value=True`, `strict=False`, no default section):
//!
//! - a line whose stripped text is empty is blank; one that starts with `#` or `;` is a comment;
//!   neither ends the value of the option above it;
//! - a line indented deeper than the last option line, while that option is current, is a
//!   continuation of its value (even if it looks like `key = value` or `[Section]`);
//! - otherwise `[name]` (up to the **last** `]`) opens a section (names are case-sensitive, and a
//!   section that appears twice is one section);
//! - otherwise, inside a section, the line is an option: the key is the text before the first
//!   `=` (trimmed, lower-cased), the value the trimmed text after it, or none for a bare key.
//!
//! Lines that `configparser` would reject (text before any section header) are kept as they are
//! and never edited. The functions are pure (`&str` in, `String` out); callers do the I/O.

use std::fmt::Write as _;

/// Why an edit was refused. Nothing is changed when an edit is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The section name cannot be written as a `[section]` header.
    #[error("invalid section name {0:?}")]
    Section(String),
    /// The option name cannot be written as a key.
    #[error("invalid option name {0:?}")]
    Key(String),
    /// The value cannot be written on one line and read back unchanged.
    #[error("value {value:?} for option {key:?} {reason}")]
    Value {
        /// The option being set.
        key: String,
        /// The rejected value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// One option assignment found by [`find_option`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundOption {
    /// The value as `configparser` returns it: trimmed, continuation lines joined with `\n`
    /// (blank lines inside the value give empty lines), trailing whitespace removed. `None` for
    /// a bare key (a line without `=`).
    pub value: Option<String>,
    /// 1-based line number of the assignment.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    /// A section header; the name.
    Section(String),
    /// An option line inside a section: lower-cased key and trimmed value.
    Option {
        key: String,
        value: Option<String>,
    },
    /// A continuation of the option on line `owner` (index into the line list).
    Continuation {
        owner: usize,
    },
    /// Text before any section header (a `configparser` error); never edited.
    Orphan,
}

#[derive(Debug)]
struct Line<'a> {
    /// The whole physical line, terminator included.
    raw: &'a str,
    /// The line without its `\n` (and a `\r` before it).
    text: &'a str,
    kind: Kind,
    /// Index of the section header this line belongs to, if any.
    section: Option<usize>,
}

fn is_comment(stripped: &str) -> bool {
    stripped.starts_with('#') || stripped.starts_with(';')
}

/// `[name]` with the name running to the last `]`, as configparser's `\[(?P<header>.+)\]`.
fn section_name(stripped: &str) -> Option<&str> {
    let rest = stripped.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

fn indent_of(text: &str) -> usize {
    text.find(|c: char| !c.is_whitespace())
        .unwrap_or(text.len())
}

/// Splits `text` into lines and classifies them.
fn scan(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut section: Option<usize> = None;
    // The current option (index of its line) if it has a non-empty key, and the indentation of
    // the last section header or option line.
    let mut current: Option<usize> = None;
    let mut indent_level = 0usize;
    for raw in text.split_inclusive('\n') {
        let text = raw.strip_suffix('\n').unwrap_or(raw);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let stripped = text.trim();
        let idx = lines.len();
        let kind = if stripped.is_empty() {
            Kind::Blank
        } else if is_comment(stripped) {
            Kind::Comment
        } else {
            let indent = indent_of(text);
            match current {
                Some(owner) if section.is_some() && indent > indent_level => {
                    Kind::Continuation { owner }
                }
                _ => {
                    indent_level = indent;
                    if let Some(name) = section_name(stripped) {
                        section = Some(idx);
                        current = None;
                        Kind::Section(name.to_owned())
                    } else if section.is_none() {
                        Kind::Orphan
                    } else {
                        let (key, value) = match stripped.split_once('=') {
                            Some((k, v)) => (k.trim_end(), Some(v.trim().to_owned())),
                            None => (stripped, None),
                        };
                        let key = key.to_lowercase();
                        current = (!key.is_empty()).then_some(idx);
                        Kind::Option { key, value }
                    }
                }
            }
        };
        lines.push(Line {
            raw,
            text,
            kind,
            section,
        });
    }
    lines
}

fn in_section(lines: &[Line<'_>], line: &Line<'_>, section: &str) -> bool {
    line.section
        .is_some_and(|s| matches!(&lines[s].kind, Kind::Section(n) if n == section))
}

/// Indices of the option lines for `key` in `section`, in file order.
fn occurrences(lines: &[Line<'_>], section: &str, key: &str) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(&l.kind, Kind::Option { key: k, .. } if k == key))
        .filter(|(_, l)| in_section(lines, l, section))
        .map(|(i, _)| i)
        .collect()
}

fn normalize_key(key: &str) -> Result<String, EditError> {
    let k = key.to_lowercase();
    let bad = k.is_empty()
        || k.trim() != k
        || k.contains(['=', '\n', '\r'])
        || k.starts_with(['#', ';', '['])
        || k.chars().any(char::is_control);
    if bad {
        Err(EditError::Key(key.to_owned()))
    } else {
        Ok(k)
    }
}

fn check_section(section: &str) -> Result<(), EditError> {
    let bad = section.is_empty()
        || section.trim() != section
        || section.chars().any(char::is_control)
        || section.contains(']');
    if bad {
        Err(EditError::Section(section.to_owned()))
    } else {
        Ok(())
    }
}

/// The last assignment of `key` (case-insensitive) in `section` (case-sensitive; duplicate
/// sections count as one), as `configparser` would read it, or `None` if there is none.
#[must_use]
pub fn find_option(text: &str, section: &str, key: &str) -> Option<FoundOption> {
    let key = key.to_lowercase();
    let lines = scan(text);
    let idx = *occurrences(&lines, section, &key).last()?;
    let Kind::Option { value, .. } = &lines[idx].kind else {
        return None;
    };
    let value = value.as_ref().map(|first| {
        let mut parts = vec![first.clone()];
        for line in &lines[idx + 1..] {
            match &line.kind {
                Kind::Continuation { owner } if *owner == idx => {
                    parts.push(line.text.trim().to_owned());
                }
                Kind::Blank => parts.push(String::new()),
                Kind::Comment => {}
                _ => break,
            }
        }
        parts.join("\n").trim_end().to_owned()
    });
    Some(FoundOption {
        value,
        line: idx + 1,
    })
}

/// Sets `key = value` in `section` and returns the new text.
///
/// - The last assignment of the key (case-insensitive) is replaced in place, keeping its
///   indentation and line terminator; other assignments of the key in the section are removed,
///   each with its continuation lines.
/// - If the section has no such key, the line is added after the last option of the section's
///   last block (or right after its header).
/// - If the section is missing, it is appended at the end of the file, after a blank line.
///
/// The key is written lower-cased, as `configparser` does. Everything else is kept byte for byte.
///
/// # Errors
/// A section name or key that cannot be written, or a value with a line break or with leading or
/// trailing whitespace (which readers strip).
pub fn set_option(text: &str, section: &str, key: &str, value: &str) -> Result<String, EditError> {
    check_section(section)?;
    let key = normalize_key(key)?;
    let reason = if value.contains(['\n', '\r']) {
        Some("contains a line break")
    } else if value.trim() != value {
        Some("has leading or trailing whitespace, which readers strip")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(EditError::Value {
            key,
            value: value.to_owned(),
            reason,
        });
    }

    let lines = scan(text);
    let found = occurrences(&lines, section, &key);
    if let Some(&last) = found.last() {
        let mut out = String::with_capacity(text.len() + value.len());
        for (i, line) in lines.iter().enumerate() {
            if i == last {
                let indent = &line.text[..indent_of(line.text)];
                let terminator = &line.raw[line.text.len()..];
                let _ = write!(out, "{indent}{key} = {value}{terminator}");
            } else if !belongs_to(line, i, &found) {
                out.push_str(line.raw);
            }
        }
        return Ok(out);
    }

    let assignment = format!("{key} = {value}\n");
    let last_header = lines
        .iter()
        .rposition(|l| matches!(&l.kind, Kind::Section(n) if n == section));
    let Some(header) = last_header else {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if lines.last().is_some_and(|l| l.kind != Kind::Blank) {
            out.push('\n');
        }
        let _ = write!(out, "[{section}]\n{assignment}");
        return Ok(out);
    };
    // Insert after the last option or continuation line of this block, else after the header.
    let after = lines
        .iter()
        .enumerate()
        .skip(header + 1)
        .take_while(|(_, l)| l.section == Some(header))
        .filter(|(_, l)| matches!(l.kind, Kind::Option { .. } | Kind::Continuation { .. }))
        .map(|(i, _)| i)
        .last()
        .unwrap_or(header);
    let mut out = String::with_capacity(text.len() + assignment.len() + 1);
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line.raw);
        if i == after {
            if !line.raw.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&assignment);
        }
    }
    Ok(out)
}

/// True if line `i` is one of the assignments in `found` or a continuation of one.
fn belongs_to(line: &Line<'_>, i: usize, found: &[usize]) -> bool {
    match line.kind {
        Kind::Continuation { owner } => found.contains(&owner),
        _ => found.contains(&i),
    }
}

/// Removes every assignment of `key` (case-insensitive) in `section`, with their continuation
/// lines, and returns the new text. Comments, blank lines and everything else are kept; the
/// section header stays even if the section becomes empty. Without such an assignment the text
/// is returned unchanged.
#[must_use]
pub fn remove_option(text: &str, section: &str, key: &str) -> String {
    let key = key.to_lowercase();
    let lines = scan(text);
    let found = occurrences(&lines, section, &key);
    lines
        .iter()
        .enumerate()
        .filter(|(i, l)| !belongs_to(l, *i, &found))
        .map(|(_, l)| l.raw)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str, key: &str, value: &str) -> String {
        set_option(text, "Host", key, value).unwrap()
    }

    #[test]
    fn replaces_in_place_and_keeps_everything_else() {
        let text =
            "# sys.conf\n[Host]\n; the NQN\nnqn = old\n\n# id below\nid=1234\n[Other]\nx = 1\n";
        let want =
            "# sys.conf\n[Host]\n; the NQN\nnqn = new\n\n# id below\nid=1234\n[Other]\nx = 1\n";
        assert_eq!(set(text, "nqn", "new"), want);
    }

    #[test]
    fn key_case_is_ignored_and_written_lower_case() {
        let text = "[Host]\nNQN=old # not a comment\nId = x\n";
        assert_eq!(set(text, "Nqn", "new"), "[Host]\nnqn = new\nId = x\n");
        assert_eq!(
            remove_option(text, "Host", "ID"),
            "[Host]\nNQN=old # not a comment\n"
        );
    }

    #[test]
    fn section_names_are_case_sensitive() {
        let text = "[host]\nnqn = a\n";
        assert_eq!(
            set(text, "nqn", "b"),
            "[host]\nnqn = a\n\n[Host]\nnqn = b\n"
        );
        assert_eq!(remove_option(text, "Host", "nqn"), text);
    }

    #[test]
    fn duplicates_keep_the_last_position_and_drop_the_rest_with_continuations() {
        let text = "[Host]\nsymname = a\n  more a\n\n  still a\n# keep\nid = 1\nsymname = b\n    b2\nkey = k\n";
        let want = "[Host]\n\n# keep\nid = 1\nsymname = c\nkey = k\n";
        assert_eq!(set(text, "symname", "c"), want);
    }

    #[test]
    fn duplicate_sections_are_one_section() {
        let text = "[Host]\nnqn = a\n[Other]\nnqn = x\n[Host]\nid = 1\nnqn = b\n";
        assert_eq!(
            set(text, "nqn", "c"),
            "[Host]\n[Other]\nnqn = x\n[Host]\nid = 1\nnqn = c\n"
        );
        assert_eq!(
            remove_option(text, "Host", "nqn"),
            "[Host]\n[Other]\nnqn = x\n[Host]\nid = 1\n"
        );
        let text = "[Host]\nnqn = a\n[Other]\n[Host]\n# empty\n\n[Last]\n";
        assert_eq!(
            set(text, "symname", "s"),
            "[Host]\nnqn = a\n[Other]\n[Host]\nsymname = s\n# empty\n\n[Last]\n"
        );
    }

    #[test]
    fn appends_after_the_last_option_of_the_section() {
        let text = "[Host]\nnqn = a\n    cont\n\n# about Other\n[Other]\n";
        assert_eq!(
            set(text, "id", "1"),
            "[Host]\nnqn = a\n    cont\nid = 1\n\n# about Other\n[Other]\n"
        );
        let text = "[Host]\n#nqn=documented\n#id=documented\n";
        assert_eq!(
            set(text, "id", "1"),
            "[Host]\nid = 1\n#nqn=documented\n#id=documented\n"
        );
    }

    #[test]
    fn creates_the_section_at_the_end() {
        assert_eq!(set("", "nqn", "a"), "[Host]\nnqn = a\n");
        assert_eq!(
            set("# only a comment\n", "nqn", "a"),
            "# only a comment\n\n[Host]\nnqn = a\n"
        );
        assert_eq!(
            set("[Other]\nx = 1", "nqn", "a"),
            "[Other]\nx = 1\n\n[Host]\nnqn = a\n"
        );
        assert_eq!(
            set("[Other]\n\n", "nqn", "a"),
            "[Other]\n\n[Host]\nnqn = a\n"
        );
    }

    #[test]
    fn file_without_trailing_newline() {
        assert_eq!(set("[Host]\nnqn = a", "nqn", "b"), "[Host]\nnqn = b");
        assert_eq!(
            set("[Host]\nnqn = a", "id", "1"),
            "[Host]\nnqn = a\nid = 1\n"
        );
        assert_eq!(set("[Host]", "id", "1"), "[Host]\nid = 1\n");
        assert_eq!(
            remove_option("[Host]\nid = 1\nnqn = a", "Host", "nqn"),
            "[Host]\nid = 1\n"
        );
    }

    #[test]
    fn crlf_lines_keep_their_terminator() {
        let text = "[Host]\r\nnqn = a\r\nid = 1\r\n";
        assert_eq!(set(text, "nqn", "b"), "[Host]\r\nnqn = b\r\nid = 1\r\n");
        assert_eq!(
            find_option(text, "Host", "nqn").unwrap().value.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn indentation_of_a_replaced_line_is_kept() {
        // `  id` is an option (not deeper than `   nqn`); re-indenting nqn to column 0 would
        // turn it into a continuation of nqn.
        let text = "[Host]\n   nqn = a\n  id = 1\n";
        let out = set(text, "nqn", "b");
        assert_eq!(out, "[Host]\n   nqn = b\n  id = 1\n");
        assert_eq!(
            find_option(&out, "Host", "id").unwrap().value.as_deref(),
            Some("1")
        );
    }

    #[test]
    fn indented_lines_after_an_option_are_continuations() {
        let text = "[Host]\nnqn = a\n  symname = s\n  [Fake]\n";
        assert_eq!(find_option(text, "Host", "symname"), None);
        assert_eq!(
            find_option(text, "Host", "nqn").unwrap().value.as_deref(),
            Some("a\nsymname = s\n[Fake]")
        );
        assert_eq!(remove_option(text, "Host", "nqn"), "[Host]\n");
        assert_eq!(set(text, "nqn", "b"), "[Host]\nnqn = b\n");
    }

    #[test]
    fn find_option_reads_like_configparser() {
        let text = "[Host] trailing\nNQN = a\n\n   b\n# c\n  d\n\n[Host]\nid=3\nid\nkey=\n";
        let nqn = find_option(text, "Host", "nqn").unwrap();
        assert_eq!(nqn.value.as_deref(), Some("a\n\nb\nd"));
        assert_eq!(nqn.line, 2);
        let id = find_option(text, "Host", "id").unwrap();
        assert_eq!((id.value, id.line), (None, 10));
        assert_eq!(
            find_option(text, "Host", "key").unwrap().value.as_deref(),
            Some("")
        );
        assert_eq!(find_option(text, "Host", "symname"), None);
        assert_eq!(find_option(text, "Other", "nqn"), None);
    }

    #[test]
    fn lines_before_any_section_are_never_edited() {
        let text = "nqn = orphan\n[Host]\n";
        assert_eq!(find_option(text, "Host", "nqn"), None);
        assert_eq!(set(text, "nqn", "a"), "nqn = orphan\n[Host]\nnqn = a\n");
        assert_eq!(remove_option(text, "Host", "nqn"), text);
    }

    #[test]
    fn bare_keys_are_replaced_and_removed() {
        let text = "[Host]\nsymname\nid = 1\n";
        assert_eq!(set(text, "symname", "s"), "[Host]\nsymname = s\nid = 1\n");
        assert_eq!(remove_option(text, "Host", "symname"), "[Host]\nid = 1\n");
    }

    #[test]
    fn remove_keeps_the_section_and_an_absent_key_is_a_no_op() {
        assert_eq!(
            remove_option("[Host]\nsymname = x\n", "Host", "symname"),
            "[Host]\n"
        );
        assert_eq!(remove_option("", "Host", "symname"), "");
        let text = "# c\n[Host]\nnqn = a\n";
        assert_eq!(remove_option(text, "Host", "symname"), text);
    }

    #[test]
    fn refuses_what_cannot_be_written_back() {
        assert!(matches!(
            set_option("", "Host", "symname", "a\nb"),
            Err(EditError::Value { .. })
        ));
        assert!(matches!(
            set_option("", "Host", "symname", " a"),
            Err(EditError::Value { .. })
        ));
        assert!(matches!(
            set_option("", "Host", "a=b", "x"),
            Err(EditError::Key(_))
        ));
        assert!(matches!(
            set_option("", "Host", "", "x"),
            Err(EditError::Key(_))
        ));
        assert!(matches!(
            set_option("", "Ho]st", "k", "x"),
            Err(EditError::Section(_))
        ));
        assert_eq!(set("", "symname", ""), "[Host]\nsymname = \n");
    }

    #[test]
    fn edits_round_trip_through_find() {
        let mut text = String::from("# header\n[Host]\nnqn = a\n");
        for (k, v) in [("id", "1"), ("nqn", "b"), ("symname", "x y"), ("id", "2")] {
            text = set(&text, k, v);
            assert_eq!(
                find_option(&text, "Host", k).unwrap().value.as_deref(),
                Some(v)
            );
        }
        assert_eq!(text, "# header\n[Host]\nnqn = b\nid = 2\nsymname = x y\n");
    }
}
