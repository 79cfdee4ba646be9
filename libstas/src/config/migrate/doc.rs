//! The files `stasadm migrate` writes, as a small document model: header comments, then
//! sections of `key = value` settings, each preceded by comment lines naming its source.
//! Rendering is deterministic and has a masked form in which every secret value is
//! `<secret>`. Also the value formatting helpers of the 3.x dialects (systemd time spans, the
//! NQN and host ID checks of nvme-fabrics.conf(5)).

use std::time::Duration;

/// What the masked rendering shows instead of a secret value.
pub const MASK: &str = "<secret>";

/// One `key = value` line with the comment lines above it.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Setting {
    /// Comment lines (without `# `), each on its own line above the value.
    pub comments: Vec<String>,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Whether the value is a secret (masked, and the file gets mode 0600).
    pub secret: bool,
}

impl Setting {
    /// A plain setting with one comment line.
    pub fn new(comment: impl Into<String>, key: &str, value: impl Into<String>) -> Self {
        Self {
            comments: vec![comment.into()],
            key: key.to_owned(),
            value: value.into(),
            secret: false,
        }
    }

    /// A secret setting with one comment line.
    pub fn secret(comment: impl Into<String>, key: &str, value: impl Into<String>) -> Self {
        Self {
            secret: true,
            ..Self::new(comment, key, value)
        }
    }
}

/// A `[name]` section and its settings.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Section {
    /// The section name (without brackets).
    pub name: String,
    /// Settings in output order.
    pub settings: Vec<Setting>,
}

impl Section {
    /// An empty section.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            settings: Vec::new(),
        }
    }
}

/// A whole file: header comments, then the non-empty sections.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Doc {
    /// Header comment lines (without `# `).
    pub header: Vec<String>,
    /// Sections in output order; empty ones are not written.
    pub sections: Vec<Section>,
    /// Between key and value: `" = "` (nvme-fabrics.conf) or `"="` (stafd.conf, stacd.conf).
    pub sep: &'static str,
}

impl Doc {
    /// An empty document with `sep` between keys and values.
    pub fn new(sep: &'static str) -> Self {
        Self {
            header: Vec::new(),
            sections: Vec::new(),
            sep,
        }
    }

    /// The section called `name` (the first one, created at the end when missing).
    pub fn section(&mut self, name: &str) -> &mut Section {
        let i = match self.sections.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                self.sections.push(Section::new(name));
                self.sections.len() - 1
            }
        };
        &mut self.sections[i]
    }

    /// Whether any value is a secret.
    pub fn has_secret(&self) -> bool {
        self.sections
            .iter()
            .flat_map(|s| &s.settings)
            .any(|s| s.secret)
    }

    /// The file text; with `masked`, every secret value is [`MASK`].
    pub fn render(&self, masked: bool) -> String {
        let mut out = String::new();
        for line in &self.header {
            push_comment(&mut out, line);
        }
        for section in self.sections.iter().filter(|s| !s.settings.is_empty()) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push('[');
            out.push_str(&section.name);
            out.push_str("]\n");
            for s in &section.settings {
                for c in &s.comments {
                    push_comment(&mut out, c);
                }
                let value = if s.secret && masked { MASK } else { &s.value };
                out.push_str(&s.key);
                out.push_str(self.sep);
                out.push_str(value);
                out.push('\n');
            }
        }
        out
    }
}

/// Appends `# text` as one line (control characters become spaces, so a comment can never
/// end early and turn the rest into a setting).
fn push_comment(out: &mut String, text: &str) {
    out.push('#');
    if !text.is_empty() {
        out.push(' ');
        out.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
    }
    out.push('\n');
}

/// A time span in systemd.time(7) form, in the largest whole unit among days, hours, minutes
/// and seconds (`3d`, `36h`, `90min`, `61s`, `0s`); sub-second spans in `ms` or `us`. Never
/// `M` or `m` alone, whose meanings differ between 2.x (`m` minute) and systemd (`M` month).
#[must_use]
pub(super) fn timespan(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        let s = d.as_secs();
        for (n, unit) in [(86_400, "d"), (3_600, "h"), (60, "min")] {
            if s != 0 && s % n == 0 {
                return format!("{}{unit}", s / n);
            }
        }
        format!("{s}s")
    } else if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}us", d.as_micros().max(1))
    }
}

/// `text` with every `DHHC-1:` secret (up to the next whitespace, `;`, `,` or quote) replaced
/// by [`MASK`]: a last guard on every message the plan prints.
#[must_use]
pub(super) fn scrub(text: &str) -> String {
    const TAG: &str = "DHHC-1:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(TAG) {
        out.push_str(&rest[..i]);
        out.push_str(MASK);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, ';' | ',' | '"' | '\''))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_use_the_largest_whole_unit() {
        let s = Duration::from_secs;
        assert_eq!(timespan(s(72 * 3600)), "3d");
        assert_eq!(timespan(s(36 * 3600)), "36h");
        assert_eq!(timespan(s(90 * 60)), "90min");
        assert_eq!(timespan(s(61)), "61s");
        assert_eq!(timespan(s(0)), "0s");
        assert_eq!(timespan(Duration::from_millis(1500)), "1500ms");
        assert_eq!(timespan(Duration::from_micros(2)), "2us");
    }

    #[test]
    fn scrub_masks_dhchap_keys() {
        assert_eq!(
            scrub("x DHHC-1:00:c2VjcmV0=: y;DHHC-1:01:abc"),
            "x <secret> y;<secret>"
        );
        assert_eq!(scrub("nothing"), "nothing");
    }

    #[test]
    fn render_masks_and_skips_empty_sections() {
        let mut d = Doc::new(" = ");
        d.header.push("head\nline".into());
        d.section("Empty");
        d.section("A")
            .settings
            .push(Setting::new("from x:1", "k", "v"));
        d.section("A")
            .settings
            .push(Setting::secret("from x:2", "s", "S3"));
        assert!(d.has_secret());
        assert_eq!(
            d.render(false),
            "# head line\n\n[A]\n# from x:1\nk = v\n# from x:2\ns = S3\n"
        );
        assert!(d.render(true).contains("s = <secret>\n"));
        assert!(!d.render(true).contains("S3"));
    }
}
