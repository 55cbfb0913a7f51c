// Halyard's dashboard: polls the JSON APIs next to this page and draws the
// service graph, the selected service's RED charts and config, and the
// proxies' sync status. Plain DOM and SVG, no dependencies.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = { selected: null, services: [], intervalMs: 2000 };

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

const fmt = {
  rps: (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " rps",
  pct: (v) => (100 * v).toFixed(v > 0 && v < 0.01 ? 2 : 1) + "%",
  ms: (v) => (v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(v < 10 ? 1 : 0) + " ms"),
};

// layout places nodes in columns by their longest distance from a node
// nothing calls, so requests flow left to right.
function layout(graph) {
  const depth = {};
  graph.nodes.forEach((n) => (depth[id(n)] = 0));
  for (let i = 0; i < graph.nodes.length; i++) {
    let changed = false;
    for (const e of graph.edges) {
      if (e.source !== e.destination && depth[e.destination] < depth[e.source] + 1) {
        depth[e.destination] = depth[e.source] + 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  const cols = {};
  graph.nodes.forEach((n) => (cols[depth[id(n)]] = cols[depth[id(n)]] || []).push(n));
  const pos = {};
  let rows = 0;
  for (const [d, ns] of Object.entries(cols)) {
    ns.forEach((n, i) => (pos[id(n)] = { x: 20 + d * COL, y: 24 + i * ROW }));
    rows = Math.max(rows, ns.length);
  }
  return { pos, width: 40 + (Object.keys(cols).length - 1) * COL + W, height: 24 + rows * ROW };
}

function id(n) { return n.name + "." + n.namespace + ":" + n.version; }

const W = 130, H = 40, COL = 270, ROW = 80;

// lock draws the mutual-TLS padlock with its top-left corner at x, y.
function lock(x, y) {
  const g = el("svg:g", { class: "lock", transform: `translate(${x},${y})` });
  g.appendChild(el("svg:path", { d: "M2.5,5 V3.5 a3,3 0 0 1 6,0 V5", fill: "none", stroke: "#1d3557", "stroke-width": 1.5 }));
  g.appendChild(el("svg:rect", { x: 0.5, y: 5, width: 10, height: 7, rx: 1.5, fill: "#1d3557" }));
  return g;
}

function drawGraph(graph) {
  const svg = document.getElementById("graph");
  svg.replaceChildren();
  const { pos, width, height } = layout(graph);
  svg.setAttribute("width", Math.max(width, 700));
  svg.setAttribute("height", Math.max(height, 120));
  const defs = el("svg:defs");
  const marker = el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" });
  marker.appendChild(el("svg:path", { d: "M0,0 L10,5 L0,10 z", fill: "#57606a" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  if (!graph.nodes.length) svg.appendChild(el("svg:text", { x: 20, y: 40, class: "empty" }, "No requests seen yet: send traffic through the mesh (halyard exec -- curl ...)."));
  const called = new Set(graph.edges.map((e) => e.destination));
  for (const e of graph.edges) {
    const a = pos[e.source], b = pos[e.destination];
    if (!a || !b) continue;
    const cls = e.requests === 0 ? "idle" : e.errorRate > 0.05 ? "errors" : "ok";
    const g = el("svg:g", { class: "edge " + cls, "data-source": e.source, "data-destination": e.destination,
      "data-rps": e.rps.toFixed(3), "data-error-rate": e.errorRate.toFixed(4), "data-p99-ms": e.p99Ms.toFixed(1), "data-mtls": e.mtls.toFixed(2) });
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    g.appendChild(el("svg:path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" }));
    const my = (y1 + y2) / 2;
    const first = e.requests === 0 ? "idle" : fmt.rps(e.rps);
    g.appendChild(el("svg:text", { x: mx, y: my - 8, "text-anchor": "middle" }, first));
    if (e.requests > 0) {
      g.appendChild(el("svg:text", { x: mx, y: my + 6, "text-anchor": "middle" }, `${fmt.pct(e.errorRate)} · p99 ${fmt.ms(e.p99Ms)}`));
      if (e.mtls >= 0.999) g.appendChild(lock(mx - first.length * 3.2 - 15, my - 19));
    }
    svg.appendChild(g);
  }
  for (const n of graph.nodes) {
    const p = pos[id(n)];
    const g = el("svg:g", { class: "node" + (called.has(id(n)) ? "" : " client"), "data-id": id(n), transform: `translate(${p.x},${p.y})` });
    g.appendChild(el("svg:rect", { width: W, height: H, rx: 6 }));
    g.appendChild(el("svg:text", { x: W / 2, y: 17 }, n.name));
    g.appendChild(el("svg:text", { x: W / 2, y: 32, class: "version" }, n.version === "unknown" ? n.namespace : n.namespace + " · " + n.version));
    g.addEventListener("click", () => select(n.name, n.namespace));
    svg.appendChild(g);
  }
}

function drawServices() {
  const ul = document.getElementById("services");
  ul.replaceChildren();
  for (const s of state.services) {
    const key = s.name + "." + s.namespace;
    const li = el("li", { "data-service": key, class: state.selected === key ? "selected" : "" });
    li.appendChild(el("div", {}, s.external ? s.hostname + " (external)" : key));
    const extra = [s.versions.length ? s.versions.join(", ") : "", s.virtualServices.length + " VS", s.destinationRules.length + " DR"];
    li.appendChild(el("div", { class: "versions" }, extra.filter(Boolean).join(" · ")));
    li.addEventListener("click", () => select(s.name, s.namespace));
    ul.appendChild(li);
  }
}

function select(name, namespace) {
  state.selected = name + "." + namespace;
  history.replaceState(null, "", "#" + state.selected);
  drawServices();
  refreshDetail();
}

function chart(title, points, value, format) {
  const w = 260, h = 90, pad = 22;
  const box = el("div", { class: "chart" });
  const svg = el("svg:svg", { width: w, height: h + 16 });
  const vals = points.map(value);
  const max = Math.max(...vals, 0);
  svg.appendChild(el("svg:text", { x: 2, y: 10 }, `${title}  now ${format(vals.length ? vals[vals.length - 1] : 0)}  max ${format(max)}`));
  if (points.length > 1) {
    const t0 = Date.parse(points[0].time), t1 = Date.parse(points[points.length - 1].time);
    const xs = (t) => pad + ((Date.parse(t) - t0) / Math.max(t1 - t0, 1)) * (w - pad - 4);
    const ys = (v) => h - (max > 0 ? (v / max) * (h - 16) : 0);
    svg.appendChild(el("svg:polyline", { points: points.map((p, i) => `${xs(p.time)},${ys(vals[i])}`).join(" ") }));
    svg.appendChild(el("svg:text", { x: pad, y: h + 15 }, `last ${Math.round((t1 - t0) / 1000)} s`));
  }
  box.appendChild(svg);
  return box;
}

async function refreshDetail() {
  if (!state.selected) return;
  const s = state.services.find((x) => x.name + "." + x.namespace === state.selected);
  if (!s) return;
  document.getElementById("detail-title").textContent = s.hostname;
  const series = await getJSON(`api/series?service=${encodeURIComponent(s.name)}&namespace=${encodeURIComponent(s.namespace)}&window=10s`);
  const charts = document.getElementById("charts");
  const row = el("div", { class: "charts" });
  row.appendChild(chart("requests/s", series, (p) => p.rps, fmt.rps));
  row.appendChild(chart("errors", series, (p) => p.errorRate, fmt.pct));
  row.appendChild(chart("P99", series, (p) => p.p99Ms, fmt.ms));
  charts.replaceChildren(row);
  const config = document.getElementById("config");
  config.replaceChildren();
  for (const [kind, list] of [["VirtualService", s.virtualServices], ["DestinationRule", s.destinationRules]]) {
    for (const o of list) {
      config.appendChild(el("h3", {}, `${kind} ${o.namespace}/${o.name} (${o.source})`));
      config.appendChild(el("pre", {}, o.yaml));
    }
  }
  if (!config.children.length) config.appendChild(el("p", {}, "No VirtualService or DestinationRule applies to this service."));
}

function drawSync(proxies) {
  const body = document.querySelector("#sync tbody");
  body.replaceChildren();
  for (const p of proxies || []) {
    const tr = el("tr", { "data-proxy": p.id });
    tr.appendChild(el("td", {}, p.id.split("~")[2] || p.id));
    tr.appendChild(el("td", { class: p.connected ? "ok" : "bad" }, p.connected ? "yes" : "no"));
    let synced = p.connected;
    for (const t of ["LDS", "RDS", "CDS", "EDS"]) {
      const ts = (p.types || {})[t];
      const ok = ts && ts.want && ts.acked === ts.want;
      synced = synced && ok;
      const text = !ts ? "-" : ts.nackError ? "NACK: " + ts.nackError : ok ? "ACKed " + (ts.convergedAfter || "").replace(/(\.\d)\d+/, "$1") : "pending";
      tr.appendChild(el("td", { class: ok ? "ok" : "bad" }, text));
    }
    tr.appendChild(el("td", { class: synced ? "ok" : "bad" }, synced ? "SYNCED" : p.generationError ? "ERROR: " + p.generationError : "STALE"));
    body.appendChild(tr);
  }
}

async function refresh() {
  const win = document.getElementById("window").value;
  try {
    const [graph, services, sync] = await Promise.all([getJSON("api/graph?window=" + win), getJSON("api/services"), getJSON("api/syncz")]);
    state.services = services;
    if (!state.selected) {
      const first = services.find((s) => !s.external);
      if (first) state.selected = first.name + "." + first.namespace;
    }
    drawGraph(graph);
    drawServices();
    drawSync(sync);
    await refreshDetail();
    const total = graph.edges.reduce((a, e) => a + e.rps, 0);
    document.getElementById("status").textContent = `${graph.nodes.length} nodes · ${graph.edges.length} edges · ${fmt.rps(total)} · ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    document.getElementById("status").textContent = "error: " + err.message;
  }
}

async function main() {
  if (location.hash.length > 1) state.selected = decodeURIComponent(location.hash.slice(1));
  try {
    state.intervalMs = Math.max((await getJSON("api/settings")).intervalMs, 1000);
  } catch (err) { /* keep the default */ }
  document.getElementById("window").addEventListener("change", refresh);
  await refresh();
  setInterval(refresh, state.intervalMs);
}

main();
