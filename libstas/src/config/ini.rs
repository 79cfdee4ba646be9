//! The INI reader for nvme-stas's dialect (Python `configparser` with
//! `allow_no_value=True, delimiters='=', interpolation=None, strict=False` and a multiset
//! dict), made total: every line the Python reader would crash on becomes a
//! [`Diagnostic`] and the line is skipped.
//!
//! What is reproduced (nvme-stas-behaviour.md §1.2):
//! - section names are case-sensitive; a section that appears twice is merged;
//! - option names are lower-cased; only `=` is a delimiter; keys and values are trimmed;
//! - full-line comments start with `#` or `;` (after optional indentation);
//! - repeated keys are all kept, in file order, each with its line number;
//! - a line indented deeper than the option line above it continues that option, and every
//!   physical line is a separate value element; a blank line inside a value is an empty
//!   element; trailing empty elements are dropped.
//!
//! What is fixed (DECISIONS.md items 2 and 3): a key without `=`, a key before any section
//! header and an empty key are diagnostics, not fatal; an inline comment (whitespace then
//! `#`) is stripped with a warning.

use crate::config::controller::redact_line;
use std::fmt;
use std::path::{Path, PathBuf};

/// How serious a configuration problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The file was understood, but something deserves attention.
    Warning,
    /// Something in the file is wrong and was ignored (a default is used instead).
    Error,
}

/// One configuration problem, with the file and line it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file concerned.
    pub file: PathBuf,
    /// 1-based line number, when the problem belongs to a line.
    pub line: Option<usize>,
    /// What is wrong and what was done about it.
    pub message: String,
}

impl Diagnostic {
    /// Whether this diagnostic is an error.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match self.line {
            Some(n) => write!(f, "{}:{n}: {sev}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {sev}: {}", self.file.display(), self.message),
        }
    }
}

/// Collects diagnostics for one file.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    file: PathBuf,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty list for `file`.
    #[must_use]
    pub fn new(file: &Path) -> Self {
        Self {
            file: file.to_owned(),
            items: Vec::new(),
        }
    }

    /// The file these diagnostics are about.
    #[must_use]
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Adds an error at `line`.
    pub fn error(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.push(Severity::Error, line, message.into());
    }

    /// Adds a warning at `line`.
    pub fn warning(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.push(Severity::Warning, line, message.into());
    }

    fn push(&mut self, severity: Severity, line: Option<usize>, message: String) {
        self.items.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line,
            message,
        });
    }

    /// The diagnostics, in the order they were found.
    #[must_use]
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }

    /// The diagnostics in line order (file-wide ones first), for people to read.
    #[must_use]
    pub fn into_sorted_vec(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|d| d.line);
        self.items
    }
}

/// One physical value line. `Debug` redacts the secrets of a `controller=` line.
#[derive(Clone, PartialEq, Eq)]
pub struct ValueLine {
    /// The trimmed text (may be empty for a blank line inside a value).
    pub text: String,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Debug for ValueLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueLine")
            .field("text", &redact_line(&self.text))
            .field("line", &self.line)
            .finish()
    }
}

/// One occurrence of `key = value` (plus its continuation lines). `Debug` redacts secrets:
/// the whole value of sys.conf's `key`, the secret tokens of a `controller=` line.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lower-cased option name.
    pub key: String,
    /// Line of the `key = value` line.
    pub line: usize,
    /// The value's lines: the first is the text after `=`, then one per continuation line.
    pub values: Vec<ValueLine>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Entry");
        d.field("key", &self.key).field("line", &self.line);
        if self.key == "key" {
            d.field("values", &"<redacted>");
        } else {
            d.field("values", &self.values);
        }
        d.finish()
    }
}

/// A section with all its entries in file order (merged across repeated headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The case-sensitive section name.
    pub name: String,
    /// Line of the first header.
    pub line: usize,
    /// Entries in file order.
    pub entries: Vec<Entry>,
}

/// A parsed INI file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    /// Sections in order of first appearance.
    pub sections: Vec<Section>,
}

impl Ini {
    /// The section called exactly `name`.
    #[must_use]
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Every value element of option `key` in section `section`, across all occurrences, in
    /// file order, with trailing empty elements removed (the list semantics of nvme-stas's
    /// multiset dict).
    #[must_use]
    pub fn values(&self, section: &str, key: &str) -> Vec<&ValueLine> {
        let mut out: Vec<&ValueLine> = self
            .section(section)
            .into_iter()
            .flat_map(|s| s.entries.iter())
            .filter(|e| e.key == key)
            .flat_map(|e| e.values.iter())
            .collect();
        while out.last().is_some_and(|v| v.text.is_empty()) {
            out.pop();
        }
        out
    }

    /// The effective scalar value of an option: the last value element, as nvme-stas uses it.
    #[must_use]
    pub fn last(&self, section: &str, key: &str) -> Option<&ValueLine> {
        self.values(section, key).pop()
    }
}

/// Index of the first non-whitespace character (the indentation level).
fn indent_of(line: &str) -> usize {
    line.char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(0, |(i, _)| i)
}

/// Strips an inline comment: whitespace followed by `#`. Returns the kept text and whether
/// something was stripped.
fn strip_inline_comment(line: &str) -> (&str, bool) {
    let bytes = line.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b'#' && bytes[i - 1].is_ascii_whitespace() {
            return (&line[..i], true);
        }
    }
    (line, false)
}

/// Parses `text` (the contents of `file`) into sections, reporting every problem.
#[must_use]
pub fn parse(text: &str, diags: &mut Diagnostics) -> Ini {
    let mut ini = Ini::default();
    let mut cur_section: Option<usize> = None;
    // The entry that continuation lines extend, if any.
    let mut cur_entry: Option<(usize, usize)> = None;
    // True while we are inside an option the reader rejected (continuations are dropped).
    let mut in_rejected_option = false;
    let mut indent_level = usize::MAX;

    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.is_empty() {
            if let Some((s, e)) = cur_entry {
                ini.sections[s].entries[e].values.push(ValueLine {
                    text: String::new(),
                    line: lineno,
                });
            }
            continue;
        }
        let (kept, stripped) = strip_inline_comment(raw);
        if stripped {
            diags.warning(
                Some(lineno),
                "inline comment removed (nvme-stas kept it as part of the value)",
            );
        }
        let value = kept.trim();
        if value.is_empty() {
            continue;
        }
        let cur_indent = indent_of(raw);

        if cur_indent > indent_level && (cur_entry.is_some() || in_rejected_option) {
            match cur_entry {
                Some((s, e)) => ini.sections[s].entries[e].values.push(ValueLine {
                    text: value.to_owned(),
                    line: lineno,
                }),
                None => diags.error(
                    Some(lineno),
                    format!("continuation line \"{value}\" of an invalid line ignored"),
                ),
            }
            continue;
        }
        indent_level = cur_indent;
        in_rejected_option = false;

        if let Some(name) = section_header(value) {
            cur_entry = None;
            cur_section = Some(match ini.sections.iter().position(|s| s.name == name) {
                Some(i) => i,
                None => {
                    ini.sections.push(Section {
                        name: name.to_owned(),
                        line: lineno,
                        entries: Vec::new(),
                    });
                    ini.sections.len() - 1
                }
            });
            continue;
        }

        let Some(s) = cur_section else {
            diags.error(
                Some(lineno),
                format!("\"{value}\" appears before any [section] header; line ignored"),
            );
            cur_entry = None;
            in_rejected_option = true;
            continue;
        };

        let Some((key, val)) = value.split_once('=') else {
            diags.error(
                Some(lineno),
                format!("\"{value}\" has no \"=\" and no value; line ignored"),
            );
            cur_entry = None;
            in_rejected_option = true;
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            diags.error(
                Some(lineno),
                "option name missing before \"=\"; line ignored",
            );
            cur_entry = None;
            in_rejected_option = true;
            continue;
        }
        let entries = &mut ini.sections[s].entries;
        entries.push(Entry {
            key: key.to_lowercase(),
            line: lineno,
            values: vec![ValueLine {
                text: val.trim().to_owned(),
                line: lineno,
            }],
        });
        cur_entry = Some((s, entries.len() - 1));
    }
    ini
}

/// `[name]` → `name` (up to the last `]`, as Python's greedy `\[(?P<header>.+)\]`).
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    let name = &rest[..end];
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> (Ini, Vec<Diagnostic>) {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        let ini = parse(text, &mut d);
        (ini, d.into_vec())
    }

    fn texts(ini: &Ini, s: &str, k: &str) -> Vec<String> {
        ini.values(s, k).iter().map(|v| v.text.clone()).collect()
    }

    /// `Debug` of a parsed file never shows a secret: sys.conf's `key`, a controller's
    /// DH-HMAC-CHAP secrets (the other tokens stay readable).
    #[test]
    fn debug_redacts_secrets() {
        let (ini, _) = p("[Host]\nkey = DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0:\n\
             [Controllers]\ncontroller = transport=tcp;traddr=10.0.0.1;DHCHAP-Secret=DHHC-1:01:aGlkZGVu==:;dhchap-ctrl-secret=DHHC-1:00:b3RoZXI=:\n");
        let shown = format!("{ini:?}");
        for secret in ["c2VjcmV0", "aGlkZGVu", "b3RoZXI"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("traddr=10.0.0.1"), "{shown}");
        assert!(shown.contains("DHCHAP-Secret=<redacted>"), "{shown}");
    }

    #[test]
    fn repeated_keys_kept_in_order_and_keys_lowercased() {
        let (ini, d) = p("[Controllers]\ncontroller = a=1\nCONTROLLER=b=2\n[Global]\nTRON=true\n");
        assert!(d.is_empty());
        assert_eq!(texts(&ini, "Controllers", "controller"), ["a=1", "b=2"]);
        assert_eq!(ini.last("Global", "tron").unwrap().text, "true");
        assert_eq!(ini.last("Global", "tron").unwrap().line, 5);
    }

    #[test]
    fn sections_are_case_sensitive_and_merged() {
        let (ini, _) = p("[Global]\nkato=1\n[global]\nkato=2\n[Global]\nkato=3\n");
        assert_eq!(ini.sections.len(), 2);
        assert_eq!(texts(&ini, "Global", "kato"), ["1", "3"]);
        assert_eq!(ini.last("global", "kato").unwrap().text, "2");
    }

    #[test]
    fn continuation_lines_are_separate_elements() {
        let (ini, d) = p("[Controllers]\ncontroller = transport=tcp;\n    traddr=1.1.1.1\n\n    x=y\nexclude=a=b\n");
        assert!(d.is_empty());
        assert_eq!(
            texts(&ini, "Controllers", "controller"),
            ["transport=tcp;", "traddr=1.1.1.1", "", "x=y"]
        );
        assert_eq!(texts(&ini, "Controllers", "exclude"), ["a=b"]);
    }

    #[test]
    fn leading_whitespace_allowed_before_first_key() {
        let (ini, d) = p("[Global]\n  kato = 5\ntron=true\n");
        assert!(d.is_empty());
        assert_eq!(ini.last("Global", "kato").unwrap().text, "5");
        assert_eq!(ini.last("Global", "tron").unwrap().text, "true");
    }

    #[test]
    fn trailing_blank_elements_dropped() {
        let (ini, _) = p("[Global]\nkato=5\n\n\n");
        assert_eq!(texts(&ini, "Global", "kato"), ["5"]);
    }

    #[test]
    fn comments_quotes_colon_and_percent() {
        let (ini, d) = p("# c\n[G]\n; c2\n   # c3\na = \"x=y\"\nb: c\npct=%d\n");
        assert_eq!(ini.last("G", "a").unwrap().text, "\"x=y\"");
        assert_eq!(ini.last("G", "pct").unwrap().text, "%d");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].line, Some(6));
    }

    #[test]
    fn inline_comment_is_stripped_with_warning() {
        let (ini, d) = p("[Controllers]\nexclude = transport=tcp;traddr=fe80::1 # Eliminate\n");
        assert_eq!(
            ini.last("Controllers", "exclude").unwrap().text,
            "transport=tcp;traddr=fe80::1"
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, Severity::Warning);
        assert_eq!(d[0].line, Some(2));
        let (ini, d) = p("[G]\nsymname=a#b\n");
        assert_eq!(ini.last("G", "symname").unwrap().text, "a#b");
        assert!(d.is_empty());
    }

    #[test]
    fn bad_lines_are_diagnostics_with_line_numbers() {
        let (ini, d) = p("tron=true\n[Global]\nbare\n  cont\n=x\nkato=5\n");
        let lines: Vec<_> = d.iter().map(|x| x.line.unwrap()).collect();
        assert_eq!(lines, [1, 3, 4, 5]);
        assert!(d.iter().all(Diagnostic::is_error));
        assert_eq!(ini.last("Global", "kato").unwrap().text, "5");
        assert!(ini.last("Global", "bare").is_none());
        assert!(d[0].to_string().starts_with("t.conf:1: error:"), "{}", d[0]);
    }

    #[test]
    fn crlf_and_missing_trailing_newline() {
        let (ini, d) = p("[Global]\r\nkato = 7\r\ntron=true");
        assert!(d.is_empty());
        assert_eq!(ini.last("Global", "kato").unwrap().text, "7");
        assert_eq!(ini.last("Global", "tron").unwrap().text, "true");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = p(&text);
        }

        #[test]
        fn never_panics_on_ini_like_text(text in "([\\[\\]=;# \\t\\na-zA-Z0-9]|\r\n){0,300}") {
            let _ = p(&text);
        }
    }
}
