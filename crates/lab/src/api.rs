//! API calls the lab makes, as the admin or a tenant's user. The server listens
//! inside the controller's namespace, so every call runs on a thread that entered
//! that namespace (its sockets live there), on a small runtime of its own.

use crate::state::Tenant;
use crate::{Result, fail};
use client::{Auth, Client};
use serde_json::{Value, json};
use std::future::Future;
use std::time::{Duration, Instant};

/// Where the API is and how to reach it.
#[derive(Debug, Clone)]
pub struct Api {
    pub ns: String,
    /// The identity endpoint, e.g. http://192.168.10.10:9696/v3.
    pub auth_url: String,
    pub admin_password: String,
}

impl Api {
    pub fn admin(&self) -> Auth {
        self.auth("admin", &self.admin_password, "admin")
    }

    pub fn auth(&self, user: &str, password: &str, project: &str) -> Auth {
        Auth {
            auth_url: self.auth_url.clone(),
            username: user.into(),
            password: password.into(),
            project_name: project.into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        }
    }

    pub fn user(&self, t: &Tenant) -> Auth {
        self.auth(&t.user, &t.password, &t.name)
    }

    /// Logs in as `auth` inside the controller namespace and runs `f`.
    pub fn with<T, F, Fut>(&self, auth: Auth, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>>,
    {
        host::in_netns(&self.ns, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| fail!("cannot start a runtime: {e}"))?;
            rt.block_on(async move {
                let c = Client::login(auth).await.map_err(|e| fail!("login: {e}"))?;
                f(c).await
            })
        })
        .map_err(|e| fail!("entering {}: {e}", self.ns))?
    }

    /// Waits until the server answers a login.
    pub fn wait_ready(&self, within: Duration) -> Result<()> {
        let until = Instant::now() + within;
        loop {
            match self.with(self.admin(), |_| async { Ok(()) }) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= until => {
                    return Err(fail!("the server did not come up: {e}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// The agents as `network agent list` shows them.
    pub fn agents(&self) -> Result<Vec<Value>> {
        self.with(self.admin(), |c| async move {
            let v = c.get("/v2.0/agents", &[]).await.map_err(api_err)?;
            Ok(v["agents"].as_array().cloned().unwrap_or_default())
        })
    }

    /// Waits until an alive agent reports for each of `hosts`.
    pub fn wait_agents(&self, hosts: &[String], within: Duration) -> Result<()> {
        let until = Instant::now() + within;
        loop {
            let agents = self.agents().unwrap_or_default();
            let missing: Vec<&String> = hosts
                .iter()
                .filter(|h| {
                    !agents
                        .iter()
                        .any(|a| a["host"] == h.as_str() && a["alive"] == true)
                })
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(fail!("no live agent reported for {missing:?}"));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// A project with a member user, a network and a subnet on `cidr`, the way
    /// the seeds' set-up script makes TenantA (the network by the user), and its
    /// default security group opened to ICMP and TCP from anywhere.
    pub fn create_tenant(&self, name: &str, cidr: &str) -> Result<Tenant> {
        let user = name.replace("Tenant", "User");
        let user = if user == name {
            format!("{name}-user")
        } else {
            user
        };
        let password = "password".to_string();
        let (n, u, p) = (name.to_string(), user.clone(), password.clone());
        let project_id = self.with(self.admin(), move |c| async move {
            let proj = c
                .post(
                    "/v3/projects",
                    &json!({"project": {"name": n, "domain_id": "default"}}),
                )
                .await
                .map_err(api_err)?;
            let pid = str_of(&proj["project"]["id"])?;
            let usr = c
                .post(
                    "/v3/users",
                    &json!({"user": {"name": u, "password": p, "default_project_id": pid,
                                     "domain_id": "default", "email": format!("{u}@lab.invalid")}}),
                )
                .await
                .map_err(api_err)?;
            let uid = str_of(&usr["user"]["id"])?;
            let roles = c
                .get("/v3/roles", &[("name", "member")])
                .await
                .map_err(api_err)?;
            let rid = str_of(&roles["roles"][0]["id"])?;
            c.put(
                &format!("/v3/projects/{pid}/users/{uid}/roles/{rid}"),
                &Value::Null,
            )
            .await
            .map_err(api_err)?;
            Ok(pid)
        })?;
        let (n, cidr) = (name.to_string(), cidr.to_string());
        let auth = self.auth(&user, &password, name);
        let (network_id, subnet_id) = self.with(auth, move |c| async move {
            let net = c
                .post(
                    "/v2.0/networks",
                    &json!({"network": {"name": format!("{n}-Net")}}),
                )
                .await
                .map_err(api_err)?;
            let nid = str_of(&net["network"]["id"])?;
            let sub = c
                .post(
                    "/v2.0/subnets",
                    &json!({"subnet": {"name": format!("{n}-Subnet"), "network_id": nid,
                                       "cidr": cidr, "ip_version": 4}}),
                )
                .await
                .map_err(api_err)?;
            // The seeds' tenants open their default group to ping (v4 and v6)
            // and TCP from anywhere (the floating IP checks and benches come from
            // outside the group); everything else inbound stays closed.
            let groups = c
                .get("/v2.0/security-groups", &[("name", "default")])
                .await
                .map_err(api_err)?;
            let sg = str_of(&groups["security_groups"][0]["id"])?;
            for (eth, proto, anywhere) in [
                ("IPv4", "icmp", "0.0.0.0/0"),
                ("IPv4", "tcp", "0.0.0.0/0"),
                ("IPv6", "ipv6-icmp", "::/0"),
            ] {
                c.post(
                    "/v2.0/security-group-rules",
                    &json!({"security_group_rule": {"security_group_id": sg,
                        "direction": "ingress", "ethertype": eth, "protocol": proto,
                        "remote_ip_prefix": anywhere}}),
                )
                .await
                .map_err(api_err)?;
            }
            Ok((nid, str_of(&sub["subnet"]["id"])?))
        })?;
        Ok(Tenant {
            name: name.into(),
            user,
            password,
            project_id,
            network_id,
            subnet_id,
        })
    }

    /// A VM's port, made as Nova does: the user creates it on the network, the
    /// admin binds it to `host`. Returns the port.
    pub fn create_vm_port(&self, t: &Tenant, vm_ns: &str, host: &str) -> Result<Value> {
        let (net, dev) = (t.network_id.clone(), vm_ns.to_string());
        let port = self.with(self.user(t), move |c| async move {
            let p = c
                .post(
                    "/v2.0/ports",
                    &json!({"port": {"network_id": net, "name": format!("{dev}-port"),
                                     "device_owner": "compute:nova", "device_id": dev}}),
                )
                .await
                .map_err(api_err)?;
            Ok(p["port"].clone())
        })?;
        let id = str_of(&port["id"])?;
        let h = host.to_string();
        self.with(self.admin(), move |c| async move {
            let p = c
                .put(
                    &format!("/v2.0/ports/{id}"),
                    &json!({"port": {"binding:host_id": h}}),
                )
                .await
                .map_err(api_err)?;
            Ok(p["port"].clone())
        })
    }

    pub fn port(&self, id: &str) -> Result<Value> {
        let id = id.to_string();
        self.with(self.admin(), move |c| async move {
            let p = c
                .get(&format!("/v2.0/ports/{id}"), &[])
                .await
                .map_err(api_err)?;
            Ok(p["port"].clone())
        })
    }

    pub fn update_port(&self, id: &str, body: Value) -> Result<Value> {
        let id = id.to_string();
        self.with(self.admin(), move |c| async move {
            let p = c
                .put(&format!("/v2.0/ports/{id}"), &json!({ "port": body }))
                .await
                .map_err(api_err)?;
            Ok(p["port"].clone())
        })
    }

    pub fn delete_port(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.with(self.admin(), move |c| async move {
            c.delete(&format!("/v2.0/ports/{id}"))
                .await
                .map_err(api_err)
        })
    }

    /// Waits until port `id` has `status`.
    pub fn wait_port_status(&self, id: &str, status: &str, within: Duration) -> Result<Value> {
        let until = Instant::now() + within;
        loop {
            let p = self.port(id);
            if let Ok(p) = &p
                && p["status"] == status
            {
                return Ok(p.clone());
            }
            if Instant::now() >= until {
                let now = p
                    .map(|p| p["status"].to_string())
                    .unwrap_or_else(|e| e.to_string());
                return Err(fail!("port {id} did not become {status} (it is {now})"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn api_err(e: client::ClientError) -> crate::LabError {
    fail!("API: {e}")
}

fn str_of(v: &Value) -> Result<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| fail!("the API answer lacks an id"))
}
