//! Reading the switch's text back: whether a message names a table, and flow dumps
//! made comparable across time (counters and ages dropped, sorted).

/// True if `text` says "table N" in some spelling: `table 22`, `table=22`,
/// `Table: 22`, `table #22` (case-insensitive, exact number).
pub fn mentions_table(text: &str, n: u32) -> bool {
    let lower = text.to_ascii_lowercase();
    let b = lower.as_bytes();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("table") {
        let mut i = from + pos + "table".len();
        let mut skipped = 0;
        while i < b.len() && skipped < 3 && matches!(b[i], b' ' | b'\t' | b'=' | b':' | b'#') {
            i += 1;
            skipped += 1;
        }
        let digits = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i > digits && lower[digits..i].parse::<u32>() == Ok(n) {
            return true;
        }
        from += pos + "table".len();
    }
    false
}

/// Flow dump without volatile fields (durations, counters, ages), one entry
/// per flow line, sorted: comparable across time.
pub fn normalize_flows(dump: &str) -> Vec<String> {
    const VOLATILE: &[&str] = &[
        "duration",
        "n_packets",
        "n_bytes",
        "idle_age",
        "hard_age",
        "packets",
        "bytes",
        "age",
        "used",
        "idle_time",
    ];
    let mut v: Vec<String> = dump
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|tok| !tok.is_empty())
                .filter(|tok| {
                    let key = tok.split(['=', ':']).next().unwrap_or("");
                    !VOLATILE.contains(&key.to_ascii_lowercase().as_str())
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    v.sort();
    v
}
