//! Python literal spellings that nvme-stas puts *inside* its D-Bus strings: `str(float)`,
//! `repr(str)`, `str(dict)`, GLib timer text (`"60.0s [off]"`) and `time.asctime()`.
//!
//! These are part of the wire contract (clients parse or show them), so they are reproduced
//! here exactly, with unit tests pinned against CPython's output.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::snapshot::TimerView;

/// A value inside a Python dict literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyValue<'a> {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer.
    Int(u64),
    /// A string, shown with `repr()`.
    Str(&'a str),
}

impl PyValue<'_> {
    fn write(&self, out: &mut String) {
        match self {
            Self::None => out.push_str("None"),
            Self::Bool(b) => out.push_str(py_bool(*b)),
            Self::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Self::Str(s) => out.push_str(&py_str_repr(s)),
        }
    }
}

/// Python's `str(bool)`: `"True"` or `"False"`.
#[must_use]
pub fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// Python's `repr(float)` (which `str()` and f-strings also use): the shortest text that
/// reads back as the same double, with `.0` on integral values and an exponent outside
/// `1e-4 <= |x| < 1e16`.
#[must_use]
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Rust's `{:e}` is also shortest-round-trip; only the exponent spelling differs
        // (`5e-5` vs Python's `5e-05`, `1e16` vs `1e+16`).
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    if x.fract() == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// Python's `repr(str)`: single quotes unless the text contains `'` and no `"`; backslash,
/// the quote and control characters escaped.
#[must_use]
pub fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let n = u32::from(c);
                let _ = if n <= 0xff {
                    write!(out, "\\x{n:02x}")
                } else {
                    write!(out, "\\u{n:04x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str(dict)` for string keys, in the given order:
/// `{'fail count': 0, 'completed': None}`.
#[must_use]
pub fn py_dict_repr<'a, I>(items: I) -> String
where
    I: IntoIterator<Item = (&'a str, PyValue<'a>)>,
{
    let mut out = String::from("{");
    for (i, (k, v)) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&py_str_repr(k));
        out.push_str(": ");
        v.write(&mut out);
    }
    out.push('}');
    out
}

/// nvme-stas's `GTimer.__str__`: `"<period>s [off]"` when stopped, `"<period>s [<left>s]"`
/// when running, with GLib's microsecond resolution; an expired running timer shows `[0s]`.
#[must_use]
pub fn timer_text(t: &TimerView) -> String {
    let period = py_float(t.period.as_secs_f64());
    match t.remaining {
        None => format!("{period}s [off]"),
        Some(left) => format!("{period}s [{}s]", seconds_text(left)),
    }
}

/// Seconds as nvme-stas computes them from GLib's microseconds: `0` (an int) when nothing
/// is left, otherwise a float.
fn seconds_text(d: Duration) -> String {
    let micros = d.as_micros();
    if micros == 0 {
        "0".to_owned()
    } else {
        #[allow(clippy::cast_precision_loss)] // a timer is far below 2^52 µs
        py_float(micros as f64 / 1e6)
    }
}

/// A duration in whole seconds when it has no fraction (`"259200"`), else as a Python float.
#[must_use]
pub fn seconds_number(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        py_float(d.as_secs_f64())
    }
}

/// `time.asctime()` layout (`"Thu Jan  1 00:00:00 1970"`), in UTC, followed by ` UTC`.
///
/// nvme-stas shows local time without a zone; stas has no time-zone database in the daemon,
/// so it says UTC explicitly rather than show an unlabelled time in the wrong zone.
#[must_use]
pub fn asctime_utc(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs(),
        Err(_) => 0,
    };
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS[usize::try_from(days % 7).unwrap_or(0)];
    let month = MONTHS[usize::try_from(m - 1).unwrap_or(0)];
    format!(
        "{weekday} {month} {d:>2} {:02}:{:02}:{:02} {y} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_match_cpython_repr() {
        // Expected values from CPython 3.11 `repr(float)`.
        for (x, want) in [
            (60.0, "60.0"),
            (0.0, "0.0"),
            (1.5, "1.5"),
            (12.3, "12.3"),
            (12.345_678, "12.345678"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.000_05, "5e-05"),
            (0.000_012_5, "1.25e-05"),
            (1e16, "1e+16"),
            (123_456_789_012_345.6, "123456789012345.6"),
            (-1.0, "-1.0"),
        ] {
            assert_eq!(py_float(x), want, "{x}");
        }
    }

    #[test]
    fn strings_match_cpython_repr() {
        assert_eq!(py_str_repr("abc"), "'abc'");
        assert_eq!(py_str_repr("it's"), "\"it's\"");
        assert_eq!(py_str_repr("both ' and \""), "'both \\' and \"'");
        assert_eq!(py_str_repr("a\\b\nc\t\u{1}"), "'a\\\\b\\nc\\t\\x01'");
        assert_eq!(py_str_repr("café"), "'café'");
        assert_eq!(py_str_repr(""), "''");
    }

    #[test]
    fn dicts_match_cpython_str() {
        assert_eq!(
            py_dict_repr([
                ("fail count", PyValue::Int(0)),
                ("completed", PyValue::Bool(false)),
                ("alive", PyValue::Bool(true)),
            ]),
            "{'fail count': 0, 'completed': False, 'alive': True}"
        );
        assert_eq!(
            py_dict_repr([("a", PyValue::None), ("b", PyValue::Str("x'y"))]),
            "{'a': None, 'b': \"x'y\"}"
        );
        assert_eq!(py_dict_repr([]), "{}");
    }

    #[test]
    fn timers_match_gtimer() {
        let t = |p: f64, r: Option<f64>| TimerView {
            period: Duration::from_secs_f64(p),
            remaining: r.map(Duration::from_secs_f64),
        };
        assert_eq!(timer_text(&t(60.0, None)), "60.0s [off]");
        assert_eq!(timer_text(&t(60.0, Some(12.3))), "60.0s [12.3s]");
        assert_eq!(timer_text(&t(1.5, None)), "1.5s [off]");
        assert_eq!(timer_text(&t(1.0, Some(0.0))), "1.0s [0s]");
        assert_eq!(timer_text(&t(5.0, Some(4.000_000_9))), "5.0s [4.0s]");
        assert_eq!(timer_text(&t(0.0, None)), "0.0s [off]");
    }

    #[test]
    fn asctime_layout() {
        assert_eq!(asctime_utc(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970 UTC");
        // 2022-02-08 13:40:25 UTC was a Tuesday.
        let t = UNIX_EPOCH + Duration::from_secs(1_644_327_625);
        assert_eq!(asctime_utc(t), "Tue Feb  8 13:40:25 2022 UTC");
        // 2024-02-29 23:59:59 UTC (leap day), a Thursday.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(asctime_utc(t), "Thu Feb 29 23:59:59 2024 UTC");
    }

    #[test]
    fn whole_seconds() {
        assert_eq!(seconds_number(Duration::from_secs(259_200)), "259200");
        assert_eq!(seconds_number(Duration::from_millis(1500)), "1.5");
    }
}
