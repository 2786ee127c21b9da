// The dashboard's script: fetches /dashboard/data, fills the tiles and tables, and
// draws the charts with the vendored uPlot; refreshes every REFRESH_MS.
"use strict";

const REFRESH_MS = 5000;
// The storage figures cost a pass over the cache table: read once a minute.
const STORAGE_REFRESH_MS = 60000;
const charts = {};
let storageReport = null;

function pct(v) { return v === null || v === undefined ? "-" : (100 * v).toFixed(1) + "%"; }
function ms(v) { return v === null || v === undefined ? "-" : v.toFixed(1); }
function num(v) { return v === null || v === undefined ? "-" : Number(v).toLocaleString("en"); }
function money(v) { return Number(v || 0).toFixed(4); }

function fill(id, head, rows) {
  const table = document.getElementById(id);
  table.replaceChildren();
  const tr = table.insertRow();
  for (const [label, cls] of head) {
    const th = document.createElement("th");
    th.textContent = label;
    if (cls) th.className = cls;
    tr.appendChild(th);
  }
  for (const row of rows) {
    const r = table.insertRow();
    row.forEach((cell, i) => {
      const td = r.insertCell();
      td.textContent = cell;
      if (head[i][1]) td.className = head[i][1];
    });
  }
}

function tiles(s) {
  const items = [
    ["requests (24 h)", num(s.requests)],
    ["hit rate", pct(s.hit_rate)],
    ["p95 ms", ms(s.p95_ms)],
    ["cached p95 ms", ms(s.cached.p95_ms)],
    ["error rate", pct(s.error_rate)],
    ["upstream calls", num(s.upstream_calls)],
    ["upstream cost", money(s.upstream_cost)],
    ["calls saved", num(Math.round(s.calls_saved))],
    ["cost saved", money(s.cost_saved)],
  ];
  const box = document.getElementById("tiles");
  box.replaceChildren();
  for (const [label, value] of items) {
    const div = document.createElement("div");
    div.className = "tile";
    const b = document.createElement("b");
    b.textContent = value;
    div.append(b, label);
    box.appendChild(div);
  }
}

function chart(id, series, data) {
  const el = document.getElementById(id);
  const width = Math.max(300, el.clientWidth || 400);
  if (!charts[id]) {
    charts[id] = new uPlot({ width, height: 200, series: [{}, ...series], scales: { x: { time: true } } }, data, el);
  } else {
    charts[id].setData(data);
  }
}

function draw(hours) {
  const t = hours.map((h) => h.t);
  chart("chart-hit-rate", [{ label: "hit rate %", stroke: "#059669", width: 2 }],
        [t, hours.map((h) => (h.hit_rate === null ? null : 100 * h.hit_rate))]);
  chart("chart-latency", [
    { label: "p50", stroke: "#2563eb", width: 2 },
    { label: "p95", stroke: "#d97706", width: 2 },
    { label: "p99", stroke: "#dc2626", width: 2 },
  ], [t, hours.map((h) => h.p50_ms), hours.map((h) => h.p95_ms), hours.map((h) => h.p99_ms)]);
  chart("chart-requests", [
    { label: "requests", stroke: "#4b5563", width: 2 },
    { label: "5xx", stroke: "#dc2626", width: 2 },
  ], [t, hours.map((h) => h.requests), hours.map((h) => h.server_errors)]);
}

function size(v) {
  if (v === null || v === undefined) return "-";
  for (const [unit, n] of [["GB", 1e9], ["MB", 1e6], ["kB", 1e3]]) {
    if (v >= n) return (v / n).toFixed(1) + " " + unit;
  }
  return v + " B";
}

// The storage panel: namespaces with their forecast, a bar of bytes per namespace
// (plain HTML, scaled to the biggest or to its quota), and every table's size; until
// /dashboard/storage answered, the sizes /dashboard/data carries.
function storage(basic, report) {
  if (!report) {
    if (!basic) return;
    fill("storage", [["namespace"], ["entries", "n"], ["bytes", "n"]],
         [["(database)", "-", num(basic.database_bytes)],
          ...basic.cache.map((c) => [c.namespace, num(c.entries), num(c.bytes)])]);
    return;
  }
  fill("storage", [["namespace"], ["entries", "n"], ["bytes", "n"], ["quota", "n"],
                   ["expiring 1 h", "n"], ["24 h", "n"], ["7 d", "n"], ["evicted", "n"]],
       report.namespaces.map((n) => [n.namespace, num(n.entries), size(n.bytes), size(n.quota_bytes),
                                     num(n.expiring_1h), num(n.expiring_24h), num(n.expiring_7d),
                                     num(n.evicted_entries)]));
  const bars = document.getElementById("storage-bars");
  bars.replaceChildren();
  const biggest = Math.max(1, ...report.namespaces.map((n) => Math.max(n.bytes, n.quota_bytes || 0)));
  for (const n of report.namespaces) {
    const row = document.createElement("div");
    row.className = "bar-row";
    const label = document.createElement("span");
    label.textContent = n.namespace;
    const track = document.createElement("span");
    track.className = "bar-track";
    const bar = document.createElement("span");
    bar.className = "bar" + (n.quota_bytes !== null && n.bytes > n.quota_bytes ? " over" : "");
    bar.style.width = (100 * n.bytes / biggest).toFixed(2) + "%";
    track.appendChild(bar);
    if (n.quota_bytes !== null) {
      const mark = document.createElement("span");
      mark.className = "bar-quota";
      mark.style.left = (100 * n.quota_bytes / biggest).toFixed(2) + "%";
      mark.title = "quota " + size(n.quota_bytes);
      track.appendChild(mark);
    }
    const value = document.createElement("span");
    value.className = "n";
    value.textContent = size(n.bytes);
    row.append(label, track, value);
    bars.appendChild(row);
  }
  fill("storage-tables", [["table"], ["size", "n"], ["partitions", "n"]],
       [["(database)", size(report.database_bytes), "-"],
        ...report.tables.slice(0, 15).map((t) => [
          t.schema_name === "public" ? t.table : t.schema_name + "." + t.table,
          size(t.bytes), t.partitions ? num(t.partitions) : "-"])]);
}

function render(doc) {
  const s = doc.stats;
  const status = document.getElementById("status");
  status.textContent = doc.health.status;
  status.className = "badge " + doc.health.status;
  document.getElementById("updated").textContent = "updated " + new Date(doc.generated_at).toLocaleTimeString();
  tiles(s);
  draw(doc.hours);
  fill("health", [["check"], ["status"], ["value", "n"], ["detail"]],
       doc.health.checks.map((c) => [c.name, c.status, c.value === null ? "-" : String(c.value), c.detail]));
  fill("tiers", [["tier"], ["requests", "n"], ["share", "n"]],
       Object.entries(s.requests_by_tier).map(([tier, n]) => [tier, num(n), pct(s.hit_rate_by_tier[tier])]));
  fill("providers", [["provider"], ["calls", "n"], ["failed", "n"], ["p95 ms", "n"], ["cost", "n"]],
       s.upstream_by_provider.map((p) => [p.provider, num(p.calls), num(p.failures), ms(p.p95_ms), money(p.cost)]));
  fill("rooms", [["room"], ["requests", "n"], ["hit rate", "n"], ["upstream calls", "n"], ["cost saved", "n"]],
       s.rooms.map((r) => [r.room, num(r.requests), pct(r.hit_rate), num(r.upstream_calls), money(r.cost_saved)]));
  const slow = [...s.routes].sort((a, b) => (b.p99_ms || 0) - (a.p99_ms || 0)).slice(0, 10);
  fill("routes", [["route"], ["requests", "n"], ["p50 ms", "n"], ["p99 ms", "n"]],
       slow.map((r) => [r.route, num(r.requests), ms(r.p50_ms), ms(r.p99_ms)]));
  storage(doc.storage, storageReport);
  fill("jobs", [["status"], ["jobs", "n"]], Object.entries(doc.jobs).map(([k, v]) => [k, num(v)]));
  document.body.dataset.points = String(doc.hours.length);
  document.body.dataset.charts = String(document.querySelectorAll(".chart canvas").length);
  document.body.dataset.state = "ready";
}

async function refresh() {
  try {
    const answer = await fetch("/dashboard/data", { credentials: "same-origin", cache: "no-store" });
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    render(await answer.json());
  } catch (error) {
    document.getElementById("status").textContent = "unreachable";
    document.body.dataset.state = "error";
  }
  setTimeout(refresh, REFRESH_MS);
}

async function refreshStorage() {
  try {
    const answer = await fetch("/dashboard/storage", { credentials: "same-origin", cache: "no-store" });
    if (answer.ok) {
      storageReport = await answer.json();
      storage(null, storageReport);
      document.body.dataset.storage = "ready";
    }
  } catch (error) {
    // The basic figures of /dashboard/data stay shown.
  }
  setTimeout(refreshStorage, STORAGE_REFRESH_MS);
}

refresh();
refreshStorage();
