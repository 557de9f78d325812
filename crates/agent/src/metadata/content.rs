//! What the metadata service answers when no Nova is configured, from what
//! neutrino knows of the port: the EC2-style tree (`/latest/meta-data/...`) and
//! OpenStack's `meta_data.json` and `network_data.json`. Pure: a path and an
//! instance in, a document (or nothing: 404) out.

use super::instances::Instance;
use ipnet::IpNet;
use serde_json::{Value, json};
use std::net::IpAddr;

/// The versions listed at `/` (EC2) and `/openstack/`; each serves the same
/// documents.
const EC2_VERSIONS: [&str; 2] = ["2009-04-04", "latest"];
const OPENSTACK_VERSIONS: [&str; 2] = ["2015-10-15", "latest"];

/// A document: its content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub content_type: &'static str,
    pub body: String,
}

fn text(body: String) -> Option<Document> {
    Some(Document {
        content_type: "text/plain; charset=UTF-8",
        body,
    })
}

fn json_doc(v: Value) -> Option<Document> {
    Some(Document {
        content_type: "application/json",
        body: v.to_string(),
    })
}

/// The answer to `path` (without query) for `i`, or `None` (404).
pub fn answer(path: &str, i: &Instance) -> Option<Document> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [] => text(EC2_VERSIONS.join("\n")),
        ["openstack"] => text(OPENSTACK_VERSIONS.join("\n")),
        ["openstack", v] if OPENSTACK_VERSIONS.contains(v) => {
            text("meta_data.json\nnetwork_data.json".into())
        }
        ["openstack", v, "meta_data.json"] if OPENSTACK_VERSIONS.contains(v) => {
            json_doc(meta_data(i))
        }
        ["openstack", v, "network_data.json"] if OPENSTACK_VERSIONS.contains(v) => {
            json_doc(network_data(i))
        }
        [v] if EC2_VERSIONS.contains(v) => text("meta-data/".into()),
        [v, "meta-data"] if EC2_VERSIONS.contains(v) => text(ec2_keys(i).join("\n")),
        [v, "meta-data", key] if EC2_VERSIONS.contains(v) => ec2_value(i, key).and_then(text),
        _ => None,
    }
}

fn ec2_keys(i: &Instance) -> Vec<&'static str> {
    let mut keys = vec!["hostname", "instance-id", "local-hostname"];
    if first_v4(i).is_some() {
        keys.push("local-ipv4");
    }
    keys.push("mac");
    if !i.floating_ips.is_empty() {
        keys.push("public-ipv4");
    }
    keys
}

fn ec2_value(i: &Instance, key: &str) -> Option<String> {
    match key {
        "hostname" | "local-hostname" => Some(hostname(i)),
        "instance-id" => Some(i.device_id.clone()),
        "local-ipv4" => first_v4(i).map(|a| a.to_string()),
        "mac" => Some(i.mac.clone()),
        "public-ipv4" => i.floating_ips.first().cloned(),
        _ => None,
    }
}

fn first_v4(i: &Instance) -> Option<IpAddr> {
    i.addresses.iter().map(|(a, _)| *a).find(IpAddr::is_ipv4)
}

/// The port's name when it is a usable host name, else `host-` and its first
/// address with dashes (Neutron's DNS name for a port without one).
pub fn hostname(i: &Instance) -> String {
    let n = i.name.to_ascii_lowercase();
    let ok = !n.is_empty()
        && n.len() <= 63
        && !n.starts_with('-')
        && !n.ends_with('-')
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        return n;
    }
    match i.addresses.first() {
        Some((a, _)) => format!("host-{}", a.to_string().replace(['.', ':'], "-")),
        None => format!("host-{}", i.port_id),
    }
}

fn meta_data(i: &Instance) -> Value {
    let h = hostname(i);
    json!({
        "uuid": i.device_id,
        "name": h,
        "hostname": h,
        "launch_index": 0,
        "project_id": i.project_id,
        "public_keys": {},
        "meta": {},
        "devices": [],
    })
}

/// OpenStack's network_data.json: one link (the port), a network per fixed IP
/// (`ipv4_dhcp` where the subnet serves DHCP, else static with its routes), the
/// DNS servers as services.
fn network_data(i: &Instance) -> Value {
    let link = crate::names::tap(&i.port_id);
    let mut networks = Vec::new();
    let mut dns: Vec<String> = Vec::new();
    for (n, (ip, s)) in i.addresses.iter().enumerate() {
        for d in &s.dns_nameservers {
            if !dns.contains(d) {
                dns.push(d.clone());
            }
        }
        let id = format!("network{n}");
        let services: Vec<Value> = s
            .dns_nameservers
            .iter()
            .map(|d| json!({"type": "dns", "address": d}))
            .collect();
        if ip.is_ipv4() && s.enable_dhcp {
            networks.push(json!({
                "id": id, "type": "ipv4_dhcp", "link": link, "network_id": i.network_id,
            }));
            continue;
        }
        let cidr: Option<IpNet> = s.cidr.parse().ok();
        let netmask = cidr.map(|c| c.netmask().to_string());
        let mut routes = Vec::new();
        let any = if ip.is_ipv4() { "0.0.0.0" } else { "::" };
        if let Some(gw) = &s.gateway_ip {
            routes.push(json!({"network": any, "netmask": any, "gateway": gw}));
        }
        for r in &s.host_routes {
            if let Ok(d) = r.destination.parse::<IpNet>() {
                routes.push(json!({
                    "network": d.network().to_string(),
                    "netmask": d.netmask().to_string(),
                    "gateway": r.nexthop,
                }));
            }
        }
        networks.push(json!({
            "id": id,
            "type": if ip.is_ipv4() { "ipv4" } else { "ipv6" },
            "link": link,
            "ip_address": ip.to_string(),
            "netmask": netmask,
            "routes": routes,
            "network_id": i.network_id,
            "services": services,
        }));
    }
    json!({
        "links": [{
            "id": link,
            "vif_id": i.port_id,
            "type": "ovs",
            "mtu": i.mtu,
            "ethernet_mac_address": i.mac,
        }],
        "networks": networks,
        "services": dns.iter().map(|d| json!({"type": "dns", "address": d})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::SubnetView;

    fn inst() -> Instance {
        let s = SubnetView {
            id: "s1".into(),
            cidr: "10.0.0.0/24".into(),
            ip_version: 4,
            gateway_ip: Some("10.0.0.1".into()),
            enable_dhcp: true,
            dns_nameservers: vec!["10.0.0.53".into()],
            host_routes: vec![],
            dhcp_server_ip: Some("10.0.0.2".into()),
            address_scope_id: None,
        };
        Instance {
            port_id: "3f1c9a2e-5b4d-4e61-9c2a-1b2c3d4e5f60".into(),
            device_id: "vm-1234".into(),
            project_id: "proj".into(),
            name: "Web_1".into(),
            mac: "fa:16:3e:00:00:01".into(),
            network_id: "net".into(),
            mtu: 1450,
            addresses: vec![("10.0.0.5".parse().unwrap(), s.clone())],
            link_local: None,
            floating_ips: vec!["172.24.4.10".into()],
            subnets: vec![s],
        }
    }

    fn body(path: &str, i: &Instance) -> String {
        answer(path, i).map(|d| d.body).unwrap_or_default()
    }

    #[test]
    fn ec2_tree() {
        let i = inst();
        assert_eq!(body("/", &i), "2009-04-04\nlatest");
        assert_eq!(body("/latest/", &i), "meta-data/");
        assert_eq!(
            body("/latest/meta-data/", &i),
            "hostname\ninstance-id\nlocal-hostname\nlocal-ipv4\nmac\npublic-ipv4"
        );
        assert_eq!(body("/latest/meta-data/instance-id", &i), "vm-1234");
        assert_eq!(body("/2009-04-04/meta-data/local-ipv4", &i), "10.0.0.5");
        assert_eq!(body("/latest/meta-data/public-ipv4", &i), "172.24.4.10");
        assert_eq!(body("/latest/meta-data/mac", &i), "fa:16:3e:00:00:01");
        // Not a host name (underscore): Neutron's default name.
        assert_eq!(body("/latest/meta-data/hostname", &i), "host-10-0-0-5");
        for missing in [
            "/latest/user-data",
            "/latest/meta-data/ami-id",
            "/1.0/meta-data/",
            "/x",
            "/openstack/2012-08-10/meta_data.json",
        ] {
            assert_eq!(answer(missing, &i), None, "{missing}");
        }
        let mut no_fip = inst();
        no_fip.floating_ips.clear();
        no_fip.name = "web-1".into();
        assert!(!body("/latest/meta-data/", &no_fip).contains("public-ipv4"));
        assert_eq!(answer("/latest/meta-data/public-ipv4", &no_fip), None);
        assert_eq!(body("/latest/meta-data/hostname", &no_fip), "web-1");
    }

    #[test]
    fn openstack_documents() {
        let i = inst();
        assert_eq!(body("/openstack", &i), "2015-10-15\nlatest");
        assert_eq!(
            body("/openstack/latest/", &i),
            "meta_data.json\nnetwork_data.json"
        );
        let md: Value =
            serde_json::from_str(&body("/openstack/latest/meta_data.json", &i)).unwrap();
        assert_eq!(md["uuid"], "vm-1234");
        assert_eq!(md["project_id"], "proj");
        let nd: Value =
            serde_json::from_str(&body("/openstack/2015-10-15/network_data.json", &i)).unwrap();
        assert_eq!(nd["links"][0]["id"], "tap3f1c9a2e-5b");
        assert_eq!(nd["links"][0]["ethernet_mac_address"], "fa:16:3e:00:00:01");
        assert_eq!(nd["links"][0]["mtu"], 1450);
        assert_eq!(nd["networks"][0]["type"], "ipv4_dhcp");
        assert_eq!(nd["services"][0]["address"], "10.0.0.53");
        // A static subnet: address, mask, default route.
        let mut st = inst();
        st.addresses[0].1.enable_dhcp = false;
        let nd: Value =
            serde_json::from_str(&body("/openstack/latest/network_data.json", &st)).unwrap();
        let n = &nd["networks"][0];
        assert_eq!(n["type"], "ipv4");
        assert_eq!(n["ip_address"], "10.0.0.5");
        assert_eq!(n["netmask"], "255.255.255.0");
        assert_eq!(n["routes"][0]["gateway"], "10.0.0.1");
    }
}
