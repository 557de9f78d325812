//! Root-only tests of the host plumbing, each inside its own network namespaces.

mod support;

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use host::{
    GreSocket, PacketSocket, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, Tap, UdpTunnelSocket,
    VNET_HDR_LEN, in_netns,
};
use support::{Netns, poll, reopen_tap, require_root, test_frame, wait_link_gone};

fn netns_inode(path: &str) -> u64 {
    std::fs::metadata(path).expect("stat namespace").ino()
}

#[test]
fn in_netns_enters_the_namespace() {
    if !require_root("in_netns_enters_the_namespace") {
        return;
    }
    let ns = Netns::new();
    let outside = netns_inode("/proc/thread-self/ns/net");
    let target = netns_inode(&format!("/run/netns/{}", ns.name));
    assert_ne!(outside, target);
    let inside = in_netns(&ns.name, || netns_inode("/proc/thread-self/ns/net")).unwrap();
    assert_eq!(inside, target);
    assert_eq!(netns_inode("/proc/thread-self/ns/net"), outside);

    assert!(host::netns_exists(&ns.name));
    assert!(!host::netns_exists("nthost-no-such-namespace"));
    assert!(!host::netns_exists("../etc"));
    let err = in_netns("nthost-no-such-namespace", || ()).unwrap_err();
    assert!(
        err.to_string().contains("nthost-no-such-namespace"),
        "{err}"
    );
    let name = ns.name.clone();
    drop(ns);
    assert!(!host::netns_exists(&name));
}

#[test]
fn in_netns_resumes_panics() {
    if !require_root("in_netns_resumes_panics") {
        return;
    }
    let ns = Netns::new();
    let name = ns.name.clone();
    let caught = std::panic::catch_unwind(move || in_netns(&name, || panic!("boom inside")));
    assert!(caught.is_err());
}

#[test]
fn tap_is_created_configured_and_carries_frames() {
    if !require_root("tap_is_created_configured_and_carries_frames") {
        return;
    }
    let ns = Netns::new();
    let (tap, sock) = in_netns(&ns.name, || {
        let tap = Tap::open("nttap0", true).unwrap();
        assert_eq!(tap.name(), "nttap0");
        assert!(host::link_exists("nttap0"));
        assert!(!host::link_exists("nttap1"));
        // Down: nothing is queued yet.
        let mut buf = [0u8; 2048];
        let empty = tap.read(&mut buf).unwrap_err();
        assert_eq!(empty.kind(), std::io::ErrorKind::WouldBlock);
        tap.set_offload(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
            .unwrap();

        let mac = [0x02, 0x4e, 0x54, 0, 0, 0x42];
        host::set_mac("nttap0", mac).unwrap();
        assert_eq!(host::get_mac("nttap0").unwrap(), mac);
        host::set_mtu("nttap0", 1400).unwrap();
        assert_eq!(host::get_mtu("nttap0").unwrap(), 1400);
        host::set_up("nttap0", true).unwrap();
        let sock = PacketSocket::bind("nttap0").unwrap();
        (tap, sock)
    })
    .unwrap();
    assert!(ns.link_flags("nttap0").iter().any(|f| f == "UP"));

    // TAP fd -> kernel: seen by an AF_PACKET socket on the device (vnet header first).
    let frame = test_frame(b"tap->kernel", None);
    let mut with_hdr = vec![0u8; VNET_HDR_LEN];
    with_hdr.extend_from_slice(&frame);
    assert_eq!(tap.write(&with_hdr).unwrap(), with_hdr.len());
    let mut buf = vec![0u8; 65536];
    poll("frame written to the tap", || {
        let n = sock.recv(&mut buf)?;
        Ok((buf[..n] == frame[..]).then_some(()))
    });

    // Kernel -> TAP fd: a frame sent on the device is read from the fd after the vnet header.
    let frame = test_frame(b"kernel->tap", None);
    sock.send(&frame).unwrap();
    poll("frame sent to the tap device", || {
        let n = tap.read(&mut buf)?;
        Ok((n > VNET_HDR_LEN && buf[VNET_HDR_LEN..n] == frame[..]).then_some(()))
    });

    in_netns(&ns.name, || {
        host::set_up("nttap0", false).unwrap();
    })
    .unwrap();
    assert!(!ns.link_flags("nttap0").iter().any(|f| f == "UP"));
    drop(sock);
    drop(tap);
    in_netns(&ns.name, || wait_link_gone("nttap0")).unwrap();
}

#[test]
fn errors_name_the_operation_and_interface() {
    if !require_root("errors_name_the_operation_and_interface") {
        return;
    }
    let ns = Netns::new();
    in_netns(&ns.name, || {
        let err = host::set_mtu("ntnothere", 1500).unwrap_err();
        assert!(
            err.to_string().starts_with("SIOCSIFMTU ntnothere: "),
            "{err}"
        );
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV));
        let err = host::delete_link("ntnothere").unwrap_err();
        assert!(
            err.to_string().starts_with("SIOCGIFINDEX ntnothere: "),
            "{err}"
        );
        let err = Tap::open("much-too-long-name", false).unwrap_err();
        assert!(err.to_string().contains("much-too-long-name"), "{err}");

        // A netlink refusal: the fd is not a namespace.
        let _tap = Tap::open("nttap0", false).unwrap();
        let not_ns = std::fs::File::open("/dev/null").unwrap();
        let err = host::move_to_netns("nttap0", not_ns.as_fd()).unwrap_err();
        assert!(err.to_string().starts_with("RTM_NEWLINK nttap0: "), "{err}");
        assert!(err.raw_os_error().is_some(), "{err}");
        assert!(host::link_exists("nttap0"));
    })
    .unwrap();
}

#[test]
fn persistent_tap_survives_its_fd_and_can_be_reattached() {
    if !require_root("persistent_tap_survives_its_fd_and_can_be_reattached") {
        return;
    }
    let ns = Netns::new();
    in_netns(&ns.name, || {
        let tap = Tap::open("ntpers0", false).unwrap();
        let index = host::ifindex("ntpers0").unwrap();
        tap.set_persist(true).unwrap();
        drop(tap);
        assert_eq!(host::ifindex("ntpers0").unwrap(), index);

        let tap = reopen_tap("ntpers0", true);
        assert_eq!(host::ifindex("ntpers0").unwrap(), index);
        tap.set_persist(false).unwrap();
        drop(tap);
        wait_link_gone("ntpers0");
    })
    .unwrap();
}

#[test]
fn persistent_tap_is_reattached_in_the_namespace_it_was_moved_to() {
    if !require_root("persistent_tap_is_reattached_in_the_namespace_it_was_moved_to") {
        return;
    }
    let a = Netns::new();
    let b = Netns::new();
    let b_name = b.name.clone();
    in_netns(&a.name, move || {
        let tap = Tap::open("ntpm0", true).unwrap();
        tap.set_persist(true).unwrap();
        let b_fd = host::open_netns(&b_name).unwrap();
        host::move_to_netns("ntpm0", b_fd.as_fd()).unwrap();
    })
    .unwrap();
    in_netns(&b.name, || {
        let index = host::ifindex("ntpm0").unwrap();
        let tap = reopen_tap("ntpm0", true);
        assert_eq!(host::ifindex("ntpm0").unwrap(), index);
        tap.set_persist(false).unwrap();
        drop(tap);
        wait_link_gone("ntpm0");
    })
    .unwrap();
    assert!(!in_netns(&a.name, || host::link_exists("ntpm0")).unwrap());
}

#[test]
fn tap_moves_between_namespaces_and_is_deleted() {
    if !require_root("tap_moves_between_namespaces_and_is_deleted") {
        return;
    }
    let a = Netns::new();
    let b = Netns::new();
    let b_name = b.name.clone();
    let tap = in_netns(&a.name, move || {
        let tap = Tap::open("ntmove0", true).unwrap();
        host::set_up("ntmove0", true).unwrap();
        let b_fd = host::open_netns(&b_name).unwrap();
        host::move_to_netns("ntmove0", b_fd.as_fd()).unwrap();
        assert!(!host::link_exists("ntmove0"));
        tap
    })
    .unwrap();

    // The link arrives down in B; the fd opened in A still drives it.
    let sock = in_netns(&b.name, || {
        assert!(host::link_exists("ntmove0"));
        host::set_up("ntmove0", true).unwrap();
        PacketSocket::bind("ntmove0").unwrap()
    })
    .unwrap();
    let frame = test_frame(b"after the move", None);
    let mut with_hdr = vec![0u8; VNET_HDR_LEN];
    with_hdr.extend_from_slice(&frame);
    tap.write(&with_hdr).unwrap();
    let mut buf = vec![0u8; 65536];
    poll("frame from the moved tap", || {
        let n = sock.recv(&mut buf)?;
        Ok((buf[..n] == frame[..]).then_some(()))
    });

    in_netns(&b.name, || {
        host::delete_link("ntmove0").unwrap();
        assert!(!host::link_exists("ntmove0"));
    })
    .unwrap();
    assert!(!in_netns(&a.name, || host::link_exists("ntmove0")).unwrap());
}

#[test]
fn udp_tunnel_sockets_exchange_a_datagram() {
    if !require_root("udp_tunnel_sockets_exchange_a_datagram") {
        return;
    }
    let ns = Netns::new();
    let (a, b) = in_netns(&ns.name, || {
        let a = UdpTunnelSocket::bind(Ipv4Addr::LOCALHOST, 0).unwrap();
        let b = UdpTunnelSocket::bind(Ipv4Addr::LOCALHOST, 4789).unwrap();
        (a, b)
    })
    .unwrap();
    let from = a.local_addr().unwrap();
    let to = b.local_addr().unwrap();
    assert_eq!(to.port(), 4789);
    let mut buf = [0u8; 2048];
    assert_eq!(
        b.recv_from(&mut buf).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    let payload = b"\x08\x00\x00\x00\x00\x00\x64\x00inner frame";
    assert_eq!(a.send_to(payload, to).unwrap(), payload.len());
    let (n, src) = poll("vxlan datagram", || b.recv_from(&mut buf).map(Some));
    assert_eq!(&buf[..n], payload);
    assert_eq!(src, from);
}

/// Two namespaces joined by a veth pair: A has 10.201.0.1/24 on ntva, B 10.201.0.2/24 on ntvb.
fn veth_between(a: &Netns, b: &Netns) {
    a.ip(&[
        "link", "add", "ntva", "type", "veth", "peer", "name", "ntvb", "netns", &b.name,
    ]);
    a.ip(&["addr", "add", "10.201.0.1/24", "dev", "ntva"]);
    b.ip(&["addr", "add", "10.201.0.2/24", "dev", "ntvb"]);
    a.ip(&["link", "set", "ntva", "up"]);
    b.ip(&["link", "set", "ntvb", "up"]);
}

const GRE_A: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
const GRE_B: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);

/// Two namespaces joined by a veth, a GRE socket bound to A's address in A (sends)
/// and one bound to any address in B (receives). The namespaces live as long as the
/// returned guards.
fn gre_pair() -> (Netns, Netns, GreSocket, GreSocket) {
    let a = Netns::new();
    let b = Netns::new();
    veth_between(&a, &b);
    let tx = in_netns(&a.name, || GreSocket::bind(GRE_A).unwrap()).unwrap();
    let rx = in_netns(&b.name, || GreSocket::bind(Ipv4Addr::UNSPECIFIED).unwrap()).unwrap();
    (a, b, tx, rx)
}

#[test]
fn gre_socket_sends_and_receives_with_outer_addresses() {
    if !require_root("gre_socket_sends_and_receives_with_outer_addresses") {
        return;
    }
    let (_a, _b, tx, rx) = gre_pair();
    let (local_a, local_b) = (GRE_A, GRE_B);

    // GRE with key (flags 0x2000, protocol 0x6558 transparent Ethernet bridging, key 100).
    let mut packet = vec![0x20, 0x00, 0x65, 0x58, 0, 0, 0, 100];
    packet.extend_from_slice(&test_frame(b"over gre", None));
    assert_eq!(tx.send_to(&packet, local_b).unwrap(), packet.len());
    let mut buf = vec![0u8; 65536];
    let got = poll("gre packet", || rx.recv_from(&mut buf).map(Some));
    assert_eq!(got.src, local_a);
    assert_eq!(got.dst, local_b);
    assert_eq!(got.start, 20);
    assert_eq!(got.len, packet.len());
    assert_eq!(&buf[got.start..got.start + got.len], &packet[..]);
}

#[test]
fn packet_sockets_carry_frames_over_a_veth_and_keep_vlan_tags() {
    if !require_root("packet_sockets_carry_frames_over_a_veth_and_keep_vlan_tags") {
        return;
    }
    let ns = Netns::new();
    ns.ip(&[
        "link", "add", "ntpa", "type", "veth", "peer", "name", "ntpb",
    ]);
    ns.ip(&["link", "set", "ntpa", "up"]);
    ns.ip(&["link", "set", "ntpb", "up"]);
    let (a, b) = in_netns(&ns.name, || {
        (
            PacketSocket::bind("ntpa").unwrap(),
            PacketSocket::bind("ntpb").unwrap(),
        )
    })
    .unwrap();
    assert_eq!(a.name(), "ntpa");
    assert_eq!(ns.promiscuity("ntpb"), 1);

    let mut buf = vec![0u8; 65536];
    for (marker, vlan) in [
        (&b"untagged"[..], None),
        (&b"tagged vid 100"[..], Some(0x2064)),
        (&b"tagged vid 0"[..], Some(0x0000)),
    ] {
        let frame = test_frame(marker, vlan);
        assert_eq!(a.send(&frame).unwrap(), frame.len());
        let received = poll("frame over the veth", || {
            let n = b.recv(&mut buf)?;
            let ours = buf[..n].windows(marker.len()).any(|w| w == marker);
            Ok(ours.then(|| buf[..n].to_vec()))
        });
        assert_eq!(received, frame, "{}", String::from_utf8_lossy(marker));
    }
    // PACKET_IGNORE_OUTGOING: the sender never reads back its own frames.
    while let Ok(n) = a.recv(&mut buf) {
        assert!(
            !buf[..n].windows(8).any(|w| w == b"untagged"),
            "own frame read back"
        );
    }
    drop((a, b));
    assert_eq!(ns.promiscuity("ntpb"), 0);
}

/// A datagram the kernel refuses in the middle of a batch (broadcast without
/// SO_BROADCAST) is recorded as such; the ones after it still leave.
#[test]
fn send_many_goes_on_past_a_refused_datagram() {
    if !require_root("send_many_goes_on_past_a_refused_datagram") {
        return;
    }
    let ns = Netns::new();
    let (a, b) = in_netns(&ns.name, || {
        (
            UdpTunnelSocket::bind(Ipv4Addr::LOCALHOST, 0).unwrap(),
            UdpTunnelSocket::bind(Ipv4Addr::LOCALHOST, 4789).unwrap(),
        )
    })
    .unwrap();
    let to = b.local_addr().unwrap();
    let refused = std::net::SocketAddrV4::new(Ipv4Addr::BROADCAST, 4789);
    let buf = b"onetwothree";
    let msgs = [(0, 3, to), (3, 3, refused), (6, 5, to), (20, 5, to)];
    let mut outcome = Vec::new();
    a.send_many(buf, &msgs, &mut outcome);
    assert_eq!(outcome.len(), 4, "{outcome:?}");
    assert!(outcome[0].is_ok() && outcome[2].is_ok(), "{outcome:?}");
    assert_eq!(outcome[1], Err(std::io::ErrorKind::PermissionDenied));
    assert_eq!(
        outcome[3],
        Err(std::io::ErrorKind::InvalidInput),
        "outside the buffer"
    );
    let mut got = Vec::new();
    let mut rbuf = [0u8; 64];
    for _ in 0..2 {
        let (n, _) = poll("datagram", || b.recv_from(&mut rbuf).map(Some));
        got.push(rbuf[..n].to_vec());
    }
    assert_eq!(got, vec![b"one".to_vec(), b"three".to_vec()]);
}

#[test]
fn gre_socket_receives_batches_slot_by_slot() {
    if !require_root("gre_socket_receives_batches_slot_by_slot") {
        return;
    }
    let (_a, _b, tx, rx) = gre_pair();
    let (local_a, local_b) = (GRE_A, GRE_B);
    let mut sent = Vec::new();
    for i in 0..3u8 {
        let mut packet = vec![0x20, 0x00, 0x65, 0x58, 0, 0, 0, i];
        packet.extend_from_slice(&test_frame(&vec![i; 100 + usize::from(i)], None));
        tx.send_to(&packet, local_b).unwrap();
        sent.push(packet);
    }
    // One packet bigger than a slot comes back as None (truncated), not garbage.
    let mut big = vec![0x20, 0x00, 0x65, 0x58, 0, 0, 0, 9];
    big.extend_from_slice(&test_frame(&[7; 1200], None));
    tx.send_to(&big, local_b).unwrap();
    let slot = 1024;
    let mut buf = vec![0u8; 8 * slot];
    let mut pkts = Vec::new();
    let mut got: Vec<Option<Vec<u8>>> = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while got.len() < 4 && std::time::Instant::now() < deadline {
        match rx.recv_batch(&mut buf, slot, &mut pkts) {
            Ok(_) => got.extend(pkts.iter().map(|p| {
                p.map(|p| {
                    assert_eq!((p.src, p.dst), (local_a, local_b));
                    buf[p.start..p.start + p.len].to_vec()
                })
            })),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => panic!("recv_batch: {e}"),
        }
    }
    let expected: Vec<Option<Vec<u8>>> = sent.into_iter().map(Some).chain([None]).collect();
    assert_eq!(got, expected);
}
