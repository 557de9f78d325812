//! Per-host views kept up to date from the store's change log, so a commit wakes
//! only the hosts whose view it changes.
//!
//! The server holds in memory the resources host views are made of (ports,
//! networks, subnets, routers, groups, agents, ...). After a commit it reads only
//! what changed (`changes` since its revision, then those documents), works out
//! from the old and new documents which hosts they can concern (the port's host
//! and the hosts on its network, the hosts using a security group, the network
//! nodes for routers, ...), rebuilds the view of those hosts alone, and wakes a
//! host's long polls only when its view's digest moved. One refresh serves every
//! waiting poll; nothing is re-read per poll.

use super::view::{Snapshot, host_view};
use crate::RouterBinding;
use crate::error::StoreError;
use crate::l3::L3_AGENT_TYPE;
use crate::store::{Doc, Store};
use model::{
    Agent, FloatingIp, HostView, MeteringLabel, MeteringLabelRule, Network, Port, RbacPolicy,
    Router, SecurityGroup, SecurityGroupRule, Subnet, SubnetPool,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A host's view as last built: the revision of the last change to it.
#[derive(Debug)]
pub struct Built {
    pub rev: i64,
    digest: u64,
    pub view: Arc<HostView>,
}

/// One host's view and its long polls.
pub struct Slot {
    tx: watch::Sender<Option<Arc<Built>>>,
    /// How many times the view moved (polls woken), for tests and the bench.
    pub wakes: AtomicU64,
}

impl Slot {
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Built>>> {
        self.tx.subscribe()
    }
}

/// Every document kind a host view is made of.
#[derive(Default)]
struct Data {
    agents: Vec<Agent>,
    networks: Vec<Network>,
    subnets: Vec<Subnet>,
    ports: Vec<Port>,
    routers: Vec<Router>,
    floating_ips: Vec<FloatingIp>,
    bindings: Vec<RouterBinding>,
    security_groups: Vec<SecurityGroup>,
    security_group_rules: Vec<SecurityGroupRule>,
    metering_labels: Vec<MeteringLabel>,
    metering_rules: Vec<MeteringLabelRule>,
    subnet_pools: Vec<SubnetPool>,
    rbac_policies: Vec<RbacPolicy>,
}

impl Data {
    fn snapshot(&self, revision: i64) -> Snapshot<'_> {
        Snapshot {
            revision,
            agents: &self.agents,
            networks: &self.networks,
            subnets: &self.subnets,
            ports: &self.ports,
            routers: &self.routers,
            floating_ips: &self.floating_ips,
            bindings: &self.bindings,
            security_groups: &self.security_groups,
            security_group_rules: &self.security_group_rules,
            metering_labels: &self.metering_labels,
            metering_rules: &self.metering_rules,
            subnet_pools: &self.subnet_pools,
            rbac_policies: &self.rbac_policies,
        }
    }

    async fn load(store: &Store) -> Result<Data, StoreError> {
        let mut d = Data {
            agents: store.list().await?,
            networks: store.list().await?,
            subnets: store.list().await?,
            ports: store.list().await?,
            routers: store.list().await?,
            floating_ips: store.list().await?,
            bindings: store.list().await?,
            security_groups: store.list().await?,
            security_group_rules: store.list().await?,
            metering_labels: store.list().await?,
            metering_rules: store.list().await?,
            subnet_pools: store.list().await?,
            rbac_policies: store.list().await?,
        };
        // `put` searches by Rust's byte order; the database may sort otherwise.
        fn by_id<T: Doc>(v: &mut [T]) {
            v.sort_by(|a, b| a.id().cmp(b.id()));
        }
        by_id(&mut d.agents);
        by_id(&mut d.networks);
        by_id(&mut d.subnets);
        by_id(&mut d.ports);
        by_id(&mut d.routers);
        by_id(&mut d.floating_ips);
        by_id(&mut d.bindings);
        by_id(&mut d.security_groups);
        by_id(&mut d.security_group_rules);
        by_id(&mut d.metering_labels);
        by_id(&mut d.metering_rules);
        by_id(&mut d.subnet_pools);
        by_id(&mut d.rbac_policies);
        Ok(d)
    }

    /// Hosts with a port on network `id`.
    fn hosts_on_network(&self, id: &str, out: &mut Hosts) {
        for p in self.ports.iter().filter(|p| p.network_id == id) {
            out.add(&p.binding_host_id);
        }
    }

    /// Hosts with an L3 agent (the network nodes).
    fn network_nodes(&self, out: &mut Hosts) {
        for a in self.agents.iter().filter(|a| a.agent_type == L3_AGENT_TYPE) {
            out.add(&a.host);
        }
    }

    /// Hosts with a port in group `g`, or in a group whose rules name `g` as
    /// their remote group (they hold `g`'s members).
    fn hosts_using_group(&self, g: &str, out: &mut Hosts) {
        let mut groups: BTreeSet<&str> = BTreeSet::from([g]);
        groups.extend(
            self.security_group_rules
                .iter()
                .filter(|r| r.remote_group_id.as_deref() == Some(g))
                .map(|r| r.security_group_id.as_str()),
        );
        for p in &self.ports {
            if p.security_groups
                .iter()
                .any(|x| groups.contains(x.as_str()))
            {
                out.add(&p.binding_host_id);
            }
        }
    }

    fn port_host(&self, id: &str, out: &mut Hosts) {
        if let Some(p) = self.ports.iter().find(|p| p.id == id) {
            out.add(&p.binding_host_id);
        }
    }
}

/// A set of hosts, or all of them.
#[derive(Default)]
struct Hosts {
    all: bool,
    some: BTreeSet<String>,
}

impl Hosts {
    fn add(&mut self, h: &str) {
        if !h.is_empty() {
            self.some.insert(h.to_string());
        }
    }
    fn has(&self, h: &str) -> bool {
        self.all || self.some.contains(h)
    }
}

/// One changed document, before and after.
enum Change {
    Agent(Option<Agent>, Option<Agent>),
    Network(String),
    Subnet(Option<Subnet>, Option<Subnet>),
    Port(Option<Port>, Option<Port>),
    L3,
    FloatingIp(Option<FloatingIp>, Option<FloatingIp>),
    Group(String),
    Rule(Option<SecurityGroupRule>, Option<SecurityGroupRule>),
    Pool(String),
    /// A policy on a network (whether it is external to all).
    Rbac(Option<RbacPolicy>, Option<RbacPolicy>),
}

/// Replaces (or removes, with `new` None) the document `id` in `v`, kept sorted
/// by id; returns the old one.
fn put<T: Doc + Clone>(v: &mut Vec<T>, id: &str, new: Option<T>) -> Option<T> {
    match (v.binary_search_by(|x| x.id().cmp(id)), new) {
        (Ok(i), Some(n)) => Some(std::mem::replace(&mut v[i], n)),
        (Ok(i), None) => Some(v.remove(i)),
        (Err(i), Some(n)) => {
            v.insert(i, n);
            None
        }
        (Err(_), None) => None,
    }
}

struct Inner {
    /// The store revision the data is at (`None`: not loaded yet).
    rev: Option<i64>,
    data: Data,
    /// A catch-up failed half-way: some documents are new, but the hosts they
    /// concern were not rebuilt; the next catch-up rebuilds every host.
    dirty: bool,
}

pub struct ViewCache {
    inner: tokio::sync::Mutex<Inner>,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// Documents re-read by refreshes, for tests and the bench.
    pub reads: AtomicU64,
}

impl Default for ViewCache {
    fn default() -> Self {
        ViewCache {
            inner: tokio::sync::Mutex::new(Inner {
                rev: None,
                data: Data::default(),
                dirty: false,
            }),
            slots: Mutex::new(HashMap::new()),
            reads: AtomicU64::new(0),
        }
    }
}

fn digest(v: &HostView) -> u64 {
    let mut v = v.clone();
    v.revision = 0;
    let text = serde_json::to_string(&v).unwrap_or_default();
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl ViewCache {
    /// `host`'s slot, with its view built (the data loaded first if need be).
    pub async fn slot(&self, store: &Store, host: &str) -> Result<Arc<Slot>, StoreError> {
        if let Some(s) = self.slots.lock().ok().and_then(|m| m.get(host).cloned()) {
            return Ok(s);
        }
        let mut inner = self.inner.lock().await;
        self.ensure_loaded(store, &mut inner).await?;
        self.catch_up(store, &mut inner).await?;
        if let Some(s) = self.slots.lock().ok().and_then(|m| m.get(host).cloned()) {
            return Ok(s);
        }
        let rev = inner.rev.unwrap_or(0);
        let view = host_view(host, &inner.data.snapshot(rev));
        let built = Built {
            rev,
            digest: digest(&view),
            view: Arc::new(view),
        };
        let slot = Arc::new(Slot {
            tx: watch::Sender::new(Some(Arc::new(built))),
            wakes: AtomicU64::new(0),
        });
        let mut slots = self
            .slots
            .lock()
            .map_err(|_| StoreError::Conflict("view cache poisoned".into()))?;
        Ok(slots.entry(host.to_string()).or_insert(slot).clone())
    }

    /// How many times `host`'s view moved since it was first asked for.
    pub fn wakes(&self, host: &str) -> u64 {
        self.slots
            .lock()
            .ok()
            .and_then(|m| m.get(host).map(|s| s.wakes.load(Ordering::Relaxed)))
            .unwrap_or(0)
    }

    async fn ensure_loaded(&self, store: &Store, inner: &mut Inner) -> Result<(), StoreError> {
        if inner.rev.is_none() {
            // The revision first: whatever commits during the reads is in the
            // change log after it, and is read again by the next refresh.
            let rev = store.revision().await?;
            inner.data = Data::load(store).await?;
            inner.rev = Some(rev);
        }
        Ok(())
    }

    /// Brings the data up to the store's newest commits and wakes the hosts whose
    /// view changed.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().await;
        if inner.rev.is_none() {
            // Nothing asked for a view yet: load when something does.
            return Ok(());
        }
        self.catch_up(store, &mut inner).await
    }

    /// [`ViewCache::refresh`] if the data is behind what the store committed or
    /// behind `since` (an agent coming from another server may be ahead of what
    /// this one has heard of): a poll answers with nothing older than the
    /// commits before it.
    pub async fn ensure_current(&self, store: &Store, since: i64) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().await;
        if inner.rev.is_some_and(|r| r < store.committed().max(since)) {
            self.catch_up(store, &mut inner).await?;
        }
        Ok(())
    }

    async fn catch_up(&self, store: &Store, inner: &mut Inner) -> Result<(), StoreError> {
        let since = inner.rev.unwrap_or(0);
        // Commits without document changes (a password) move the revision too.
        let known = store.committed();
        let changes = store.changes_since(since).await?;
        let Some(newest) = changes.iter().map(|c| c.0).max() else {
            if known > since {
                inner.rev = Some(known);
            }
            return Ok(());
        };
        let newest = newest.max(known);
        let mut seen = BTreeSet::new();
        let mut hosts = Hosts {
            all: inner.dirty,
            ..Hosts::default()
        };
        for (_, kind, id) in &changes {
            if !seen.insert((kind.clone(), id.clone())) {
                continue;
            }
            match self.apply(store, &mut inner.data, kind, id).await {
                Ok(Some(c)) => concerned(&inner.data, &c, &mut hosts),
                Ok(None) => {}
                Err(e) => {
                    // What was applied stays; every host is rebuilt next time.
                    inner.dirty = true;
                    return Err(e);
                }
            }
        }
        inner.dirty = false;
        inner.rev = Some(newest);
        let slots: Vec<(String, Arc<Slot>)> = self
            .slots
            .lock()
            .map(|m| m.iter().map(|(h, s)| (h.clone(), s.clone())).collect())
            .unwrap_or_default();
        for (host, slot) in slots.iter().filter(|(h, _)| hosts.has(h)) {
            let view = host_view(host, &inner.data.snapshot(newest));
            let d = digest(&view);
            let moved = slot.tx.borrow().as_ref().is_none_or(|b| b.digest != d);
            if moved {
                slot.wakes.fetch_add(1, Ordering::Relaxed);
                slot.tx.send_replace(Some(Arc::new(Built {
                    rev: newest,
                    digest: d,
                    view: Arc::new(view),
                })));
            }
        }
        Ok(())
    }

    /// Reads document `kind`/`id` again into `data`; what changed, for the kinds
    /// views are made of.
    async fn apply(
        &self,
        store: &Store,
        data: &mut Data,
        kind: &str,
        id: &str,
    ) -> Result<Option<Change>, StoreError> {
        macro_rules! reread {
            ($t:ty, $field:ident) => {{
                self.reads.fetch_add(1, Ordering::Relaxed);
                let new: Option<$t> = match store.body(kind, id).await? {
                    Some(b) => Some(serde_json::from_str(&b)?),
                    None => None,
                };
                let old = put(&mut data.$field, id, new.clone());
                (old, new)
            }};
        }
        Ok(Some(match kind {
            <Agent as Doc>::KIND => {
                let (o, n) = reread!(Agent, agents);
                Change::Agent(o, n)
            }
            <Network as Doc>::KIND => {
                reread!(Network, networks);
                Change::Network(id.to_string())
            }
            <Subnet as Doc>::KIND => {
                let (o, n) = reread!(Subnet, subnets);
                Change::Subnet(o, n)
            }
            <Port as Doc>::KIND => {
                let (o, n) = reread!(Port, ports);
                Change::Port(o, n)
            }
            <Router as Doc>::KIND => {
                reread!(Router, routers);
                Change::L3
            }
            <RouterBinding as Doc>::KIND => {
                reread!(RouterBinding, bindings);
                Change::L3
            }
            <MeteringLabel as Doc>::KIND => {
                reread!(MeteringLabel, metering_labels);
                Change::L3
            }
            <MeteringLabelRule as Doc>::KIND => {
                reread!(MeteringLabelRule, metering_rules);
                Change::L3
            }
            <FloatingIp as Doc>::KIND => {
                let (o, n) = reread!(FloatingIp, floating_ips);
                Change::FloatingIp(o, n)
            }
            <SecurityGroup as Doc>::KIND => {
                reread!(SecurityGroup, security_groups);
                Change::Group(id.to_string())
            }
            <SecurityGroupRule as Doc>::KIND => {
                let (o, n) = reread!(SecurityGroupRule, security_group_rules);
                Change::Rule(o, n)
            }
            <SubnetPool as Doc>::KIND => {
                reread!(SubnetPool, subnet_pools);
                Change::Pool(id.to_string())
            }
            <RbacPolicy as Doc>::KIND => {
                let (o, n) = reread!(RbacPolicy, rbac_policies);
                Change::Rbac(o, n)
            }
            _ => return Ok(None),
        }))
    }
}

/// The hosts whose view a change can concern, worked out on `data` after the
/// change (the old document covers where things were).
fn concerned(data: &Data, c: &Change, out: &mut Hosts) {
    match c {
        Change::Agent(o, n) => {
            let key = |a: &Option<Agent>| {
                a.as_ref().map(|a| {
                    (
                        a.agent_type.clone(),
                        a.admin_state_up,
                        a.configurations.get("tunneling_ip").cloned(),
                    )
                })
            };
            if key(o) != key(n) {
                // A new agent, a new tunnel address or a state change: every host
                // with a port where this host has one holds its address; rare
                // enough to rebuild all.
                out.all = true;
            }
            for a in [o, n].into_iter().flatten() {
                out.add(&a.host);
            }
        }
        Change::Network(id) => {
            data.hosts_on_network(id, out);
            data.network_nodes(out);
        }
        Change::Subnet(o, n) => {
            for s in [o, n].into_iter().flatten() {
                data.hosts_on_network(&s.network_id, out);
            }
            data.network_nodes(out);
        }
        Change::Port(o, n) => {
            for p in [o, n].into_iter().flatten() {
                out.add(&p.binding_host_id);
                data.hosts_on_network(&p.network_id, out);
                for g in &p.security_groups {
                    data.hosts_using_group(g, out);
                }
                if p.device_owner.starts_with("network:") {
                    data.network_nodes(out);
                }
            }
        }
        Change::L3 => data.network_nodes(out),
        Change::FloatingIp(o, n) => {
            data.network_nodes(out);
            for f in [o, n].into_iter().flatten() {
                if let Some(p) = &f.port_id {
                    data.port_host(p, out);
                }
            }
        }
        Change::Group(id) => data.hosts_using_group(id, out),
        Change::Rule(o, n) => {
            for r in [o, n].into_iter().flatten() {
                data.hosts_using_group(&r.security_group_id, out);
                if let Some(g) = &r.remote_group_id {
                    data.hosts_using_group(g, out);
                }
            }
        }
        Change::Rbac(o, n) => {
            for p in [o, n].into_iter().flatten() {
                if p.object_type == "network" {
                    data.hosts_on_network(&p.object_id, out);
                    data.network_nodes(out);
                }
            }
        }
        Change::Pool(id) => {
            let nets: BTreeSet<&str> = data
                .subnets
                .iter()
                .filter(|s| s.subnetpool_id.as_deref() == Some(id.as_str()))
                .map(|s| s.network_id.as_str())
                .collect();
            for n in nets {
                data.hosts_on_network(n, out);
            }
        }
    }
}

/// Keeps `cache` current for as long as anything holds it: refreshes after every
/// commit the store learns of (its own, and other servers' on PostgreSQL), and
/// every 5 s regardless.
pub fn follow(cache: &Arc<ViewCache>, store: Store) {
    let weak = Arc::downgrade(cache);
    tokio::spawn(async move {
        let mut commits = store.commits();
        loop {
            let changed =
                tokio::time::timeout(std::time::Duration::from_secs(5), commits.changed()).await;
            if matches!(changed, Ok(Err(_))) {
                return;
            }
            let Some(cache) = weak.upgrade() else {
                return;
            };
            // Also every 5 s without a notification: one query, in case this
            // server's LISTEN is not getting through.
            if let Err(e) = cache.refresh(&store).await {
                tracing::warn!("refreshing host views: {e}");
            }
        }
    });
}
