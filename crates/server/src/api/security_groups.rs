//! `/v2.0/security-groups` and `/v2.0/security-group-rules`. Each project gets a
//! `default` group on first use (listing groups or rules, creating a port), with
//! Neutron's default rules: all egress, and ingress from members of the group.
//! Rules are stored apart and put into their group's body when it is shown.

use super::common::{Attrs, created, one, retry, touch};
use super::resource::{Resource, fetch_writable};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::store::NAMES;
use crate::store::Tx;
use crate::util::{new_id, now};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ipnet::IpNet;
use model::{Port, SecurityGroup, SecurityGroupRule};
use serde_json::Value;

fn new_rule(
    group: &SecurityGroup,
    direction: &str,
    ethertype: &str,
    remote_group: Option<String>,
) -> SecurityGroupRule {
    let ts = now();
    SecurityGroupRule {
        id: new_id(),
        description: String::new(),
        project_id: group.project_id.clone(),
        tenant_id: group.project_id.clone(),
        security_group_id: group.id.clone(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote_group,
        revision_number: 0,
        created_at: ts.clone(),
        updated_at: ts,
    }
}

fn new_group(project: &str, name: &str, description: &str) -> SecurityGroup {
    let ts = now();
    SecurityGroup {
        id: new_id(),
        name: name.into(),
        description: description.into(),
        project_id: project.into(),
        tenant_id: project.into(),
        stateful: true,
        security_group_rules: Vec::new(),
        tags: Vec::new(),
        revision_number: 1,
        created_at: ts.clone(),
        updated_at: ts,
    }
}

/// The id of `project`'s default group, created (with its rules) if missing.
pub async fn ensure_default(tx: &mut Tx, project: &str) -> ApiResult<String> {
    if let Some(id) = tx.owner(&NAMES, ["default_sg"], project).await? {
        return Ok(id);
    }
    let g = new_group(project, "default", "Default security group");
    tx.claim(&NAMES, ["default_sg"], project, &g.id).await?;
    tx.insert(&g).await?;
    for eth in ["IPv4", "IPv6"] {
        tx.insert(&new_rule(&g, "egress", eth, None)).await?;
        tx.insert(&new_rule(&g, "ingress", eth, Some(g.id.clone())))
            .await?;
    }
    tracing::info!(%project, id = %g.id, "default security group created");
    Ok(g.id)
}

/// Makes sure the caller's project has its default group (one write, only the
/// first time).
async fn ensure_default_for(state: &AppState, ctx: &Ctx) -> ApiResult<()> {
    let project = ctx.project_id();
    let exists = state
        .store
        .find_by_name::<SecurityGroup>("default")
        .await?
        .iter()
        .any(|g| g.project_id == project);
    if !exists && ctx.token.can_write() {
        retry!({
            let mut tx = state.store.write().await?;
            ensure_default(&mut tx, project).await?;
            tx.commit().await?;
            Ok(())
        })?;
    }
    Ok(())
}

/// The rules of group `id` among `rules`.
fn rules_of(id: &str, rules: &[SecurityGroupRule]) -> Vec<SecurityGroupRule> {
    rules
        .iter()
        .filter(|r| r.security_group_id == id)
        .cloned()
        .collect()
}

fn with_rules(mut g: SecurityGroup, rules: &[SecurityGroupRule]) -> SecurityGroup {
    g.security_group_rules = rules_of(&g.id, rules);
    g
}

impl Resource for SecurityGroup {
    const MEMBER: &'static str = "security_group";
    const COLLECTION: &'static str = "security_groups";
    const PATH: &'static str = "security-groups";
    const NOT_FOUND: (&'static str, &'static str) = ("SecurityGroupNotFound", "Security group");

    fn revision(&self) -> Option<u64> {
        Some(self.revision_number)
    }

    async fn before_list(state: &AppState, ctx: &Ctx) -> ApiResult<()> {
        ensure_default_for(state, ctx).await
    }

    /// Puts each group's rules (stored apart) into its body.
    async fn render(state: &AppState, groups: &mut [SecurityGroup]) -> ApiResult<()> {
        let rules = match groups {
            [] => return Ok(()),
            [g] => {
                state
                    .store
                    .list_by_parent::<SecurityGroupRule>(&g.id)
                    .await?
            }
            _ => state.store.list::<SecurityGroupRule>().await?,
        };
        for g in groups {
            g.security_group_rules = rules_of(&g.id, &rules);
        }
        Ok(())
    }

    /// Refused for the project's default group (to all but an admin: Neutron's
    /// admin removes it with the project) and for a group a port uses; rules in
    /// the group, or naming it as their remote group, go with it.
    async fn on_delete(tx: &mut Tx, ctx: &Ctx, g: &SecurityGroup) -> ApiResult<()> {
        let id = &g.id;
        let project = g.project_id.as_str();
        let default = tx.owner(&NAMES, ["default_sg"], project).await?.as_ref() == Some(id);
        if default && !ctx.is_admin() {
            return Err(ApiError::conflict(
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            ));
        }
        if default {
            // The project gets a new default group the next time it asks.
            tx.release(&NAMES, ["default_sg"], project).await?;
        }
        if tx
            .list::<Port>()
            .await?
            .iter()
            .any(|p| p.security_groups.contains(id))
        {
            return Err(ApiError::conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        for r in tx.list::<SecurityGroupRule>().await? {
            if r.security_group_id == *id || r.remote_group_id.as_ref() == Some(id) {
                tx.delete::<SecurityGroupRule>(&r.id).await?;
            }
        }
        Ok(())
    }
}

impl Resource for SecurityGroupRule {
    const MEMBER: &'static str = "security_group_rule";
    const COLLECTION: &'static str = "security_group_rules";
    const PATH: &'static str = "security-group-rules";
    const NOT_FOUND: (&'static str, &'static str) =
        ("SecurityGroupRuleNotFound", "Security group rule");

    /// Rules are not updated, and a delete does not check `If-Match`.
    fn revision(&self) -> Option<u64> {
        None
    }

    async fn before_list(state: &AppState, ctx: &Ctx) -> ApiResult<()> {
        ensure_default_for(state, ctx).await
    }

    /// Its group's revision moves on.
    async fn on_delete(tx: &mut Tx, _ctx: &Ctx, r: &SecurityGroupRule) -> ApiResult<()> {
        if let Some(mut g) = tx.get::<SecurityGroup>(&r.security_group_id).await? {
            touch(&mut g.revision_number, &mut g.updated_at);
            tx.update(&g).await?;
        }
        Ok(())
    }
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_writer("create_security_group")?;
    let a = Attrs::from_body(&body, "security_group")?;
    let project = a.project(&ctx, "create_security_group")?;
    let name = a.str("name")?.unwrap_or_default();
    if name == "default" {
        return Err(ApiError::conflict(
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    let mut g = new_group(&project, &name, &a.str("description")?.unwrap_or_default());
    g.stateful = a.bool("stateful")?.unwrap_or(true);
    let mut tx = state.store.write().await?;
    ensure_default(&mut tx, &project).await?;
    super::quotas::check(&mut tx, &project, "security_group", 1).await?;
    // (and its two default egress rules)
    super::quotas::check(&mut tx, &project, "security_group_rule", 2).await?;
    tx.insert(&g).await?;
    let mut rules = Vec::new();
    for eth in ["IPv4", "IPv6"] {
        let r = new_rule(&g, "egress", eth, None);
        tx.insert(&r).await?;
        rules.push(r);
    }
    tx.commit().await?;
    Ok(created("security_group", &with_rules(g, &rules)))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("update_security_group")?;
    let a = Attrs::from_body(&body, "security_group")?;
    let mut tx = state.store.write().await?;
    let mut g: SecurityGroup =
        fetch_writable(&mut tx, &ctx, &headers, &id, "update_security_group").await?;
    if let Some(n) = a.str("name")? {
        if g.name == "default" && n != "default" {
            return Err(ApiError::conflict(
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
        if g.name != "default" && n == "default" {
            // A project has one default group, made by the server.
            return Err(ApiError::conflict(
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        g.name = n;
    }
    if let Some(d) = a.str("description")? {
        g.description = d;
    }
    if let Some(s) = a.bool("stateful")?
        && s != g.stateful
    {
        // Ports would hold both kinds, or change kind under their connections.
        let ports = tx.list::<model::Port>().await?;
        if ports.iter().any(|p| p.security_groups.contains(&id)) {
            return Err(ApiError::conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        g.stateful = s;
    }
    touch(&mut g.revision_number, &mut g.updated_at);
    tx.update(&g).await?;
    let rules = tx.list_by_parent::<SecurityGroupRule>(&id).await?;
    tx.commit().await?;
    Ok(one("security_group", &with_rules(g, &rules)))
}

/// Protocol names Neutron accepts, and numbers 0-255; `any` means all.
fn parse_protocol(p: Option<String>) -> ApiResult<Option<String>> {
    const NAMES: [&str; 17] = [
        "ah",
        "dccp",
        "egp",
        "esp",
        "gre",
        "icmp",
        "icmpv6",
        "igmp",
        "ipv6-encap",
        "ipv6-frag",
        "ipv6-icmp",
        "ipv6-nonxt",
        "ipv6-opts",
        "ipv6-route",
        "ospf",
        "pgm",
        "rsvp",
    ];
    const MORE: [&str; 5] = ["sctp", "tcp", "udp", "udplite", "vrrp"];
    match p {
        None => Ok(None),
        Some(p) if p.eq_ignore_ascii_case("any") => Ok(None),
        Some(p) => {
            let l = p.to_ascii_lowercase();
            if NAMES.contains(&l.as_str()) || MORE.contains(&l.as_str()) {
                return Ok(Some(l));
            }
            match l.parse::<u32>() {
                Ok(n) if n <= 255 => Ok(Some(l)),
                _ => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "SecurityGroupRuleInvalidProtocol",
                    format!("Security group rule protocol {p} not supported."),
                )),
            }
        }
    }
}

/// A port range end as Neutron reads it: a number or a numeric string, any sign
/// (the range checks say what is wrong with it).
fn port_value(a: &Attrs, key: &str) -> ApiResult<Option<i64>> {
    match a.raw(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid input for {key}. Reason: '{n}' is not an integer."
            ))
        }),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
            ApiError::invalid(format!(
                "Invalid input for {key}. Reason: '{s}' is not an integer."
            ))
        }),
        Some(v) => Err(ApiError::invalid(format!(
            "Invalid input for {key}. Reason: '{v}' is not an integer."
        ))),
    }
}

pub async fn create_rule(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_writer("create_security_group_rule")?;
    let a = Attrs::from_body(&body, "security_group_rule")?;
    let group_id = a.str("security_group_id")?.ok_or_else(|| {
        ApiError::invalid("Invalid input for operation: security_group_id is required.")
    })?;
    let direction = a.str("direction")?.unwrap_or_default();
    if direction != "ingress" && direction != "egress" {
        return Err(ApiError::invalid(format!(
            "Invalid input for direction. Reason: '{direction}' is not in ['ingress', 'egress']."
        )));
    }
    let ethertype = a.str("ethertype")?.unwrap_or_else(|| "IPv4".into());
    let ethertype = match ethertype.to_ascii_lowercase().as_str() {
        "ipv4" => "IPv4",
        "ipv6" => "IPv6",
        _ => {
            return Err(ApiError::invalid(format!(
                "Invalid input for ethertype. Reason: '{ethertype}' is not in ['IPv4', 'IPv6']."
            )));
        }
    };
    // A protocol may come as a name, a number or a numeric string.
    let protocol = match a.raw("protocol") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => a.str("protocol")?,
    };
    let protocol = parse_protocol(protocol)?;
    let (min, max) = (
        port_value(&a, "port_range_min")?,
        port_value(&a, "port_range_max")?,
    );
    match protocol.as_deref() {
        Some("tcp" | "udp" | "sctp" | "dccp" | "udplite" | "6" | "17" | "132" | "33" | "136") => {
            for p in [min, max].into_iter().flatten() {
                if !(0..=65535).contains(&p) {
                    return Err(ApiError::invalid(format!("Invalid value for port {p}")));
                }
            }
            match (min, max) {
                (Some(lo), Some(hi)) if lo > hi => {
                    return Err(ApiError::invalid(
                        "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                    ));
                }
                (None, Some(_)) => {
                    return Err(ApiError::invalid(
                        "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                    ));
                }
                _ => {}
            }
        }
        Some("icmp" | "icmpv6" | "ipv6-icmp" | "1" | "58") => {
            for (field, attr, v) in [
                ("type", "port-range-min", min),
                ("code", "port-range-max", max),
            ] {
                if let Some(v) = v
                    && !(0..=255).contains(&v)
                {
                    return Err(ApiError::invalid(format!(
                        "Invalid value for ICMP {field} ({attr}): {v}. It must be 0 to 255."
                    )));
                }
            }
            if let (None, Some(code)) = (min, max) {
                return Err(ApiError::invalid(format!(
                    "ICMP code (port-range-max) {code} is provided but ICMP type (port-range-min) is missing."
                )));
            }
        }
        _ if min.is_some() || max.is_some() => {
            return Err(ApiError::invalid(
                "Invalid input for operation: port_range_min and port_range_max need a protocol with ports.",
            ));
        }
        _ => {}
    }
    let (min, max) = (
        min.and_then(|v| u32::try_from(v).ok()),
        max.and_then(|v| u32::try_from(v).ok()),
    );
    let remote_ip = match a.str("remote_ip_prefix")? {
        Some(p) => {
            let net: IpNet = p
                .parse()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ApiError::invalid(format!("Invalid input for remote_ip_prefix. Reason: '{p}' is not a valid IP prefix.")))?;
            if net.addr().is_ipv6() != (ethertype == "IPv6") {
                return Err(ApiError::invalid(format!(
                    "Invalid input for operation: Conflicting value ethertype {ethertype} for CIDR {p}."
                )));
            }
            Some(net.trunc().to_string())
        }
        None => None,
    };
    let remote_group = a.str("remote_group_id")?;
    if remote_ip.is_some() && remote_group.is_some() {
        return Err(ApiError::invalid(
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ));
    }
    let mut tx = state.store.write().await?;
    let mut g = tx
        .get::<SecurityGroup>(&group_id)
        .await?
        .filter(|g| ctx.owns(&g.project_id))
        .ok_or_else(|| SecurityGroup::not_found(&group_id))?;
    super::quotas::check(&mut tx, &g.project_id, "security_group_rule", 1).await?;
    if let Some(rg) = &remote_group
        && tx
            .get::<SecurityGroup>(rg)
            .await?
            .filter(|x| ctx.owns(&x.project_id))
            .is_none()
    {
        return Err(SecurityGroup::not_found(rg));
    }
    let mut r = new_rule(&g, &direction, ethertype, remote_group);
    r.protocol = protocol;
    r.port_range_min = min;
    r.port_range_max = max;
    r.remote_ip_prefix = remote_ip;
    r.description = a.str("description")?.unwrap_or_default();
    // 0.0.0.0/0 and ::/0 mean the same as no prefix.
    let norm = |p: &Option<String>| p.clone().filter(|x| x != "0.0.0.0/0" && x != "::/0");
    for other in tx.list_by_parent::<SecurityGroupRule>(&group_id).await? {
        if other.direction == r.direction
            && other.ethertype == r.ethertype
            && other.protocol == r.protocol
            && other.port_range_min == r.port_range_min
            && other.port_range_max == r.port_range_max
            && norm(&other.remote_ip_prefix) == norm(&r.remote_ip_prefix)
            && other.remote_group_id == r.remote_group_id
        {
            return Err(ApiError::conflict(
                "SecurityGroupRuleExists",
                format!(
                    "Security group rule already exists. Rule id is {}.",
                    other.id
                ),
            ));
        }
    }
    tx.insert(&r).await?;
    touch(&mut g.revision_number, &mut g.updated_at);
    tx.update(&g).await?;
    tx.commit().await?;
    Ok(created("security_group_rule", &r))
}
