//! Addresses and routes in a router's namespace over rtnetlink: read what the
//! kernel has, change only what differs. Each call runs on a short-lived thread that
//! entered the namespace (its netlink socket lives there) with a small runtime of
//! its own, as the agent's apply runs outside the async loop.

use futures_util::TryStreamExt;
use ipnet::{IpNet, Ipv4Net};
use netlink_packet_route::address::{AddressAttribute, AddressScope};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader};
use rtnetlink::{Handle, RouteMessageBuilder};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};

/// Runs `f` with a netlink handle opened inside namespace `ns`.
fn in_ns<T, F, Fut>(ns: &str, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, String>>,
{
    let name = ns.to_string();
    host::in_netns(ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| format!("{name}: runtime: {e}"))?;
        rt.block_on(async move {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|e| format!("{name}: netlink: {e}"))?;
            let task = tokio::spawn(conn);
            let r = f(handle).await;
            task.abort();
            r
        })
    })
    .map_err(|e| e.to_string())?
}

async fn link_index(h: &Handle, dev: &str) -> Result<u32, String> {
    let mut links = h.link().get().match_name(dev.to_string()).execute();
    match links.try_next().await {
        Ok(Some(l)) => Ok(l.header.index),
        Ok(None) => Err(format!("no device {dev}")),
        Err(e) => Err(format!("{dev}: {e}")),
    }
}

/// Makes the device's global addresses exactly `want`; returns those it added.
pub fn sync_addresses(ns: &str, dev: &str, want: &[IpNet]) -> Result<Vec<IpAddr>, String> {
    let (dev, want) = (dev.to_string(), want.to_vec());
    in_ns(ns, move |h| async move {
        let idx = link_index(&h, &dev).await?;
        let mut have = Vec::new();
        let mut msgs = h.address().get().set_link_index_filter(idx).execute();
        while let Some(m) = msgs.try_next().await.map_err(|e| format!("{dev}: {e}"))? {
            if m.header.scope != AddressScope::Universe {
                continue;
            }
            let addr = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let addr = addr.or_else(|| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(net) = addr.and_then(|a| IpNet::new(a, m.header.prefix_len).ok()) {
                have.push((net, m));
            }
        }
        let wanted: BTreeSet<IpNet> = want.iter().copied().collect();
        let mut held = BTreeSet::new();
        for (net, m) in have {
            if wanted.contains(&net) {
                held.insert(net);
            } else {
                h.address()
                    .del(m)
                    .execute()
                    .await
                    .map_err(|e| format!("{dev}: delete {net}: {e}"))?;
            }
        }
        let mut added = Vec::new();
        for net in wanted.difference(&held) {
            h.address()
                .add(idx, net.addr(), net.prefix_len())
                .execute()
                .await
                .map_err(|e| format!("{dev}: add {net}: {e}"))?;
            added.push(net.addr());
        }
        Ok(added)
    })
}

/// Makes the namespace's IPv4 routes through a nexthop (main table) exactly `want`.
pub fn sync_routes(ns: &str, want: &BTreeMap<Ipv4Net, Ipv4Addr>) -> Result<(), String> {
    let want = want.clone();
    in_ns(ns, move |h| async move {
        let mut have = Vec::new();
        let mut msgs = h
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute();
        while let Some(m) = msgs.try_next().await.map_err(|e| format!("routes: {e}"))? {
            if m.header.table != RouteHeader::RT_TABLE_MAIN {
                continue;
            }
            let via = m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(*g),
                _ => None,
            });
            let Some(via) = via else { continue };
            let dst = m
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
                    _ => None,
                })
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            if let Ok(net) = Ipv4Net::new(dst, m.header.destination_prefix_length) {
                have.push((net, via, m));
            }
        }
        for (net, via, m) in have {
            if want.get(&net) != Some(&via) {
                h.route()
                    .del(m)
                    .execute()
                    .await
                    .map_err(|e| format!("delete route {net}: {e}"))?;
            }
        }
        for (net, via) in &want {
            let msg = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(net.addr(), net.prefix_len())
                .gateway(*via)
                .build();
            h.route()
                .add(msg)
                .replace()
                .execute()
                .await
                .map_err(|e| format!("route {net} via {via}: {e}"))?;
        }
        Ok(())
    })
}
