// The rooms' own panels: fetches /dashboard/rooms and draws one panel per room into
// <section id="room-panels"> from the generic figures structure alone (rooms.py:
// RoomFigures): tiles for its figures, its tables, its series charted with the vendored
// uPlot. Nothing here knows a room; every value is shown by its unit.
"use strict";

(function () {
  // The rooms' figures are aggregates over their own tables: every half minute is enough.
  const ROOMS_REFRESH_MS = 30000;
  const COLORS = ["#2563eb", "#059669", "#d97706", "#dc2626", "#7c3aed", "#4b5563"];
  let plots = [];

  function duration(s) {
    const units = [["d", 86400], ["h", 3600], ["min", 60]];
    for (const [unit, size] of units) {
      if (Math.abs(s) >= size) return (s / size).toFixed(1) + " " + unit;
    }
    return Number(s).toFixed(1) + " s";
  }

  function bytes(n) {
    const units = [["GB", 1e9], ["MB", 1e6], ["kB", 1e3]];
    for (const [unit, size] of units) {
      if (n >= size) return (n / size).toFixed(1) + " " + unit;
    }
    return n + " B";
  }

  // A value as a person reads it, by its unit; as rooms_print.format_cell does in the CLI.
  function show(value, unit) {
    if (value === null || value === undefined) return "-";
    if (typeof value === "string" || typeof value === "boolean") {
      if (unit === "instant") return new Date(value).toLocaleString("en-GB", { timeZone: "UTC" }) + " UTC";
      return String(value);
    }
    switch (unit) {
      case "ratio": return (100 * value).toFixed(1) + "%";
      case "usd": return Number(value).toFixed(4);
      case "seconds": return duration(value);
      case "bytes": return bytes(value);
      default:
        return Number.isInteger(value) ? value.toLocaleString("en") : Number(value).toFixed(2);
    }
  }

  function numeric(unit) { return unit !== "text" && unit !== "instant"; }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function tiles(figures) {
    const box = el("div", undefined, "tiles");
    for (const f of figures) {
      const tile = el("div", undefined, "tile");
      const b = el("b", show(f.value, f.unit));
      if (f.status === "warn") b.style.color = "#b45309";
      tile.dataset.status = f.status || "";
      tile.append(b, f.label);
      box.appendChild(tile);
    }
    return box;
  }

  function table(t) {
    const wrap = el("div");
    wrap.appendChild(el("h3", t.title));
    const node = el("table");
    const head = node.insertRow();
    t.columns.forEach((name, i) => head.appendChild(el("th", name, numeric(t.units[i]) ? "n" : "")));
    for (const row of t.rows) {
      const tr = node.insertRow();
      row.forEach((cell, i) => {
        const td = tr.insertCell();
        td.textContent = show(cell, t.units[i]);
        if (numeric(t.units[i])) td.className = "n";
      });
    }
    if (!t.rows.length) {
      const td = node.insertRow().insertCell();
      td.colSpan = t.columns.length;
      td.textContent = "none";
    }
    wrap.appendChild(node);
    return wrap;
  }

  function series(s, panel) {
    const fig = el("figure");
    fig.appendChild(el("figcaption", s.title + " (" + s.unit + ")"));
    const box = el("div", undefined, "room-chart");
    fig.appendChild(box);
    panel.appendChild(fig);
    if (!s.t.length) {
      box.textContent = "no points in the window";
      return;
    }
    const names = Object.keys(s.lines);
    const opts = {
      width: Math.max(300, box.clientWidth || panel.clientWidth - 40 || 400),
      height: 180,
      series: [{}, ...names.map((name, i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 2 }))],
      scales: { x: { time: true } },
    };
    plots.push(new uPlot(opts, [s.t, ...names.map((n) => s.lines[n])], box));
  }

  function panel(name, room) {
    const div = el("div", undefined, "wide room-panel");
    div.dataset.room = name;
    div.appendChild(el("h2", "Room: " + name));
    if (room.error) {
      div.appendChild(el("p", room.error, "muted"));
      return div;
    }
    div.appendChild(tiles(room.figures));
    // Appended before the charts are drawn, so they take the panel's real width.
    document.getElementById("room-panels").appendChild(div);
    room.tables.forEach((t) => div.appendChild(table(t)));
    room.series.forEach((s) => series(s, div));
    return div;
  }

  function render(rooms) {
    const section = document.getElementById("room-panels");
    for (const plot of plots) plot.destroy();
    plots = [];
    section.replaceChildren();
    section.className = "tables";
    const names = Object.keys(rooms);
    for (const name of names) {
      const div = panel(name, rooms[name]);
      if (!div.parentNode) section.appendChild(div);
    }
    if (!names.length) section.appendChild(el("p", "no room has figures of its own", "muted"));
    document.body.dataset.roomPanels = String(names.length);
    document.body.dataset.roomCharts = String(plots.length);
    document.body.dataset.rooms = "ready";
  }

  async function refresh() {
    try {
      const answer = await fetch("/dashboard/rooms", { credentials: "same-origin", cache: "no-store" });
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      render(await answer.json());
    } catch (error) {
      // The rest of the page stays; the panels say they could not be read.
      document.body.dataset.rooms = "error";
    }
    setTimeout(refresh, ROOMS_REFRESH_MS);
  }

  if (document.getElementById("room-panels")) refresh();
})();
