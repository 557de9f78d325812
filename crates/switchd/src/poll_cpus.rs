//! Pinning poll threads to CPUs (`--poll-cpus`), as a DPDK switch pins its polling
//! threads to the cores set aside for it: an operator who reserves cores for the
//! datapath keeps the VMs off them (with their own affinity) and the poll threads on
//! them. Not the default: on a small machine the VMs and the poll threads share the
//! cores, and pinning gained nothing (measurements in docs/performance.md).

/// Parses a CPU list the way cgroups' `cpuset.cpus` and `taskset -c` write one (no
/// strides): `3`, `0,2`, `2-5,7`; `none` is the empty list (no pinning). Order is
/// kept: poll thread i goes to the i-th CPU named.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let text = text.trim();
    if text == "none" {
        return Ok(Vec::new());
    }
    if text.is_empty() {
        return Err("the CPU list is empty (name CPUs, or 'none')".into());
    }
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("an empty entry in CPU list '{text}'"));
        }
        let cpu = |s: &str| {
            let s = s.trim();
            if s.starts_with('-') || part.starts_with('-') {
                return Err(format!(
                    "'{part}' in CPU list '{text}': CPU numbers start at 0"
                ));
            }
            match s.parse::<usize>() {
                Ok(c) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(c),
                _ => Err(format!("'{s}' in CPU list '{text}' is not a CPU number")),
            }
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (cpu(a)?, cpu(b)?),
            None => {
                let c = cpu(part)?;
                (c, c)
            }
        };
        if first > last {
            return Err(format!(
                "range '{part}' in CPU list '{text}' runs backwards"
            ));
        }
        for c in first..=last {
            if cpus.contains(&c) {
                return Err(format!("CPU {c} is named twice in CPU list '{text}'"));
            }
            if cpus.len() >= 4096 {
                return Err(format!("CPU list '{text}' names more than 4096 CPUs"));
            }
            cpus.push(c);
        }
    }
    Ok(cpus)
}

/// The CPU each of the poll threads is pinned to (`None`: not pinned), for `cpus`
/// (empty: no pinning) and `threads` asked for (0: one per CPU named, or
/// `default_threads` when none is). Every CPU must be one the process may run on.
pub fn assign(
    cpus: &[usize],
    threads: usize,
    default_threads: usize,
    allowed: &[usize],
) -> Result<Vec<Option<usize>>, String> {
    if cpus.is_empty() {
        let n = if threads == 0 {
            default_threads
        } else {
            threads
        };
        return Ok(vec![None; n.max(1)]);
    }
    if threads != 0 && threads != cpus.len() {
        let named = match cpus.len() {
            1 => "1 CPU".to_string(),
            n => format!("{n} CPUs"),
        };
        return Err(format!(
            "--poll-threads {threads} does not match --poll-cpus, which names {named} (one poll thread per CPU)"
        ));
    }
    if let Some(c) = cpus.iter().find(|c| !allowed.contains(c)) {
        return Err(format!(
            "--poll-cpus: CPU {c} is not one this process may run on (allowed: {})",
            format_cpu_list(allowed)
        ));
    }
    Ok(cpus.iter().map(|&c| Some(c)).collect())
}

/// Writes a CPU list back in its short form (`0-3,6`).
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if sorted[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", sorted[i])
        });
        i += 1;
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_as_taskset_writes_them() {
        assert_eq!(parse_cpu_list("3"), Ok(vec![3]));
        assert_eq!(parse_cpu_list("0,2"), Ok(vec![0, 2]));
        assert_eq!(parse_cpu_list("2-5,7"), Ok(vec![2, 3, 4, 5, 7]));
        assert_eq!(parse_cpu_list(" 1 , 0 "), Ok(vec![1, 0]), "order kept");
        assert_eq!(parse_cpu_list("none"), Ok(vec![]));
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        for (text, says) in [
            ("", "the CPU list is empty (name CPUs, or 'none')"),
            ("a", "'a' in CPU list 'a' is not a CPU number"),
            ("+3", "'+3' in CPU list '+3' is not a CPU number"),
            ("1,,2", "an empty entry in CPU list '1,,2'"),
            ("1,", "an empty entry in CPU list '1,'"),
            ("-1", "'-1' in CPU list '-1': CPU numbers start at 0"),
            ("0-6:2", "'6:2' in CPU list '0-6:2' is not a CPU number"),
            ("3-1", "range '3-1' in CPU list '3-1' runs backwards"),
            ("1,0-2", "CPU 1 is named twice in CPU list '1,0-2'"),
            ("0-99999", "CPU list '0-99999' names more than 4096 CPUs"),
            (
                "0-18446744073709551615",
                "CPU list '0-18446744073709551615' names more than 4096 CPUs",
            ),
            (
                "99999999999999999999",
                "'99999999999999999999' in CPU list '99999999999999999999' is not a CPU number",
            ),
        ] {
            assert_eq!(parse_cpu_list(text), Err(says.to_string()), "{text}");
        }
    }

    #[test]
    fn threads_follow_the_cpus_named() {
        let allowed = [0, 1, 2, 3];
        assert_eq!(assign(&[], 0, 2, &allowed), Ok(vec![None, None]));
        assert_eq!(assign(&[], 3, 2, &allowed), Ok(vec![None; 3]));
        assert_eq!(
            assign(&[], 0, 0, &allowed),
            Ok(vec![None]),
            "one thread at least"
        );
        assert_eq!(assign(&[3, 1], 0, 2, &allowed), Ok(vec![Some(3), Some(1)]));
        assert_eq!(assign(&[3, 1], 2, 1, &allowed), Ok(vec![Some(3), Some(1)]));
        assert_eq!(
            assign(&[3, 1], 3, 1, &allowed),
            Err("--poll-threads 3 does not match --poll-cpus, which names 2 CPUs (one poll thread per CPU)".into())
        );
        assert_eq!(
            assign(&[4], 0, 1, &[0, 1, 2, 3, 6]),
            Err("--poll-cpus: CPU 4 is not one this process may run on (allowed: 0-3,6)".into())
        );
    }

    #[test]
    fn lists_format_short() {
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(format_cpu_list(&[5, 1]), "1,5");
        assert_eq!(format_cpu_list(&[]), "none");
    }
}
