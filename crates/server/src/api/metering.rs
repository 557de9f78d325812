//! `/v2.0/metering/metering-labels` and `/v2.0/metering/metering-label-rules`
//! (Neutron's `metering` and `metering_source_and_destination_fields`
//! extensions). As Neutron's policy has it, only the admin creates and deletes
//! labels and rules; a project reads its own labels; rules, which carry no
//! project, are the admin's alone. Neither is updated: a PUT is refused with 405 (Neutron answers 501, a server
//! error, for what is a method the resource does not take). A
//! label's rules go with it. Where Neutron answers a rule with conflicting or
//! missing prefixes with a 500, this answers 400 with Neutron's message.

use super::common::{Attrs, created};
use super::resource::Resource;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::store::Tx;
use crate::util::new_id;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use ipnet::IpNet;
use model::{MeteringLabel, MeteringLabelRule};
use serde_json::Value;

impl Resource for MeteringLabel {
    const MEMBER: &'static str = "metering_label";
    const COLLECTION: &'static str = "metering_labels";
    const PATH: &'static str = "metering/metering-labels";
    const NOT_FOUND: (&'static str, &'static str) = ("MeteringLabelNotFound", "Metering label");

    fn not_found(id: &str) -> ApiError {
        ApiError::not_found_msg(
            "MeteringLabelNotFound",
            format!("Metering label '{id}' does not exist."),
        )
    }

    fn revision(&self) -> Option<u64> {
        None
    }

    fn may_write(ctx: &Ctx, action: &str) -> ApiResult<()> {
        ctx.require_writer(action)?;
        ctx.require_admin(action)
    }

    async fn on_delete(tx: &mut Tx, _ctx: &Ctx, l: &MeteringLabel) -> ApiResult<()> {
        for r in tx.list_by_parent::<MeteringLabelRule>(&l.id).await? {
            tx.delete::<MeteringLabelRule>(&r.id).await?;
        }
        Ok(())
    }
}

impl Resource for MeteringLabelRule {
    const MEMBER: &'static str = "metering_label_rule";
    const COLLECTION: &'static str = "metering_label_rules";
    const PATH: &'static str = "metering/metering-label-rules";
    const NOT_FOUND: (&'static str, &'static str) =
        ("MeteringLabelRuleNotFound", "Metering label rule");

    fn not_found(id: &str) -> ApiError {
        ApiError::not_found_msg(
            "MeteringLabelRuleNotFound",
            format!("Metering label rule '{id}' does not exist."),
        )
    }

    fn revision(&self) -> Option<u64> {
        None
    }

    fn may_write(ctx: &Ctx, action: &str) -> ApiResult<()> {
        ctx.require_writer(action)?;
        ctx.require_admin(action)
    }

    fn visible(ctx: &Ctx, _item: &Self) -> bool {
        ctx.is_admin()
    }

    fn writable(ctx: &Ctx, item: &Self, _action: &str) -> ApiResult<()> {
        if ctx.is_admin() {
            Ok(())
        } else {
            Err(Self::not_found(&item.id))
        }
    }

    async fn on_delete(_tx: &mut Tx, _ctx: &Ctx, _r: &MeteringLabelRule) -> ApiResult<()> {
        Ok(())
    }
}

/// `POST /v2.0/metering/metering-labels`.
pub async fn create_label(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    MeteringLabel::may_write(&ctx, "create_metering_label")?;
    let a = Attrs::from_body(&body, "metering_label")?;
    let project = a.project(&ctx, "create_metering_label")?;
    let description = a.str("description")?.unwrap_or_default();
    if description.chars().count() > 1024 {
        return Err(ApiError::invalid(
            "Invalid input for description. Reason: it exceeds maximum length of 1024.",
        ));
    }
    let l = MeteringLabel {
        id: new_id(),
        name: a.str("name")?.unwrap_or_default(),
        description,
        project_id: project.clone(),
        tenant_id: project,
        shared: a.bool("shared")?.unwrap_or(false),
    };
    let mut tx = state.store.write().await?;
    tx.insert(&l).await?;
    tx.commit().await?;
    tracing::info!(id = %l.id, shared = l.shared, "metering label created");
    Ok(created("metering_label", &l))
}

/// A prefix as Neutron's plugin takes it (`ip_interface`: host bits allowed),
/// kept as the network it names.
fn prefix(a: &Attrs, key: &str) -> ApiResult<Option<String>> {
    let Some(p) = a.str(key)? else {
        return Ok(None);
    };
    let net: IpNet = p
        .parse()
        .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| ApiError::invalid(format!("{key}: {p} is invalid [not an IP prefix].")))?;
    Ok(Some(net.trunc().to_string()))
}

fn overlaps(a: &str, b: &str) -> bool {
    match (a.parse::<IpNet>(), b.parse::<IpNet>()) {
        (Ok(x), Ok(y)) => x.contains(&y.network()) || y.contains(&x.network()),
        _ => false,
    }
}

/// `POST /v2.0/metering/metering-label-rules`.
pub async fn create_rule(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    MeteringLabelRule::may_write(&ctx, "create_metering_label_rule")?;
    let a = Attrs::from_body(&body, "metering_label_rule")?;
    let required = |k: &str| {
        ApiError::bad_request(format!(
            "Failed to parse request. Required attribute '{k}' not specified"
        ))
    };
    let label_id = a
        .str("metering_label_id")?
        .ok_or_else(|| required("metering_label_id"))?;
    let direction = a.str("direction")?.ok_or_else(|| required("direction"))?;
    if direction != "ingress" && direction != "egress" {
        return Err(ApiError::invalid(format!(
            "Invalid input for direction. Reason: {direction} is not in valid_values."
        )));
    }
    let excluded = a.bool("excluded")?.unwrap_or(false);
    let remote = prefix(&a, "remote_ip_prefix")?;
    let source = prefix(&a, "source_ip_prefix")?;
    let destination = prefix(&a, "destination_ip_prefix")?;
    if remote.is_some() && (source.is_some() || destination.is_some()) {
        return Err(ApiError::invalid(
            "Cannot use 'remote-ip-prefix' in conjunction with 'source-ip-prefix' or 'destination-ip-prefix'.",
        ));
    }
    if remote.is_none() && source.is_none() && destination.is_none() {
        return Err(ApiError::invalid(
            "You must define at least one of the following parameters 'remote_ip_prefix', or 'source_ip_prefix' or 'destination_ip_prefix'.",
        ));
    }
    let mut tx = state.store.write().await?;
    if tx.get::<MeteringLabel>(&label_id).await?.is_none() {
        return Err(MeteringLabel::not_found(&label_id));
    }
    if let Some(mine) = &remote {
        for other in tx.list_by_parent::<MeteringLabelRule>(&label_id).await? {
            if other.direction == direction
                && other.excluded == excluded
                && other
                    .remote_ip_prefix
                    .as_deref()
                    .is_some_and(|o| overlaps(o, mine))
            {
                return Err(ApiError::conflict(
                    "MeteringLabelRuleOverlaps",
                    format!("Metering label rule with remote_ip_prefix '{mine}' overlaps another."),
                ));
            }
        }
    }
    let r = MeteringLabelRule {
        id: new_id(),
        metering_label_id: label_id,
        direction,
        excluded,
        remote_ip_prefix: remote,
        source_ip_prefix: source,
        destination_ip_prefix: destination,
    };
    tx.insert(&r).await?;
    tx.commit().await?;
    Ok(created("metering_label_rule", &r))
}
