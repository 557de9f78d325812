//! Integration tests of switchd's poll threads: a VM's TAP gets a queue per thread
//! and the VM's flows spread over them, other devices are spread across the threads,
//! frames cross from one thread's port to another's (single-queue TAPs) with their
//! offload state, the counters every thread gathers add up, and ports come and go
//! while other threads write to them. Needs root (fails instead of skipping when
//! CI=true).

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Three VMs on one bridge of a switchd with `threads` poll threads.
fn three_vms(tag: &str, threads: &str) -> (TwoHosts, [Vm; 3]) {
    three_vms_with(tag, &["--poll-threads", threads])
}

/// Three VMs on one bridge of a switchd started with `options`.
fn three_vms_with(tag: &str, options: &[&str]) -> (TwoHosts, [Vm; 3]) {
    let mut lab = TwoHosts::new(BIN, tag);
    lab.start_switchd_with(H::H1, options);
    lab.switch_ok(H::H1, &["add-br", "br0"]);
    let uid = lab.uid.clone();
    let vms = [1u8, 2, 3].map(|n| Vm {
        host: H::H1,
        ns: format!("{}v{n}", lab.prefix),
        tap: format!("t{uid}{n}"),
        ip: ["10.2.0.1", "10.2.0.2", "10.2.0.3"][usize::from(n - 1)],
        mac: [
            "fa:16:3e:00:02:01",
            "fa:16:3e:00:02:02",
            "fa:16:3e:00:02:03",
        ][usize::from(n - 1)],
        tag: 0,
    });
    for vm in &vms {
        lab.add_ns(&vm.ns);
        add_vm_port(&mut lab, vm);
    }
    (lab, vms)
}

/// The VM's TAP port on br0, created inside its (existing) namespace.
fn add_vm_port(lab: &mut TwoHosts, vm: &Vm) {
    lab.switch_ok(
        H::H1,
        &[
            "add-port", "br0", &vm.tap, "--type", "tap", "--netns", &vm.ns, "--mac", vm.mac,
        ],
    );
    lab.wait_vm_nic(vm, Duration::from_secs(5));
    lab.configure_vm_ip(vm);
}

#[test]
fn ports_are_spread_across_poll_threads_and_frames_cross_them() {
    if !lab_available() {
        return;
    }
    let (lab, [a, b, c]) = three_vms("thr", "3");
    // Each VM's TAP has a queue per thread, read by that thread.
    assert_each_queue_read(&lab, [&a, &b, &c], "0,1,2");

    lab.wait_ping(&a, b.ip, PING_WITHIN);
    lab.wait_ping(&b, c.ip, PING_WITHIN);
    lab.wait_ping(&c, a.ip, PING_WITHIN);
    // TCP super-frames between the VMs, both ways.
    lab.tcp_transfer(&a, &b, 40);
    lab.tcp_transfer(&c, &a, 20);
    // Bursts of small UDP datagrams into B's TAP go as UDP GSO runs, and B's
    // kernel cuts them back into the datagrams A sent.
    let (runs_before, _) = lab.udp_runs(H::H1);
    let (sent, received) = lab.udp_flood(&a, &b, 64, "20M", 2);
    let (runs, datagrams) = lab.udp_runs(H::H1);
    eprintln!("UDP A -> B: {received} of {sent} arrived; {runs} runs carried {datagrams}");
    // Linux 6.2 and later take UDP GSO from a TAP writer; before, switchd does not merge.
    let merging = kernel_at_least(6, 2);
    assert!(
        runs > runs_before || !merging,
        "no UDP run into a TAP\n{}",
        lab.diag()
    );
    lab.assert_flood_arrived("UDP A -> B", sent, received);
    // The same over IPv6.
    for (vm, addr) in [(&a, "fd00:9::1/64"), (&b, "fd00:9::2/64")] {
        ip(&["-n", &vm.ns, "addr", "add", addr, "dev", &vm.tap, "nodad"]);
    }
    let (sent, received) = lab.udp_flood_to(&a, &b, "fd00:9::2", 64, "20M", 2);
    let (runs6, datagrams6) = lab.udp_runs(H::H1);
    eprintln!(
        "IPv6 UDP A -> B: {received} of {sent} arrived; {} runs carried {}",
        runs6 - runs,
        datagrams6 - datagrams
    );
    assert!(
        runs6 > runs || !merging,
        "no IPv6 UDP run into a TAP\n{}",
        lab.diag()
    );
    lab.assert_flood_arrived("IPv6 UDP A -> B", sent, received);

    // Counters gathered by three threads add up: 50 echo requests A->B are read on
    // A's thread and written on B's; the answers the other way.
    let (a_rx, a_tx) = lab.port_counts(H::H1, "br0", &a.tap);
    let (b_rx, b_tx) = lab.port_counts(H::H1, "br0", &b.tap);
    let out = run(
        "ip",
        &[
            "netns", "exec", &a.ns, "ping", "-c", "50", "-i", "0.01", "-W", "1", b.ip,
        ],
        None,
        Duration::from_secs(20),
    );
    assert!(out.ok(), "{}", out.describe());
    let (a_rx2, a_tx2) = lab.port_counts(H::H1, "br0", &a.tap);
    let (b_rx2, b_tx2) = lab.port_counts(H::H1, "br0", &b.tap);
    assert!(a_rx2 - a_rx >= 50, "A rx {a_rx} -> {a_rx2}");
    assert!(b_tx2 - b_tx >= 50, "B tx {b_tx} -> {b_tx2}");
    assert!(b_rx2 - b_rx >= 50, "B rx {b_rx} -> {b_rx2}");
    assert!(a_tx2 - a_tx >= 50, "A tx {a_tx} -> {a_tx2}");
}

#[test]
fn ports_come_and_go_while_other_threads_write_to_them() {
    if !lab_available() {
        return;
    }
    let (mut lab, [a, b, c]) = three_vms("thc", "2");
    lab.wait_ping(&a, b.ip, PING_WITHIN);
    lab.wait_ping(&a, c.ip, PING_WITHIN);
    // A floods C while C's port (a queue per thread) is deleted and added again.
    let mut flood = Command::new("ip")
        .args(["netns", "exec", &a.ns, "ping", "-f", "-W", "1", c.ip])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ping -f");
    for round in 0..8 {
        lab.switch_ok(H::H1, &["del-port", "br0", &c.tap]);
        // Every thread has let go of the device when del-port answers.
        let gone = ip_try(&["-n", &c.ns, "link", "show", "dev", &c.tap]);
        assert!(
            !gone.ok(),
            "round {round}: {} still exists after del-port:\n{}",
            c.tap,
            gone.describe()
        );
        add_vm_port(&mut lab, &c);
    }
    let _ = flood.kill();
    let _ = flood.wait();
    lab.wait_ping(&a, c.ip, PING_WITHIN);
    lab.wait_ping(&c, b.ip, PING_WITHIN);
    lab.tcp_transfer(&b, &c, 20);
    assert_each_queue_read(&lab, [&a, &b, &c], "0,1");
}

/// The agent re-creates a changed port as delete + add of the same name in one
/// batch: the new TAP must be made although poll threads held the old one's fd.
#[test]
fn a_port_deleted_and_added_in_one_batch_works() {
    use switch_proto::{Client, PortSpec, PortType, Request, Response};
    if !lab_available() {
        return;
    }
    let (lab, [a, b, _c]) = three_vms("thb", "2");
    lab.wait_ping(&a, b.ip, PING_WITHIN);
    let switch = Client::new(&lab.host(H::H1).run_dir);
    let mut cfg = PortSpec::new(&b.tap, PortType::Tap);
    cfg.netns = Some(b.ns.clone());
    cfg.mac = Some(b.mac.to_string());
    for round in 0..3 {
        let req = Request::Batch {
            requests: vec![
                Request::DelPort {
                    bridge: "br0".into(),
                    port: b.tap.clone(),
                },
                Request::AddPort {
                    bridge: "br0".into(),
                    port: cfg.clone(),
                },
            ],
        };
        match switch.call(&req) {
            Ok(Response::Batch { results }) => {
                for r in &results {
                    assert!(
                        matches!(r, Response::Done { .. }),
                        "round {round}: {results:?}\n{}",
                        lab.diag()
                    );
                }
            }
            other => panic!("round {round}: {other:?}"),
        }
        lab.wait_vm_nic(&b, Duration::from_secs(5));
        lab.configure_vm_ip(&b);
        lab.wait_ping(&a, b.ip, PING_WITHIN);
    }
}

/// A /proc file (`status`, `stat`) of the thread of `pid` named `comm`.
fn thread_file(pid: u32, comm: &str, file: &str) -> Option<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for task in tasks.flatten() {
        let path = task.path();
        // A thread may end while we look: skip it.
        let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if name.trim() == comm {
            return std::fs::read_to_string(path.join(file)).ok();
        }
    }
    None
}

/// The CPUs a thread of `pid` named `comm` may run on, as /proc writes them.
fn thread_cpus(pid: u32, comm: &str) -> Option<String> {
    let status = thread_file(pid, comm, "status")?;
    status_field(&status, "Cpus_allowed_list").map(str::to_string)
}

#[test]
fn poll_threads_pinned_with_poll_cpus_stay_on_their_cpu() {
    if !lab_available() {
        return;
    }
    // The CPUs this test may use (and so the switchd it starts).
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let cpus = status_field(&status, "Cpus_allowed_list").expect("Cpus_allowed_list");
    let last = cpus.rsplit([',', '-']).next().expect("a CPU").to_string();
    let (lab, [a, b, _c]) = three_vms_with("thp", &["--poll-cpus", &last]);
    let show = lab.switch_ok(H::H1, &["show"]);
    let line =
        format!("poll threads: 1 (poll-0 on CPU {last}), polling 300 us after light traffic");
    assert!(show.lines().any(|l| l == line), "no '{line}' in:\n{show}");
    let pid = lab.switchd_pid(H::H1);
    assert_eq!(thread_cpus(pid, "poll-0").as_deref(), Some(last.as_str()));
    // Only the poll thread is pinned: the control thread may run anywhere.
    assert_eq!(
        thread_cpus(pid, "control").as_deref(),
        Some(cpus),
        "control thread"
    );
    lab.wait_ping(&a, b.ip, PING_WITHIN);
    lab.tcp_transfer(&a, &b, 20);
}

/// How often the thread of `pid` named `comm` has gone to sleep: its voluntary
/// context switches (giving the CPU up with sched_yield is not one).
fn thread_sleeps(pid: u32, comm: &str) -> Option<u64> {
    let status = thread_file(pid, comm, "status")?;
    status_field(&status, "voluntary_ctxt_switches")?
        .parse()
        .ok()
}

/// How often poll-0 of `lab`'s switchd sleeps over `idle` after a ping (no
/// traffic meanwhile).
fn poll_thread_sleeps_while_idle(lab: &TwoHosts, a: &Vm, b: &Vm, idle: Duration) -> u64 {
    lab.wait_ping(a, b.ip, PING_WITHIN);
    let pid = lab.switchd_pid(H::H1);
    let sleeps = || thread_sleeps(pid, "poll-0").expect("poll-0's /proc status");
    let before = sleeps();
    std::thread::sleep(idle);
    sleeps() - before
}

#[test]
fn poll_spin_always_keeps_polling_after_traffic_and_the_default_sleeps() {
    if !lab_available() {
        return;
    }
    let idle = Duration::from_secs(2);
    let (lab, [a, b, _c]) =
        three_vms_with("tsa", &["--poll-threads", "1", "--poll-spin-us", "always"]);
    let show = lab.switch_ok(H::H1, &["show"]);
    let line = "poll threads: 1 (not pinned), polling without end after light traffic";
    assert!(show.lines().any(|l| l == line), "no '{line}' in:\n{show}");
    let polling_sleeps = poll_thread_sleeps_while_idle(&lab, &a, &b, idle);
    // Frames still cross while the thread polls.
    lab.tcp_transfer(&a, &b, 20);
    lab.wait_ping(&b, a.ip, PING_WITHIN);
    drop(lab);
    let (lab, [a, b, _c]) = three_vms_with("tsd", &["--poll-threads", "1"]);
    let default_sleeps = poll_thread_sleeps_while_idle(&lab, &a, &b, idle);
    eprintln!(
        "poll-0 over {idle:?} idle: slept {polling_sleeps} times polling, \
         {default_sleeps} times by default"
    );
    // Polling, the thread never sleeps (it yields, which is no sleep), however
    // little CPU a busy machine leaves it. By default it sleeps 300 us after the
    // ping's last frame, waking every 500 ms to look at the clock.
    assert!(
        polling_sleeps <= 1,
        "poll-0 slept {polling_sleeps} times in {idle:?} with --poll-spin-us always"
    );
    assert!(
        default_sleeps >= 2,
        "poll-0 slept {default_sleeps} times in {idle:?} by default"
    );
}

#[test]
fn bad_poll_cpus_are_refused_before_anything_is_made() {
    let dir = std::env::temp_dir().join(format!("neutrino-pollcpus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (list, says) in [
        ("2-1", "range '2-1' in CPU list '2-1' runs backwards"),
        ("x", "'x' in CPU list 'x' is not a CPU number"),
        (
            "4000",
            "--poll-cpus: CPU 4000 is not one this process may run on",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["switchd", "--run-dir"])
            .arg(&dir)
            .args(["--poll-cpus", list])
            .stdin(Stdio::null())
            .output()
            .expect("run neutrino switchd");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{list}: {err}");
        assert!(err.contains(says), "{list}: {err}");
        assert!(!dir.exists(), "{list}: the run dir was made");
    }
    let out = Command::new(BIN)
        .args(["switchd", "--run-dir"])
        .arg(&dir)
        .args(["--poll-cpus", "0", "--poll-threads", "2"])
        .output()
        .expect("run neutrino switchd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(
        err.trim(),
        "neutrino: --poll-threads 2 does not match --poll-cpus, which names 1 CPU (one poll thread per CPU)"
    );
    assert!(!dir.exists());
}

/// Every VM's TAP has a queue per poll thread (`threads`: "0,1"), read by that thread.
fn assert_each_queue_read(lab: &TwoHosts, vms: [&Vm; 3], threads: &str) {
    let show = lab.switch_ok(H::H1, &["show"]);
    let want = format!("poll threads: {threads} (a TAP queue each)");
    for vm in vms {
        assert_eq!(port_threads(&show, &vm.tap), want, "{show}");
    }
}

/// `ls` or `cat` of /sys/class/net/TAP/`what`, as the VM's namespace sees it.
fn vm_sysfs(vm: &Vm, command: &str, what: &str) -> String {
    let path = format!("/sys/class/net/{}/{what}", vm.tap);
    ip(&["netns", "exec", &vm.ns, command, &path])
}

/// Whether the VM's TAP is a multi-queue device (IFF_MULTI_QUEUE in tun_flags).
fn is_multi_queue(vm: &Vm) -> bool {
    let flags = vm_sysfs(vm, "cat", "tun_flags");
    u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16)
        .map(|f| f & 0x100 != 0)
        .unwrap_or_else(|e| panic!("tun_flags of {}: {flags:?}: {e}", vm.tap))
}

/// The `poll thread(s):` line of each port of `show`, by port name.
fn port_threads(show: &str, port: &str) -> String {
    let port_line = format!("Port {port}");
    show.lines()
        .skip_while(|l| l.trim() != port_line)
        .skip(1)
        .take_while(|l| !l.trim().starts_with("Port "))
        .find_map(|l| {
            let l = l.trim();
            l.starts_with("poll thread").then(|| l.to_string())
        })
        .unwrap_or_default()
}

/// Sends one datagram from each of 64 source ports of `from` to `to` and returns how
/// many distinct flows arrived: the VM's kernel hashes the flows over its TAP's
/// queues, so with two queues read by two threads some go through each.
fn flows_that_arrive(from: &Vm, to: &Vm) -> usize {
    let receiver = Command::new("ip")
        .args(["netns", "exec", &to.ns, "python3", "-c"])
        .arg(
            "import socket,time\n\
             s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
             s.bind(('0.0.0.0',9999)); s.settimeout(0.5)\n\
             seen=set(); end=time.time()+6\n\
             while time.time()<end and len(seen)<64:\n\
             \ttry:\n\
             \t\td,a=s.recvfrom(2048); seen.add(a[1])\n\
             \texcept socket.timeout: pass\n\
             print(len(seen))",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn receiver");
    std::thread::sleep(Duration::from_millis(500));
    let send = format!(
        "import socket\n\
         for p in range(41000,41064):\n\
         \ts=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         \ts.bind(('{}',p)); s.sendto(b'x'*100,('{}',9999)); s.close()",
        from.ip, to.ip
    );
    let r = run(
        "ip",
        &["netns", "exec", &from.ns, "python3", "-c", &send],
        None,
        Duration::from_secs(10),
    );
    assert!(r.ok(), "{}", r.describe());
    let out = receiver.wait_with_output().expect("receiver");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn vm_taps_get_a_queue_per_poll_thread() {
    if !lab_available() {
        return;
    }
    let (mut lab, [a, b, c]) = three_vms("thq", "2");
    assert_each_queue_read(&lab, [&a, &b, &c], "0,1");
    // The VM sees a device with two queues.
    let queues = vm_sysfs(&a, "ls", "queues");
    assert!(
        queues.contains("tx-0") && queues.contains("tx-1"),
        "{}: {queues}",
        a.tap
    );
    assert!(is_multi_queue(&a), "{} is not multi-queue", a.tap);
    lab.wait_ping(&a, b.ip, PING_WITHIN);
    assert_eq!(flows_that_arrive(&a, &b), 64, "\n{}", lab.diag());
    // Both of A's transmit queues carried some of the flows.
    let tc = ip(&[
        "netns", "exec", &a.ns, "tc", "-s", "qdisc", "show", "dev", &a.tap,
    ]);
    let sent: Vec<u64> = tc
        .lines()
        .zip(tc.lines().skip(1))
        .filter(|(q, _)| q.contains("parent :"))
        .filter_map(|(_, stats)| stats.split_whitespace().nth(3)?.parse().ok())
        .collect();
    assert!(
        sent.len() == 2 && sent.iter().all(|&n| n > 0),
        "per-queue packets {sent:?}:\n{tc}"
    );
    lab.tcp_transfer(&a, &b, 20);

    // A restart with three threads opens a third queue of the same devices; with
    // one thread, one queue.
    for (threads, line) in [
        ("3", "poll threads: 0,1,2 (a TAP queue each)"),
        ("1", "poll thread: 0"),
    ] {
        lab.kill_switchd(H::H1);
        lab.start_switchd_with(H::H1, &["--poll-threads", threads]);
        let show = lab.switch_ok(H::H1, &["show"]);
        assert_eq!(port_threads(&show, &a.tap), line, "{show}");
        assert!(is_multi_queue(&a), "{} lost its mode", a.tap);
        lab.wait_ping(&a, b.ip, PING_WITHIN);
        lab.wait_ping(&c, a.ip, PING_WITHIN);
        assert_eq!(flows_that_arrive(&c, &b), 64, "\n{}", lab.diag());
    }
}

#[test]
fn single_queue_taps_stay_single_queue_after_a_restart_with_more_threads() {
    if !lab_available() {
        return;
    }
    let (mut lab, [a, b, c]) = three_vms("ths", "1");
    lab.kill_switchd(H::H1);
    lab.start_switchd_with(H::H1, &["--poll-threads", "2"]);
    // Each single-queue TAP is read by one thread, the least loaded when it came:
    // both threads have ports.
    let show = lab.switch_ok(H::H1, &["show"]);
    let mut threads: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|vm| port_threads(&show, &vm.tap))
        .collect();
    threads.sort_unstable();
    threads.dedup();
    assert_eq!(threads, ["poll thread: 0", "poll thread: 1"], "{show}");
    assert!(!is_multi_queue(&a), "{} became multi-queue", a.tap);
    lab.wait_ping(&a, b.ip, PING_WITHIN);
    lab.wait_ping(&c, a.ip, PING_WITHIN);
    lab.tcp_transfer(&b, &a, 10);
}
