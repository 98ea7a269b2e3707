//! How the client commands put text on a terminal: aligned plain-text tables,
//! truncated cells, JSON indented in its own key order, progress bars with a
//! rounded rate, and stdout writes that end quietly when the reader (`head`)
//! goes away. Hints and progress go to stderr; stdout carries only the result.
//!
//! Widths count `char`s, which is exact for the ASCII that names, ids, codes
//! and times are made of; wide characters in a message may shift a column.

use std::fmt;
use std::io::Write;

/// Columns are separated by this.
const GAP: &str = "  ";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table with a header row; `Display` renders it, one line per row.
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of one cell per column. Control characters (a newline in an
    /// error message) become spaces so that a row stays one line.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        let cells = cells
            .into_iter()
            .map(|cell| {
                if cell.chars().any(char::is_control) {
                    cell.chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect()
                } else {
                    cell
                }
            })
            .collect();
        self.rows.push(cells);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .map(|(title, _)| title.chars().count())
            .collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header = self.columns.iter().map(|(title, _)| *title);
        write_line(f, &self.columns, &widths, header)?;
        for row in &self.rows {
            write_line(f, &self.columns, &widths, row.iter().map(String::as_str))?;
        }
        Ok(())
    }
}

fn write_line<'a>(
    f: &mut fmt::Formatter<'_>,
    columns: &[(&'static str, Align)],
    widths: &[usize],
    cells: impl Iterator<Item = &'a str>,
) -> fmt::Result {
    let mut line = String::new();
    for (((_, align), width), cell) in columns.iter().zip(widths).zip(cells) {
        if !line.is_empty() {
            line.push_str(GAP);
        }
        let pad = width.saturating_sub(cell.chars().count());
        if *align == Align::Right {
            line.extend(std::iter::repeat_n(' ', pad));
        }
        line.push_str(cell);
        if *align == Align::Left {
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    writeln!(f, "{}", line.trim_end())
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Indents valid JSON text two spaces per level, as `serde_json`'s pretty
/// printer does, but keeping the text's key order (an event envelope reads
/// `version, id, detail-type, …`; a parsed `Value` would sort it).
pub fn indent_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                // An empty object or array stays `{}` / `[]`.
                if let Some(close) = chars.next_if(|c| matches!(c, '}' | ']')) {
                    out.push(close);
                } else {
                    depth += 1;
                    new_line(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                new_line(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                new_line(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

fn new_line(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n("  ", depth));
}

/// A progress bar (on stderr) over `len` items, counting them as `what`
/// (`events`, `deleted`), with their rate and the time left.
pub fn progress_bar(len: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(u64::try_from(len).unwrap_or(u64::MAX));
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what} {{rate}} eta {{eta}}");
    let style = indicatif::ProgressStyle::with_template(&template)
        .expect("the template is valid")
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, out: &mut dyn fmt::Write| {
                // A failed write to the bar's buffer only loses the rate.
                let _ = out.write_str(&rate(state.per_sec()));
            },
        );
    bar.set_style(style);
    bar
}

/// Items per second as people read them: `2,185/s`, or `3.5/s` below ten,
/// where a whole number would hide the difference between one and two.
fn rate(per_sec: f64) -> String {
    // Also NaN and infinity, before the first item is done.
    if !(0.05..f64::INFINITY).contains(&per_sec) {
        return "0/s".to_owned();
    }
    if per_sec < 9.95 {
        return format!("{per_sec:.1}/s");
    }
    // `{:.0}` rounds; its digits are grouped by thousands as indicatif does.
    let digits = format!("{per_sec:.0}");
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}/s")
}

/// Writes `text` to stdout. A closed pipe is not an error: the reader had
/// enough (`stowage dlq list --all | head`).
pub fn print(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes `text` and a newline to stdout (see [`print`]).
pub fn println(text: &str) -> std::io::Result<()> {
    print(&format!("{text}\n"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_and_lines_have_no_trailing_blanks() {
        let mut table = Table::new(&[
            ("NAME", Align::Left),
            ("N", Align::Right),
            ("NOTE", Align::Left),
        ]);
        table.row(vec!["a".into(), "1234".into(), "".into()]);
        table.row(vec!["longer".into(), "5".into(), "x".into()]);
        assert_eq!(
            table.to_string(),
            "NAME       N  NOTE\n\
             a       1234\n\
             longer     5  x\n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header() {
        let table = Table::new(&[("A", Align::Left), ("B", Align::Right)]);
        assert_eq!(table.to_string(), "A  B\n");
    }

    #[test]
    fn control_characters_in_a_cell_become_spaces() {
        let mut table = Table::new(&[("A", Align::Left)]);
        table.row(vec!["two\nlines\t!".into()]);
        assert_eq!(table.to_string(), "A\ntwo lines !\n");
    }

    #[test]
    fn a_rate_is_rounded_and_grouped_by_thousands() {
        assert_eq!(rate(2185.2765), "2,185/s");
        assert_eq!(rate(1_234_567.5), "1,234,568/s");
        assert_eq!(rate(999.5), "1,000/s");
        assert_eq!(rate(42.49), "42/s");
        assert_eq!(rate(9.96), "10/s");
        assert_eq!(rate(3.46), "3.5/s");
        assert_eq!(rate(0.06), "0.1/s");
        assert_eq!(rate(0.04), "0/s");
    }

    #[test]
    fn a_rate_not_yet_known_reads_as_zero() {
        assert_eq!(rate(0.0), "0/s");
        assert_eq!(rate(f64::NAN), "0/s");
        assert_eq!(rate(f64::INFINITY), "0/s");
        assert_eq!(rate(-1.0), "0/s");
    }

    #[test]
    fn the_progress_template_is_valid() {
        let bar = progress_bar(10, "events");
        bar.inc(3);
        assert_eq!(bar.position(), 3);
    }

    #[test]
    fn truncate_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("short", 5), "short");
        assert_eq!(truncate("longer", 5), "long…");
        assert_eq!(truncate("ééééé-é", 3), "éé…");
        assert_eq!(truncate("abc", 1), "…");
    }

    #[test]
    fn indent_json_keeps_key_order_and_string_contents() {
        let text = r#"{"z":1,"a":{"s":"{[,:\"]}","e":{},"l":[]},"list":[1, "x"]}"#;
        assert_eq!(
            indent_json(text),
            r#"{
  "z": 1,
  "a": {
    "s": "{[,:\"]}",
    "e": {},
    "l": []
  },
  "list": [
    1,
    "x"
  ]
}"#
        );
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// serde_json sorts keys, so its pretty printer is the reference for
        /// sorted input; whitespace in the input must not matter.
        #[test]
        fn indent_json_matches_serde_json_pretty(value in json_value()) {
            let pretty = serde_json::to_string_pretty(&value).expect("a Value serializes");
            prop_assert_eq!(&indent_json(&value.to_string()), &pretty);
            prop_assert_eq!(&indent_json(&pretty), &pretty);
        }
    }
}
