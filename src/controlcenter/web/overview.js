// The complex overview: one tile per factory, coloured by its state (model.js: the worst
// severity of its active alerts), the PM2.5 value coloured by its Korean grade.
// Tiles are built once per catalog load and then updated in place, dirty ones only.

import { t, num } from "./i18n.js";
import { pct, quantity, si } from "./format.js";
import { GRADES, gradeCode } from "./model.js";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class Overview {
  constructor(root, store, book) {
    this.root = root;
    this.grid = root.querySelector("#tiles");
    this.stats = root.querySelector("#overview-stats");
    this.filter = root.querySelector("#tile-filter");
    this.store = store;
    this.book = book;
    this.tiles = []; // per factory index: {a, fields, last}
    this.bookVersion = -1;
    this.states = []; // per factory index: the last computed tile state
    this.filter.addEventListener("input", () => this.applyFilter());
  }

  /** Build every tile (after the catalog loaded or changed). */
  build() {
    this.grid.replaceChildren();
    this.tiles = [];
    this.states = [];
    let section = null;
    let site = null;
    for (const f of this.store.factories) {
      if (f.site !== site) {
        site = f.site;
        section = el("section", "site");
        section.append(el("h3", "site-title", site));
        const tiles = el("div", "tile-grid");
        section.append(tiles);
        this.grid.append(section);
      }
      const tile = this.buildTile(f);
      section.lastChild.append(tile.a);
      this.tiles.push(tile);
      this.states.push(null);
    }
    if (!this.store.factories.length) this.grid.append(el("p", "empty", t("overview.empty")));
    this.applyFilter();
    this.relabel();
  }

  buildTile(f) {
    const a = el("a", "tile lvl-none");
    a.href = `#/f/${encodeURIComponent(f.site)}/${encodeURIComponent(f.factory)}`;
    a.dataset.factory = f.key;
    const head = el("div", "t-head");
    const code = el("span", "t-code", f.factory);
    const badge = el("span", "t-alerts");
    head.append(code, badge);
    const name = el("div", "t-name", f.name ?? "");
    const rows = {};
    for (const [metric, label] of [
      ["pm25", "tile.pm25"],
      ["power", "tile.power"],
      ["parking", "tile.parking"],
    ]) {
      const row = el("div", "t-row");
      const l = el("span", "t-label");
      l.dataset.i18n = label;
      const v = el("span", "t-val");
      v.dataset.metric = metric;
      row.append(l, v);
      rows[metric] = v;
    }
    const off = el("div", "t-off");
    off.dataset.i18n = "tile.offline";
    a.append(head, name, ...Object.values(rows).map((v) => v.parentNode), off);
    return { a, badge, rows, off, last: {} };
  }

  applyFilter() {
    const q = this.filter.value.trim().toLowerCase();
    for (const [i, tile] of this.tiles.entries()) {
      const f = this.store.factories[i];
      const hit = !q || f.factory.toLowerCase().includes(q) || (f.name ?? "").toLowerCase().includes(q);
      tile.a.hidden = !hit;
    }
  }

  relabel() {
    for (const e of this.grid.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
    for (const tile of this.tiles) tile.last = {};
    for (let i = 0; i < this.tiles.length; i++) this.store.dirty.add(i);
  }

  /** Update the dirty tiles and the header figures. */
  paint() {
    const store = this.store;
    if (this.book.version !== this.bookVersion) {
      this.bookVersion = this.book.version;
      for (let i = 0; i < this.tiles.length; i++) store.dirty.add(i);
    }
    if (!store.dirty.size) return;
    const counts = this.book.complete ? this.book.counts() : null;
    const none = { critical: 0, warning: 0, info: 0, total: 0 };
    for (const i of store.dirty) {
      const tile = this.tiles[i];
      if (!tile) continue;
      const f = store.factories[i];
      const st = store.tile(i, counts ? counts.get(f.key) ?? none : null);
      this.states[i] = st;
      this.update(tile, st);
    }
    store.dirty.clear();
    this.paintStats();
  }

  update(tile, st) {
    const set = (key, node, text) => {
      if (tile.last[key] !== text) {
        tile.last[key] = text;
        node.textContent = text;
      }
    };
    const level = st.level < 0 ? "none" : String(st.level);
    if (tile.last.level !== level) {
      tile.last.level = level;
      tile.a.className = `tile lvl-${level}`;
      tile.a.dataset.level = level;
    }
    // The grade beside PM2.5 is PM2.5's own (the air's, worst of PM10 and PM2.5, is the
    // factory view's), and the value keeps a decimal where rounding would cross a band:
    // 35.4 is "bad" and would read "35", which the Korean table calls "normal".
    const code = st.pm25 === null ? -1 : gradeCode("pm25", st.pm25);
    const grade = code >= 0 ? GRADES[code] : "none";
    if (tile.last.pm25 !== `${st.pm25}|${grade}`) {
      tile.last.pm25 = `${st.pm25}|${grade}`;
      const digits = code >= 0 && gradeCode("pm25", Math.round(st.pm25)) !== code ? 1 : 0;
      const value = el("span", "t-num", st.pm25 === null ? "–" : num(st.pm25, digits));
      const label = el("span", "t-grade", code >= 0 ? ` ${t(`grade.${grade}`)}` : "");
      tile.rows.pm25.replaceChildren(value, label);
      tile.rows.pm25.dataset.grade = grade;
    }
    set("power", tile.rows.power, st.util !== null ? pct(st.util) : st.kw !== null ? quantity(st.kw, "kW") : "–");
    set("parking", tile.rows.parking, pct(st.occ));
    const total = (st.alerts.critical ?? 0) + (st.alerts.warning ?? 0) + (st.alerts.info ?? 0);
    set("alerts", tile.badge, total ? String(total) : "");
    tile.badge.className = `t-alerts${st.alerts.critical ? " crit" : st.alerts.warning ? " warn" : total ? " info" : ""}`;
    tile.off.hidden = !st.offline;
  }

  paintStats() {
    const byLevel = [0, 0, 0, 0, 0];
    let kw = 0;
    let contract = 0;
    const sev = { critical: 0, warning: 0, info: 0 };
    for (const st of this.states) {
      if (!st) continue;
      byLevel[st.level + 1]++;
      if (st.kw !== null) kw += st.kw;
      if (st.contract && st.kw !== null) contract += st.contract;
      for (const k of Object.keys(sev)) sev[k] += st.alerts[k] ?? 0;
    }
    const s = this.stats;
    s.querySelector('[data-stat="factories"]').textContent = num(this.states.length);
    for (let lvl = -1; lvl <= 3; lvl++) {
      const chip = s.querySelector(`[data-stat="lvl-${lvl < 0 ? "none" : lvl}"]`);
      if (chip) chip.textContent = num(byLevel[lvl + 1]);
    }
    s.querySelector('[data-stat="demand"]').textContent = contract
      ? `${si(kw)} / ${si(contract)} kW (${pct(kw / contract)})`
      : `${si(kw)} kW`;
    for (const [k, n] of Object.entries(sev)) s.querySelector(`[data-stat="alerts-${k}"]`).textContent = num(n);
  }
}
