//! Time spans as nvme-stas reads them (`staslib/timeparse.py`, itself from pytimeparse):
//! a plain number of seconds (`"10"`, `"0.5"`, `"-1"`), or expressions such as `72hours`,
//! `3 days 5 hours`, `1:30`, `1 minute, 24 secs`, `- 1 minute`.
//!
//! The result is a number of seconds as `f64` (Python returns int or float; the value is the
//! same). One upstream quirk is kept on purpose: when a unit expression has a fractional
//! day/hour/minute part and a whole seconds part, the sign applies to the non-second parts
//! only (`- 1.5 minutes, 2 secs` is -88, not -92), so that a file means what it meant to
//! nvme-stas.

use std::sync::OnceLock;

use regex::Regex;

const DAYS: &str = r"(?P<days>[\d.]+)\s*(?:d|dys?|days?)";
const HOURS: &str = r"(?P<hours>[\d.]+)\s*(?:h|hrs?|hours?)";
const MINS: &str = r"(?P<mins>[\d.]+)\s*(?:m|(?:mins?)|(?:minutes?))";
const SECS: &str = r"(?P<secs>[\d.]+)\s*(?:s|secs?|seconds?)";
const SEPARATORS: &str = r"[,/]";
const SECCLOCK: &str = r":(?P<secs>\d{2}(?:\.\d+)?)";
const MINCLOCK: &str = r"(?P<mins>\d{1,2}):(?P<secs>\d{2}(?:\.\d+)?)";
const HOURCLOCK: &str = r"(?P<hours>\d+):(?P<mins>\d{2}):(?P<secs>\d{2}(?:\.\d+)?)";
const DAYCLOCK: &str = r"(?P<days>\d+):(?P<hours>\d{2}):(?P<mins>\d{2}):(?P<secs>\d{2}(?:\.\d+)?)";

const UNITS: [(&str, f64); 4] = [
    ("days", 86400.0),
    ("hours", 3600.0),
    ("mins", 60.0),
    ("secs", 1.0),
];

fn opt(s: &str) -> String {
    format!("(?:{s})?")
}

fn optsep(s: &str) -> String {
    format!(r"(?:{s}\s*(?:{SEPARATORS}\s*)?)?")
}

fn formats() -> &'static [Regex] {
    static FORMATS: OnceLock<Vec<Regex>> = OnceLock::new();
    FORMATS.get_or_init(|| {
        [
            format!(
                r"{}\s*{}\s*{}\s*{}",
                optsep(DAYS),
                optsep(HOURS),
                optsep(MINS),
                opt(SECS)
            ),
            MINCLOCK.to_owned(),
            format!(r"{}\s*{HOURCLOCK}", optsep(DAYS)),
            DAYCLOCK.to_owned(),
            SECCLOCK.to_owned(),
        ]
        .iter()
        .map(|f| Regex::new(&format!(r"(?i)^\s*{f}\s*$")).expect("static time format regex"))
        .collect()
    })
}

/// Python's `float(s)`: surrounding whitespace allowed, `_` between digits allowed,
/// `inf`/`nan` accepted.
fn py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    let b = t.as_bytes();
    let mut clean = String::with_capacity(t.len());
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let ok =
                i > 0 && i + 1 < b.len() && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit();
            if !ok {
                return None;
            }
        } else {
            clean.push(char::from(c));
        }
    }
    clean.parse::<f64>().ok()
}

/// Parses a time span into seconds, or `None` when it is not a time expression.
#[must_use]
pub fn timeparse(s: &str) -> Option<f64> {
    if let Some(v) = py_float(s) {
        return Some(v);
    }
    let t = s.trim_start();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+' | b'|') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    let rest = rest.trim_start();
    for re in formats() {
        let Some(caps) = re.captures(rest) else {
            continue;
        };
        if caps.get(0).is_none_or(|m| m.as_str().trim().is_empty()) {
            continue;
        }
        let parts: Vec<(&str, &str)> = UNITS
            .iter()
            .filter_map(|(name, _)| caps.name(name).map(|m| (*name, m.as_str())))
            .collect();
        let mult = |k: &str| UNITS.iter().find(|(n, _)| *n == k).map_or(1.0, |(_, m)| *m);
        let is_digits = |v: &str| !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit());
        let num = |v: &str| v.parse::<f64>().ok();

        if parts.iter().all(|(_, v)| is_digits(v)) {
            let total: f64 = parts
                .iter()
                .map(|(k, v)| mult(k) * num(v).unwrap_or(0.0))
                .sum();
            return Some(sign * total);
        }
        let secs = parts.iter().find(|(k, _)| *k == "secs").map(|(_, v)| *v);
        let mut others = 0.0;
        for (k, v) in parts.iter().filter(|(k, _)| *k != "secs") {
            others += mult(k) * num(v)?;
        }
        match secs {
            None => return Some(sign * others.trunc()),
            Some(sv) if is_digits(sv) => return Some(sign * others.trunc() + num(sv)?),
            Some(sv) => return Some(sign * (others + num(sv)?)),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::timeparse;

    #[test]
    fn acceptance_cases_of_test_timeparse() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("1s", Some(1.0)),
            ("1 sec", Some(1.0)),
            ("1 second", Some(1.0)),
            ("1 seconds", Some(1.0)),
            ("1:01", Some(61.0)),
            ("1 day", Some(86400.0)),
            ("1 hour", Some(3600.0)),
            ("1 min", Some(60.0)),
            ("0.5", Some(0.5)),
            ("-1", Some(-1.0)),
            (":22", Some(22.0)),
            ("1 minute, 24 secs", Some(84.0)),
            ("1.2 minutes", Some(72.0)),
            ("1.2 seconds", Some(1.2)),
            ("- 1 minute", Some(-60.0)),
            ("+ 1 minute", Some(60.0)),
            ("blah", None),
        ];
        for (input, want) in cases {
            assert_eq!(timeparse(input), *want, "timeparse({input:?})");
        }
    }

    #[test]
    fn other_forms() {
        assert_eq!(timeparse("72hours"), Some(259_200.0));
        assert_eq!(
            timeparse("3 days 5 hours"),
            Some(3.0 * 86400.0 + 5.0 * 3600.0)
        );
        assert_eq!(timeparse("1m24s"), Some(84.0));
        assert_eq!(timeparse("1:24"), Some(84.0));
        assert_eq!(timeparse("1:00:00"), Some(3600.0));
        assert_eq!(timeparse("2 1:00:00"), None);
        assert_eq!(timeparse("1:01:00:00"), Some(90000.0));
        assert_eq!(timeparse(" 10 "), Some(10.0));
        assert_eq!(timeparse("1_000"), Some(1000.0));
        assert_eq!(timeparse("72 HOURS"), Some(259_200.0));
        assert_eq!(timeparse(""), None);
        assert_eq!(timeparse("   "), None);
        assert_eq!(timeparse("1 fortnight"), None);
        assert_eq!(timeparse("- 1 minute, 1.5 secs"), Some(-61.5));
        assert_eq!(timeparse("- 1.5 minutes, 2 secs"), Some(-88.0));
        assert_eq!(timeparse("1.2.3 minutes"), None);
    }

    /// Values printed by nvme-stas's own `timeparse` (Python 3.11) for the same inputs.
    #[test]
    fn differential_against_python() {
        let cases: &[(&str, Option<f64>)] = &[
            ("3 days 5 hours", Some(277_200.0)),
            ("1:30", Some(90.0)),
            ("1.5h", Some(5400.0)),
            ("2d", Some(172_800.0)),
            ("1 d, 2 h / 3 m 4 s", Some(93784.0)),
            ("01:02:03", Some(3723.0)),
            ("1 2:03:04", None),
            ("1:02:03:04", Some(93784.0)),
            (":5", None),
            ("5 hrs", Some(18000.0)),
            ("3dys", Some(259_200.0)),
            ("10 s ", Some(10.0)),
            ("+5m", Some(300.0)),
            ("|5m", Some(300.0)),
            ("1e3", Some(1000.0)),
            ("inf", Some(f64::INFINITY)),
        ];
        for (input, want) in cases {
            assert_eq!(timeparse(input), *want, "timeparse({input:?})");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = timeparse(&s);
        }
    }
}

/// A time span in systemd's grammar (`systemd.time(7)`), as the 3.x layout's
/// `dc-giveup-timeout` takes it: `infinity`, or numbers with units (`72h`, `1d 12h`,
/// `1.5hours`, `90min`); a number without a unit is seconds. `M`/`month` is a month
/// (30.44 days) and `m` a minute. Negative values are rejected. Returns seconds
/// (`f64::INFINITY` for `infinity`).
#[must_use]
pub fn systemd_timespan(s: &str) -> Option<f64> {
    const UNITS: [(&[&str], f64); 10] = [
        (&["usec", "us", "µs", "μs"], 1e-6),
        (&["msec", "ms"], 1e-3),
        (&["seconds", "second", "sec", "s"], 1.0),
        (&["minutes", "minute", "min", "m"], 60.0),
        (&["hours", "hour", "hr", "h"], 3600.0),
        (&["days", "day", "d"], 86_400.0),
        (&["weeks", "week", "w"], 604_800.0),
        (&["months", "month", "M"], 2_629_800.0),
        (&["years", "year", "y"], 31_557_600.0),
        (&["nsec", "ns"], 1e-9),
    ];
    let t = s.trim();
    if t == "infinity" {
        return Some(f64::INFINITY);
    }
    let mut rest = t;
    let mut total = 0.0;
    let mut parts = 0;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..end].parse().ok()?;
        rest = rest[end..].trim_start();
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = rest[unit_end..].trim_start();
        let factor = if unit.is_empty() {
            1.0
        } else {
            UNITS
                .iter()
                .find(|(names, _)| names.contains(&unit))
                .map(|(_, f)| *f)?
        };
        total += n * factor;
        parts += 1;
    }
    (parts > 0 && total.is_finite()).then_some(total)
}

#[cfg(test)]
mod systemd_tests {
    use super::systemd_timespan;

    #[test]
    fn systemd_grammar() {
        assert_eq!(systemd_timespan("72h"), Some(259_200.0));
        assert_eq!(systemd_timespan("72hours"), Some(259_200.0));
        assert_eq!(systemd_timespan("1d 12h"), Some(129_600.0));
        assert_eq!(systemd_timespan("90"), Some(90.0));
        assert_eq!(systemd_timespan("2min 30s"), Some(150.0));
        assert_eq!(systemd_timespan("1.5h"), Some(5400.0));
        assert_eq!(systemd_timespan("1M"), Some(2_629_800.0));
        assert_eq!(systemd_timespan("1m"), Some(60.0));
        assert_eq!(systemd_timespan("infinity"), Some(f64::INFINITY));
        for bad in ["", "-1", "5 parsecs", "h", "1..5s", "infinity 1s"] {
            assert_eq!(systemd_timespan(bad), None, "{bad}");
        }
    }
}
