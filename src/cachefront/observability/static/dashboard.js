// The dashboard's script: fetches /dashboard/data, fills the tiles and tables, and
// draws the charts with the vendored uPlot; refreshes every REFRESH_MS. The window
// (24 h or 7 d) is picked with the header's buttons and kept in the address's hash.
"use strict";

const REFRESH_MS = 5000;
// The storage figures, the slowest calls and the entries never read cost a pass over
// a table: read once a minute.
const STORAGE_REFRESH_MS = 60000;
const WINDOWS = { "24": "24 h", "168": "7 d" };
const charts = {};
let storageReport = null;
let hours = location.hash === "#7d" ? 168 : 24;
let refreshTimer = null;

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

function when(iso) {
  if (!iso) return "-";
  return new Date(iso).toISOString().replace("T", " ").slice(0, 19);
}

function tiles(s) {
  const items = [
    ["requests (" + WINDOWS[String(hours)] + ")", num(s.requests)],
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

function chart(id, series, data, y) {
  const el = document.getElementById(id);
  const width = Math.max(300, el.clientWidth || 400);
  if (!charts[id]) {
    const scales = { x: { time: true } };
    if (y) scales.y = y;
    charts[id] = new uPlot({ width, height: 200, series: [{}, ...series], scales }, data, el);
  } else {
    charts[id].setData(data);
  }
}

function draw(hours) {
  const t = hours.map((h) => h.t);
  // A rate: the axis stops at 100%, whatever uPlot's padding would add.
  chart("chart-hit-rate", [{ label: "hit rate %", stroke: "#059669", width: 2 }],
        [t, hours.map((h) => (h.hit_rate === null ? null : 100 * h.hit_rate))],
        { range: (u, lo, hi) => [Math.max(0, Math.min(lo === null ? 0 : lo, 90) - 5), 100] });
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
  fill("health", [["check"], ["status"], ["value", "n"], ["detail", "wrap"]],
       doc.health.checks.map((c) => [c.name, c.status, c.value === null ? "-" : String(c.value), c.detail]));
  fill("tiers", [["tier"], ["requests", "n"], ["share", "n"]],
       Object.entries(s.requests_by_tier).map(([tier, n]) => [tier, num(n), pct(s.hit_rate_by_tier[tier])]));
  fill("providers", [["provider"], ["calls", "n"], ["failed", "n"], ["p95 ms", "n"], ["cost", "n"]],
       s.upstream_by_provider.map((p) => [p.provider, num(p.calls), num(p.failures), ms(p.p95_ms), money(p.cost)]));
  fill("rooms", [["room"], ["requests", "n"], ["hit rate", "n"], ["upstream calls", "n"], ["cost saved", "n"]],
       s.rooms.map((r) => [r.room, num(r.requests), pct(r.hit_rate), num(r.upstream_calls), money(r.cost_saved)]));
  const slow = [...s.routes].sort((a, b) => (b.p99_ms || 0) - (a.p99_ms || 0)).slice(0, 10);
  fill("routes", [["route", "wrap"], ["requests", "n"], ["p50 ms", "n"], ["p99 ms", "n"]],
       slow.map((r) => [r.route, num(r.requests), ms(r.p50_ms), ms(r.p99_ms)]));
  storage(doc.storage, storageReport);
  fill("jobs", [["status"], ["jobs", "n"]], Object.entries(doc.jobs).map(([k, v]) => [k, num(v)]));
  errors(doc.errors);
  fill("tasks", [["task"], ["queue"], ["cron"], ["last deferred"], ["next run"], ["last"], ["last s", "n"]],
       doc.tasks.tasks.map((t) => [t.task, t.queue, t.cron, when(t.last_deferred_at), when(t.next_run_at),
                                   t.last_status || "-", t.last_duration_s === null ? "-" : String(t.last_duration_s)]));
  document.body.dataset.hours = String(hours);
  document.body.dataset.points = String(doc.hours.length);
  document.body.dataset.charts = String(document.querySelectorAll(".chart canvas").length);
  document.body.dataset.state = "ready";
}

// Failed requests and failed upstream calls; an error text is shown as stored (the
// server cut URL queries from it), wrapped rather than clipped.
function errors(e) {
  fill("errors", [["at"], ["route", "wrap"], ["status", "n"], ["ms", "n"], ["tier"]],
       e.requests.map((r) => [when(r.at), r.method + " " + r.route, String(r.status), ms(r.latency_ms), r.tier || "-"]));
  fill("upstream-errors", [["at"], ["provider"], ["outcome"], ["attempts", "n"], ["error", "wrap"]],
       e.upstream.map((c) => [when(c.at), c.provider, c.outcome, num(c.attempts), c.error || "-"]));
  document.body.dataset.errors = String(e.requests.length + e.upstream.length);
}

function details(doc) {
  const s = doc.slowest;
  fill("slowest", [["ms", "n"], ["at"], ["route", "wrap"], ["status", "n"], ["tier"]],
       s.requests.map((r) => [ms(r.latency_ms), when(r.at), r.method + " " + r.route, String(r.status), r.tier || "-"]));
  fill("slowest-upstream", [["ms", "n"], ["at"], ["provider"], ["url", "wrap"], ["outcome"]],
       s.upstream.map((c) => [ms(c.latency_ms), when(c.at), c.provider, c.method + " " + c.url, c.outcome]));
  fill("unread", [["namespace"], ["entries", "n"], ["never read", "n"], ["oldest never read"]],
       doc.unread.map((n) => n.tracked
         ? [n.namespace, num(n.entries), num(n.never_read), when(n.oldest_never_read)]
         : [n.namespace, "-", "not tracked", "-"]));
  document.body.dataset.details = "ready";
}

function unauthorized() {
  document.getElementById("status").textContent = "login needed";
  document.getElementById("login-hint").hidden = false;
  document.body.dataset.state = "login";
}

async function refresh() {
  clearTimeout(refreshTimer);
  try {
    const answer = await fetch("/dashboard/data?hours=" + hours, { credentials: "same-origin", cache: "no-store" });
    if (answer.status === 401) {
      unauthorized();
    } else if (!answer.ok) {
      throw new Error("HTTP " + answer.status);
    } else {
      document.getElementById("login-hint").hidden = true;
      render(await answer.json());
    }
  } catch (error) {
    document.getElementById("status").textContent = "unreachable";
    document.body.dataset.state = "error";
  }
  refreshTimer = setTimeout(refresh, REFRESH_MS);
}

async function refreshStorage() {
  try {
    const opts = { credentials: "same-origin", cache: "no-store" };
    const [answer, more] = await Promise.all([
      fetch("/dashboard/storage", opts), fetch("/dashboard/details?hours=" + hours, opts)]);
    if (answer.ok) {
      storageReport = await answer.json();
      storage(null, storageReport);
      document.body.dataset.storage = "ready";
    }
    if (more.ok) details(await more.json());
  } catch (error) {
    // The basic figures of /dashboard/data stay shown.
  }
  setTimeout(refreshStorage, STORAGE_REFRESH_MS);
}

function pickWindow(chosen) {
  hours = chosen;
  for (const b of document.querySelectorAll("#window-select button")) {
    b.classList.toggle("on", Number(b.dataset.hours) === hours);
  }
  for (const label of document.querySelectorAll(".window-label")) label.textContent = WINDOWS[String(hours)];
}

for (const b of document.querySelectorAll("#window-select button")) {
  b.addEventListener("click", () => {
    pickWindow(Number(b.dataset.hours));
    history.replaceState(null, "", hours === 168 ? "#7d" : "#24h");
    refresh();
    fetch("/dashboard/details?hours=" + hours, { credentials: "same-origin", cache: "no-store" })
      .then((a) => (a.ok ? a.json().then(details) : null)).catch(() => null);
  });
}

pickWindow(hours);
refresh();
refreshStorage();
