//! What it costs on this machine to wake a process asleep in a blocking read: the
//! time from one process's write into a pipe to the moment the reader runs again,
//! after the reader has slept 50 ms (the interval of the throughput bench's ping),
//! 2 ms and 0.2 ms; with both processes on one CPU, on two CPUs, and left to the
//! scheduler.
//!
//! Why it is measured: a packet through a user-space switch wakes the switch's
//! thread on each host it crosses, where the kernel's own path runs in the sender's
//! system call and wakes nobody. On a VM whose idle CPUs halt, each wake after an
//! idle spell costs tens of microseconds, which bounds how close any switch that
//! sleeps can come to the kernel's ping time (bench/switch_throughput.sh prints that
//! bound next to its ping ratio).
//!
//! `cargo bench -p host --bench wake_latency` (`-- quick`: fewer samples). The last
//! line is machine-readable: `wake_us same-cpu-50ms=... other-cpu-50ms=... ...`.

use std::io::{self, Read, Write};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Where the two processes run.
#[derive(Clone, Copy)]
enum Placement {
    SameCpu(usize),
    OtherCpu { waker: usize, sleeper: usize },
    Unpinned,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::SameCpu(_) => "same-cpu",
            Placement::OtherCpu { .. } => "other-cpu",
            Placement::Unpinned => "unpinned",
        }
    }
    fn cpus(self) -> (Option<usize>, Option<usize>) {
        match self {
            Placement::SameCpu(c) => (Some(c), Some(c)),
            Placement::OtherCpu { waker, sleeper } => (Some(waker), Some(sleeper)),
            Placement::Unpinned => (None, None),
        }
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let Some(i) = args.iter().position(|a| a == "--sleeper") {
        return sleeper(args.get(i + 1).map(String::as_str));
    }
    let quick = args.iter().any(|a| a == "quick");
    let cpus = host::cpu::allowed_cpus()?;
    let Some(&first) = cpus.first() else {
        return Err("no CPU is allowed to this process".into());
    };
    let mut placements = vec![Placement::SameCpu(first)];
    if let Some(&second) = cpus.get(1) {
        placements.push(Placement::OtherCpu {
            waker: first,
            sleeper: second,
        });
    }
    placements.push(Placement::Unpinned);
    let gaps = [
        (
            Duration::from_millis(50),
            "50ms",
            if quick { 15 } else { 40 },
        ),
        (
            Duration::from_millis(2),
            "2ms",
            if quick { 50 } else { 200 },
        ),
        (
            Duration::from_micros(200),
            "0.2ms",
            if quick { 100 } else { 400 },
        ),
    ];
    println!("Wake-up of a process asleep in read(2) after a pipe write (us)");
    println!(
        "{:<10} {:>7} {:>9} {:>8} {:>8}",
        "placement", "asleep", "median", "p10", "p90"
    );
    let mut summary = Vec::new();
    for placement in placements {
        for (gap, gap_name, samples) in gaps {
            let mut wakes = measure(placement, gap, samples)?;
            if wakes.is_empty() {
                return Err("no wake-up was measured".into());
            }
            wakes.sort_by(f64::total_cmp);
            let at = |q: usize| wakes[(wakes.len() - 1) * q / 100];
            println!(
                "{:<10} {:>7} {:>9.1} {:>8.1} {:>8.1}",
                placement.name(),
                gap_name,
                at(50),
                at(10),
                at(90)
            );
            summary.push(format!("{}-{gap_name}={:.1}", placement.name(), at(50)));
        }
    }
    println!("wake_us {}", summary.join(" "));
    Ok(())
}

/// `samples` wake-ups of a child process (this program with `--sleeper`), each after
/// `gap` asleep; the microseconds from the write to the child's first instruction
/// after its read returns.
fn measure(placement: Placement, gap: Duration, samples: usize) -> Result<Vec<f64>> {
    let (waker_cpu, sleeper_cpu) = placement.cpus();
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--sleeper")
        .arg(sleeper_cpu.map_or("any".to_string(), |c| c.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let result = std::thread::scope(|s| {
        s.spawn(|| wake_child(&mut child, waker_cpu, gap, samples))
            .join()
            .map_err(|_| "the waking thread panicked")?
    });
    // Closing its stdin ends the child's loop.
    drop(child.stdin.take());
    child.wait()?;
    result
}

fn wake_child(
    child: &mut Child,
    cpu: Option<usize>,
    gap: Duration,
    samples: usize,
) -> Result<Vec<f64>> {
    if let Some(cpu) = cpu {
        host::cpu::pin_current_thread(cpu)?;
    }
    let (Some(to_child), Some(from_child)) = (child.stdin.as_mut(), child.stdout.as_mut()) else {
        return Err("the child's pipes are missing".into());
    };
    let mut wakes = Vec::with_capacity(samples);
    // One untimed round first: the child has just started and is warm.
    for round in 0..=samples {
        sleep(gap);
        to_child.write_all(&monotonic_ns()?.to_le_bytes())?;
        let mut answer = [0u8; 8];
        from_child.read_exact(&mut answer)?;
        if round > 0 {
            wakes.push(u64::from_le_bytes(answer) as f64 / 1000.0);
        }
    }
    Ok(wakes)
}

/// The child: reads a send time from stdin, answers with the nanoseconds it took to
/// get the CPU back, until stdin closes.
fn sleeper(cpu: Option<&str>) -> Result<()> {
    if let Some(cpu) = cpu.filter(|c| *c != "any") {
        host::cpu::pin_current_thread(cpu.parse()?)?;
    }
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    let mut sent = [0u8; 8];
    loop {
        match input.read_exact(&mut sent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let woke = monotonic_ns()?;
        let took = woke.saturating_sub(u64::from_le_bytes(sent));
        output.write_all(&took.to_le_bytes())?;
        output.flush()?;
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for both processes (`Instant` cannot
/// be handed to another process).
fn monotonic_ns() -> io::Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`, which lives for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let secs = u64::try_from(ts.tv_sec).map_err(io::Error::other)?;
    let nanos = u64::try_from(ts.tv_nsec).map_err(io::Error::other)?;
    Ok(secs * 1_000_000_000 + nanos)
}
