//! A port's extra DHCP options (`extra_dhcp_opt`): stored as given, updated by name
//! and IP version (null removes), names checked, another tenant kept out, and the
//! host view carrying them to the port's agent.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

fn opts(p: &Value) -> Vec<(String, String, u64)> {
    let mut v: Vec<(String, String, u64)> = p["extra_dhcp_opts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    (
                        o["opt_name"].as_str().unwrap_or_default().to_string(),
                        o["opt_value"].as_str().unwrap_or_default().to_string(),
                        o["ip_version"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn o(name: &str, value: &str, v: u64) -> (String, String, u64) {
    (name.into(), value.into(), v)
}

#[tokio::test]
async fn extra_dhcp_options() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let other = api.tenant(&admin, "TenantB", "member").await;
        assert!(
            extension_aliases(&api, &user)
                .await
                .contains(&"extra_dhcp_opt".to_string())
        );
        let (net, _) = tenant_net(&api, &user, "net", "10.0.0.0/24").await;
        let p = api
            .create(
                &user,
                "ports",
                "port",
                json!({"network_id": net, "extra_dhcp_opts": [
                    {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
                    {"opt_name": "tftp-server", "opt_value": "123.123.123.123"},
                    {"opt_name": "server-ip-address", "opt_value": "123.123.123.45"},
                    {"opt_name": "dns-server", "opt_value": "2001:db8::53", "ip_version": 6},
                    {"opt_name": "ntp-server", "opt_value": null}]}),
            )
            .await;
        let pid = id(&p);
        let want = vec![
            o("bootfile-name", "pxelinux.0", 4),
            o("dns-server", "2001:db8::53", 6),
            o("server-ip-address", "123.123.123.45", 4),
            o("tftp-server", "123.123.123.123", 4),
        ];
        assert_eq!(opts(&p), want);
        let (_, list) = api.get(&user, "/v2.0/ports").await;
        let listed = list["ports"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"] == p["id"]).cloned())
            .unwrap_or_default();
        assert_eq!(opts(&listed), want);
        // Another port shows an empty list.
        let plain = api
            .create(&user, "ports", "port", json!({"network_id": net}))
            .await;
        assert_eq!(plain["extra_dhcp_opts"], json!([]));

        // Update: a value replaces, null removes, a new name adds, the rest stay.
        let (s, u) = api
            .put(
                &user,
                &format!("/v2.0/ports/{pid}"),
                json!({"port": {"extra_dhcp_opts": [
                    {"opt_name": "bootfile-name", "opt_value": "ipxe.efi"},
                    {"opt_name": "tftp-server", "opt_value": null},
                    {"opt_name": "dns-server", "opt_value": null, "ip_version": 6},
                    {"opt_name": "ntp-server", "opt_value": "10.0.0.1,10.0.0.2"}]}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{u}");
        let want = vec![
            o("bootfile-name", "ipxe.efi", 4),
            o("ntp-server", "10.0.0.1,10.0.0.2", 4),
            o("server-ip-address", "123.123.123.45", 4),
        ];
        assert_eq!(opts(&u["port"]), want);
        assert_eq!(
            opts(&api.get(&user, &format!("/v2.0/ports/{pid}")).await.1["port"]),
            want
        );

        // Refused, and nothing changes.
        for bad in [
            json!([{"opt_name": "no-such-option", "opt_value": "x"}]),
            json!([{"opt_name": "netmask", "opt_value": "255.255.0.0"}]),
            json!([{"opt_name": "bootfile-name", "opt_value": ""}]),
            json!([{"opt_name": "bootfile-name", "opt_value": "x", "ip_version": 5}]),
            json!([{"opt_name": "bootfile-name", "opt_value": "a"},
                   {"opt_name": "bootfile-name", "opt_value": "b"}]),
            json!("bootfile-name=x"),
        ] {
            let (s, e) = api
                .put(
                    &user,
                    &format!("/v2.0/ports/{pid}"),
                    json!({"port": {"extra_dhcp_opts": bad}}),
                )
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
            assert!(
                e["NeutronError"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("extra_dhcp_opts")),
                "{e}"
            );
        }
        let (s, e) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": net, "extra_dhcp_opts": [{"opt_name": "53", "opt_value": "1"}]}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(
            opts(&api.get(&user, &format!("/v2.0/ports/{pid}")).await.1["port"]),
            want
        );
        // Another tenant can neither see nor change them.
        let (s, _) = api
            .put(
                &other,
                &format!("/v2.0/ports/{pid}"),
                json!({"port": {"extra_dhcp_opts": [{"opt_name": "bootfile-name", "opt_value": "evil"}]}}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // The host view of the port's host carries them.
        let (s, _) = api
            .put(
                &admin,
                &format!("/v2.0/ports/{pid}"),
                json!({"port": {"binding:host_id": "compute-01", "device_owner": "compute:nova", "device_id": "vm1"}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, v) = api.get(&admin, "/agent-api/v1/hosts/compute-01/view").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let local = v["ports"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"] == p["id"]).cloned())
            .unwrap_or_default();
        assert_eq!(opts(&local), want);
    }
}
