//! The roff writer every page uses: man(7) requests over the `roff` crate (which escapes
//! text), and a two-mark inline markup for the prose: `**bold**` and `__italic__`.

use roff::{bold, italic, roman, Inline, Roff};

/// A man page being written.
#[derive(Default)]
pub struct Doc {
    /// The `.TH` line (empty for a part of a page).
    head: String,
    roff: Roff,
}

/// The inlines of `text` with its `**bold**` and `__italic__` spans.
#[must_use]
pub fn inline(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let next = [("**", 0), ("__", 1)]
            .into_iter()
            .filter_map(|(mark, kind)| rest.find(mark).map(|at| (at, mark, kind)))
            .min();
        let Some((at, mark, kind)) = next else {
            out.push(roman(rest));
            break;
        };
        let after = &rest[at + 2..];
        let Some(end) = after.find(mark) else {
            out.push(roman(rest));
            break;
        };
        if at > 0 {
            out.push(roman(&rest[..at]));
        }
        let span = &after[..end];
        out.push(if kind == 0 { bold(span) } else { italic(span) });
        rest = &after[end + 2..];
    }
    out
}

impl Doc {
    /// A page: `.TH` with the title, section, source and manual; no date, so that the
    /// output depends on the sources only.
    #[must_use]
    pub fn new(name: &str, section: &str) -> Self {
        // Written by hand: the `roff` crate drops an empty argument (the date).
        let head = format!(
            ".TH {} {section} \"\" \"{}\" \"{}\"\n",
            name.to_uppercase(),
            crate::SOURCE,
            crate::manual(section)
        );
        Self {
            head,
            roff: Roff::default(),
        }
    }

    /// A part of a page (no `.TH`), to append to another rendering.
    #[must_use]
    pub fn part() -> Self {
        Self::default()
    }

    /// A section heading.
    pub fn sh(&mut self, title: &str) -> &mut Self {
        self.roff.control("SH", [title]);
        self
    }

    /// A subsection heading.
    pub fn ss(&mut self, title: &str) -> &mut Self {
        self.roff.control("SS", [title]);
        self
    }

    /// A paragraph (`.PP`) of marked-up text.
    pub fn p(&mut self, text: &str) -> &mut Self {
        self.roff.control("PP", []);
        self.text(text)
    }

    /// Marked-up text continuing the current paragraph.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.roff.text(inline(text));
        self
    }

    /// Inlines continuing the current paragraph.
    pub fn inlines(&mut self, inlines: Vec<Inline>) -> &mut Self {
        self.roff.text(inlines);
        self
    }

    /// A tagged paragraph: `head` (marked up), then `body` (marked up) indented.
    pub fn tp(&mut self, head: &str, body: &str) -> &mut Self {
        self.tp_inlines(inline(head), body)
    }

    /// A tagged paragraph whose tag is already inlines.
    pub fn tp_inlines(&mut self, head: Vec<Inline>, body: &str) -> &mut Self {
        self.roff.control("TP", []);
        self.roff.text(head);
        if !body.is_empty() {
            self.roff.text(inline(body));
        }
        self
    }

    /// A line break inside a paragraph.
    pub fn br(&mut self) -> &mut Self {
        self.roff.control("br", []);
        self
    }

    /// Lines shown as they are (indented, not filled): examples, file excerpts.
    pub fn verbatim<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>) -> &mut Self {
        self.roff.control("PP", []);
        self.roff.control("RS", ["4"]);
        self.roff.control("nf", []);
        for line in lines {
            self.roff.text([roman(line)]);
        }
        self.roff.control("fi", []);
        self.roff.control("RE", []);
        self
    }

    /// A SEE ALSO section: `name(section)` references in bold, comma-separated.
    pub fn see_also(&mut self, refs: &[&str]) -> &mut Self {
        self.sh("SEE ALSO");
        let mut line = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            if i > 0 {
                line.push(roman(", "));
            }
            match r.split_once('(') {
                Some((name, sec)) => {
                    line.push(bold(name));
                    line.push(roman(format!("({sec}")));
                }
                None => line.push(roman(*r)),
            }
        }
        self.roff.text(line);
        self
    }

    /// The roff text: the `roff` crate's apostrophe preamble, `.TH`, the rest.
    #[must_use]
    pub fn render(&self) -> String {
        let preamble = Roff::default().render();
        format!("{preamble}{}{}", self.head, self.render_part())
    }

    /// The roff text of what was added, without the preamble (to append to a page).
    #[must_use]
    pub fn render_part(&self) -> String {
        strip_preamble(&self.roff.render())
    }
}

/// `text` without the leading apostrophe-string definition the `roff` crate writes before
/// every rendering (a page assembled from parts keeps the first one only).
#[must_use]
pub fn strip_preamble(text: &str) -> String {
    let mut rest = text;
    while rest.starts_with(".ie \\n(.g .ds Aq") || rest.starts_with(".el .ds Aq") {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_become_fonts() {
        assert_eq!(
            inline("run **stafd** with __FILE__ now"),
            vec![
                roman("run "),
                bold("stafd"),
                roman(" with "),
                italic("FILE"),
                roman(" now")
            ]
        );
        assert_eq!(inline("a *.conf glob"), vec![roman("a *.conf glob")]);
        assert_eq!(inline("unclosed **x"), vec![roman("unclosed **x")]);
    }

    #[test]
    fn parts_lose_the_preamble() {
        let mut d = Doc::part();
        d.sh("X");
        assert_eq!(d.render_part(), ".SH X\n");
        assert!(d.render().starts_with(".ie"));
        let page = Doc::new("stafd", "8").render();
        assert!(page.contains("\n.TH STAFD 8 \"\" \"stas "), "{page}");
    }
}
