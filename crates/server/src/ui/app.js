// neutrino's read-only topology page. It holds a token the user got by logging
// in here (or one handed over in the URL fragment, #token=..., which never
// reaches the server), reads the API with it every 5 seconds and draws hosts,
// tunnels, networks, ports, routers and floating IPs. Everything the API says is
// put on the page as text (textContent), never as markup: names are tenants'.
"use strict";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
let token = null;
let timer = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c === null || c === undefined ? "" : c);
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path) {
  const r = await fetch(path, { headers: { "X-Auth-Token": token, Accept: "application/json" } });
  if (r.status === 401) throw new Error("unauthorized");
  if (r.status === 403) return null; // the admin's (agents): left out
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

async function load() {
  const get = async (path, key) => ((await api(path)) || {})[key] || [];
  const [agents, networks, subnets, ports, routers, fips] = await Promise.all([
    get("/v2.0/agents", "agents"),
    get("/v2.0/networks", "networks"),
    get("/v2.0/subnets", "subnets"),
    get("/v2.0/ports", "ports"),
    get("/v2.0/routers", "routers"),
    get("/v2.0/floatingips", "floatingips"),
  ]);
  return { agents, networks, subnets, ports, routers, fips };
}

// The same model `neutrino topology` prints.
function model(d) {
  const hosts = new Map();
  for (const a of d.agents) {
    const h = hosts.get(a.host) || { name: a.host, alive: true, tunnel_ip: null, bridges: new Set(["br-int"]), ports: [], routers: [] };
    h.alive = h.alive && !!a.alive;
    const c = a.configurations || {};
    if (c.tunneling_ip) { h.tunnel_ip = c.tunneling_ip; h.bridges.add("br-tun"); }
    for (const b of Object.values(c.bridge_mappings || {})) h.bridges.add(b);
    if (a.agent_type === "L3 agent") h.bridges.add("br-ex");
    hosts.set(a.host, h);
  }
  const type = new Map(d.networks.map((n) => [n.id, n["provider:network_type"]]));
  const spans = new Map();
  for (const p of d.ports) {
    const host = p["binding:host_id"];
    if (!host) continue;
    if (hosts.has(host)) hosts.get(host).ports.push(p);
    if (type.get(p.network_id) === "vxlan" || type.get(p.network_id) === "gre") {
      if (!spans.has(p.network_id)) spans.set(p.network_id, new Set());
      spans.get(p.network_id).add(host);
    }
  }
  const tunnels = new Map();
  for (const [net, hs] of spans) {
    const list = [...hs].filter((h) => hosts.has(h) && hosts.get(h).tunnel_ip).sort();
    for (let i = 0; i < list.length; i++)
      for (let j = i + 1; j < list.length; j++) {
        const k = list[i] + "|" + list[j];
        if (!tunnels.has(k)) tunnels.set(k, { a: list[i], b: list[j], nets: new Set() });
        tunnels.get(k).nets.add(net);
      }
  }
  for (const r of d.routers) {
    const host = d.ports.filter((p) => p.device_id === r.id).map((p) => p["binding:host_id"]).find((h) => h);
    r._host = host || null;
    if (host && hosts.has(host)) hosts.get(host).routers.push(r);
  }
  return { hosts: [...hosts.values()].sort((a, b) => a.name.localeCompare(b.name)), tunnels: [...tunnels.values()] };
}

const ips = (p) => (p.fixed_ips || []).map((f) => f.ip_address).join(", ");

function picture(m) {
  const w = 180, gap = 60, hgt = 70;
  const width = Math.max(1, m.hosts.length) * (w + gap) + gap;
  const svg = svgEl("svg", { width, height: hgt + 80, role: "img", "aria-label": "hosts and tunnels" });
  const x = new Map();
  m.hosts.forEach((h, i) => {
    const left = gap + i * (w + gap);
    x.set(h.name, left + w / 2);
    svg.append(svgEl("rect", { x: left, y: 40, width: w, height: hgt, rx: 8, fill: h.alive ? "#e6f4ea" : "#fce8e6", stroke: "#5f6368" }));
    svg.append(svgEl("text", { x: left + 8, y: 58 }, h.name + (h.alive ? "  :-)" : "  XXX")));
    svg.append(svgEl("text", { x: left + 8, y: 74 }, h.tunnel_ip || "no tunnels"));
    svg.append(svgEl("text", { x: left + 8, y: 90 }, [...h.bridges].sort().join(" ")));
  });
  m.tunnels.forEach((t, i) => {
    const a = x.get(t.a), b = x.get(t.b), y = 36 - (i % 3) * 10;
    svg.append(svgEl("path", { d: `M ${a} 40 C ${a} ${y - 20}, ${b} ${y - 20}, ${b} 40`, fill: "none", stroke: "#1a73e8" }));
  });
  return svg;
}

function card(title, sub, items) {
  const ul = el("ul");
  for (const i of items) ul.append(el("li", {}, i));
  return el("div", { class: "card" }, el("h3", {}, title), el("div", { class: "muted" }, sub), ul);
}

function status(s) {
  return el("span", { class: s || "" }, s || "");
}

function render(d) {
  const m = model(d);
  $("picture").replaceChildren(picture(m));
  $("hosts").replaceChildren(...m.hosts.map((h) =>
    card(h.name, (h.alive ? "alive" : "not alive") + " · " + (h.tunnel_ip || "no tunnels") + " · " + [...h.bridges].sort().join(", "),
      [...h.ports.map((p) => (p.name || p.id.slice(0, 8)) + " " + ips(p) + (p.device_owner ? " (" + p.device_owner + ")" : "")),
       ...h.routers.map((r) => "router " + r.name)])));
  const cidrs = new Map();
  for (const s of d.subnets) cidrs.set(s.network_id, (cidrs.get(s.network_id) || []).concat(s.cidr));
  $("networks").replaceChildren(...d.networks.map((n) =>
    card(n.name || n.id, [n["provider:network_type"], n["provider:segmentation_id"], n["router:external"] ? "external" : "", (cidrs.get(n.id) || []).join(", ")].filter((x) => x !== null && x !== undefined && x !== "").join(" · "),
      d.ports.filter((p) => p.network_id === n.id).map((p) =>
        el("span", {}, (p.name || p.id.slice(0, 8)) + " " + ips(p) + " " + (p["binding:host_id"] ? "@" + p["binding:host_id"] + " " : ""), status(p.status))))));
  $("routers").replaceChildren(...d.routers.map((r) => {
    const mine = d.ports.filter((p) => p.device_id === r.id);
    return card(r.name || r.id, (r.status || "") + (r._host ? " · on " + r._host : ""),
      mine.map((p) => (p.device_owner === "network:router_gateway" ? "qg " : "qr ") + ips(p)));
  }));
  $("fips").tBodies[0].replaceChildren(...d.fips.map((f) =>
    el("tr", {}, el("td", {}, f.floating_ip_address), el("td", {}, f.fixed_ip_address || ""), el("td", {}, f.port_id || ""), el("td", {}, status(f.status)))));
  $("status").textContent = "updated " + new Date().toLocaleTimeString() + " · " + d.ports.length + " ports";
}

async function refresh() {
  try {
    render(await load());
    $("view").hidden = false;
    $("login").hidden = true;
    $("logout").hidden = false;
  } catch (e) {
    if (e.message === "unauthorized") return showLogin("");
    $("status").textContent = "cannot read the API: " + e.message;
  }
}

function showLogin(msg) {
  token = null;
  sessionStorage.removeItem("neutrino-token");
  clearInterval(timer);
  $("view").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = msg;
  $("status").textContent = "";
}

function start(t) {
  token = t;
  sessionStorage.setItem("neutrino-token", t);
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { auth: {
    identity: { methods: ["password"], password: { user: { name: f.get("user"), domain: { name: "Default" }, password: f.get("password") } } },
    scope: { project: { name: f.get("project"), domain: { name: "Default" } } } } };
  const r = await fetch("/v3/auth/tokens", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const t = r.headers.get("X-Subject-Token");
  if (!r.ok || !t) return showLogin("login failed (" + r.status + ")");
  start(t);
});

$("logout").addEventListener("click", () => showLogin(""));

const handed = new URLSearchParams(location.hash.slice(1)).get("token");
if (handed) {
  history.replaceState(null, "", location.pathname);
  start(handed);
} else if (sessionStorage.getItem("neutrino-token")) {
  start(sessionStorage.getItem("neutrino-token"));
} else {
  showLogin("");
}
