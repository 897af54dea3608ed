// The factory view: live charts of the factory's series (uPlot: one chart per metric, one
// line per sensor), history with server-side downsampling, sensors' last-seen times and the
// factory's open alerts. Live points come from the shared live feed (store.watched).

import { t, num, ago } from "./i18n.js";
import { GRADES } from "./model.js";

/* global uPlot */

const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400 };
const PALETTE = ["#4cc9f0", "#f72585", "#b5e48c", "#ffd166", "#c77dff", "#06d6a0", "#ff8c42", "#90a4ae"];
const HISTORY_SERIES = 100; // the API's max_history_series default
const CHART_HEIGHT = 170;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class FactoryView {
  constructor(root, { api, store, book, makeAlertList, onError }) {
    this.root = root;
    this.api = api;
    this.store = store;
    this.book = book;
    this.onError = onError;
    this.alertList = makeAlertList(root.querySelector("#factory-alerts"));
    this.range = "1h";
    this.fac = null;
    this.groups = []; // {key, kind, metric, unit, ids, bufs: Map id -> {t: [], v: []}, chart, dirty}
    this.sensors = []; // {kind, sensor, location, ids, row cells}
    this.token = 0;
    this.resize = new ResizeObserver(() => this.fit());
    const select = root.querySelector("#range");
    select.addEventListener("change", () => {
      this.range = select.value;
      this.loadHistory();
    });
  }

  /** Show a factory (or "not visible" when the key does not see it). */
  async open(site, factory) {
    this.close();
    const token = ++this.token;
    const key = `${site}/${factory}`;
    const fac = this.store.byKey.get(key);
    const title = this.root.querySelector("#factory-title");
    const body = this.root.querySelector("#factory-body");
    if (!fac) {
      title.textContent = key;
      body.hidden = true;
      this.root.querySelector("#factory-missing").hidden = false;
      return;
    }
    this.fac = fac;
    body.hidden = false;
    this.root.querySelector("#factory-missing").hidden = true;
    title.textContent = fac.name ? `${fac.factory} · ${fac.name}` : fac.factory;
    this.root.querySelector("#factory-meta").textContent =
      [fac.site, fac.industry, fac.contract_kw ? `${num(fac.contract_kw)} kW` : null].filter(Boolean).join(" · ");
    const ids = this.store.fSeries[fac.idx];
    this.store.watched = new Set(ids);
    this.store.takePending();
    this.buildCharts(ids);
    this.paintCards();
    let sensors = [];
    try {
      sensors = await this.api.getAll("/api/v1/sensors", { site, factory });
    } catch (err) {
      this.onError(err);
    }
    if (token !== this.token) return;
    this.buildSensors(sensors, ids);
    await this.loadHistory();
  }

  close() {
    this.token++;
    this.store.watched = null;
    this.store.pending = [];
    for (const g of this.groups) g.chart?.destroy();
    this.groups = [];
    this.sensors = [];
    this.fac = null;
    this.resize.disconnect();
    this.root.querySelector("#charts").replaceChildren();
    this.root.querySelector("#sensor-rows").replaceChildren();
  }

  buildCharts(ids) {
    const byMetric = new Map();
    for (const id of ids) {
      const s = this.store.series.get(id);
      const key = `${s.kind}/${s.metric}`;
      if (!byMetric.has(key)) {
        byMetric.set(key, { key, kind: s.kind, metric: s.metric, unit: s.unit, ids: [], bufs: new Map() });
      }
      byMetric.get(key).ids.push(id);
    }
    const order = { air: 0, power: 1, parking: 2 };
    this.groups = [...byMetric.values()].sort(
      (a, b) => (order[a.kind] ?? 9) - (order[b.kind] ?? 9) || a.metric.localeCompare(b.metric),
    );
    const holder = this.root.querySelector("#charts");
    for (const g of this.groups) {
      g.ids.sort((a, b) => this.store.series.get(a).sensor.localeCompare(this.store.series.get(b).sensor));
      for (const id of g.ids) g.bufs.set(id, { t: [], v: [] });
      const card = el("div", "chart-card");
      card.dataset.chart = g.key;
      const head = el("div", "chart-title");
      head.append(el("span", "chart-kind", t(`kind.${g.kind}`)), el("span", "chart-metric", ` ${g.metric}`));
      if (g.unit) head.append(el("span", "chart-unit", ` (${g.unit})`));
      const plot = el("div", "chart-plot");
      card.append(head, plot);
      holder.append(card);
      g.plot = plot;
      g.chart = new uPlot(this.chartOptions(g, plot.clientWidth || 400), this.data(g), plot);
      g.dirty = false;
      this.resize.observe(plot);
    }
  }

  chartOptions(g, width) {
    const axis = { stroke: "#8fa3b8", grid: { stroke: "#223040", width: 1 }, ticks: { stroke: "#223040" } };
    return {
      width,
      height: CHART_HEIGHT,
      pxAlign: 0,
      // The x axis always spans the chosen range up to now, however few points there are.
      scales: { x: { time: true, range: () => this.window() } },
      axes: [axis, { ...axis, size: 56 }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        {},
        ...g.ids.map((id, i) => ({
          label: this.store.series.get(id).sensor,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          spanGaps: true,
          points: { show: (u, si, i0, i1) => i1 - i0 < 40, size: 5 },
        })),
      ],
    };
  }

  /** [start, end] of the chart window in seconds. */
  window() {
    const now = Date.now() / 1000;
    return [now - RANGES[this.range], now + 5];
  }

  /** The group's points aligned on one time axis (uPlot.join fills gaps). */
  data(g) {
    const tables = g.ids.map((id) => {
      const b = g.bufs.get(id);
      return [b.t, b.v];
    });
    if (tables.length === 1) return tables[0];
    return uPlot.join(tables);
  }

  fit() {
    for (const g of this.groups) {
      const w = g.plot.clientWidth;
      if (w && g.chart && Math.abs(g.chart.width - w) > 2) g.chart.setSize({ width: w, height: CHART_HEIGHT });
    }
  }

  /** Downsampled history of every group (server-side: at most max_points per series). */
  async loadHistory() {
    const token = this.token;
    const span = RANGES[this.range];
    const end = new Date(Date.now() + 5000);
    const start = new Date(end.getTime() - span * 1000);
    const jobs = [];
    for (const g of this.groups) {
      const points = Math.max(60, Math.min(1000, Math.round(g.plot.clientWidth || 600)));
      for (let i = 0; i < g.ids.length; i += HISTORY_SERIES) {
        const ids = g.ids.slice(i, i + HISTORY_SERIES);
        jobs.push(
          this.api
            .get("/api/v1/history", { series: ids, start: start.toISOString(), end: end.toISOString(), max_points: points })
            .then((doc) => ({ g, doc })),
        );
      }
    }
    const results = await Promise.allSettled(jobs);
    if (token !== this.token) return;
    for (const r of results) {
      if (r.status !== "fulfilled") {
        this.onError(r.reason);
        continue;
      }
      const { g, doc } = r.value;
      for (const s of doc.series) {
        const b = g.bufs.get(s.series_id);
        if (!b) continue;
        const live = b.t.length ? { t: b.t, v: b.v } : null;
        b.t = s.time.map((x) => Date.parse(x) / 1000);
        b.v = s.avg.slice();
        // Keep live points newer than the history's last bucket.
        if (live) {
          const lastT = b.t.length ? b.t[b.t.length - 1] : -Infinity;
          for (let i = 0; i < live.t.length; i++) {
            if (live.t[i] > lastT) {
              b.t.push(live.t[i]);
              b.v.push(live.v[i]);
            }
          }
        }
      }
      g.dirty = true;
    }
    this.paint(true);
  }

  buildSensors(sensors, ids) {
    const bySensor = new Map();
    for (const id of ids) {
      const s = this.store.series.get(id);
      const key = `${s.kind}/${s.sensor}`;
      if (!bySensor.has(key)) bySensor.set(key, []);
      bySensor.get(key).push(id);
    }
    const tbody = this.root.querySelector("#sensor-rows");
    tbody.replaceChildren();
    this.sensors = [];
    for (const s of sensors) {
      const sids = bySensor.get(`${s.kind}/${s.sensor}`) ?? [];
      const tr = el("tr");
      tr.dataset.sensor = `${s.kind}/${s.sensor}`;
      const kind = el("td", "", t(`kind.${s.kind}`));
      const values = el("td", "s-values");
      const seen = el("td", "s-seen");
      tr.append(el("td", "s-code", s.sensor), kind, el("td", "", s.location ?? ""), values, seen);
      tbody.append(tr);
      this.sensors.push({ ...s, ids: sids, kind_cell: kind, values, seen, last: "" });
    }
  }

  /** Append live points, trim to the range, redraw changed charts, cards and sensors. */
  paint(force = false) {
    if (!this.fac) return;
    const pending = this.store.takePending();
    if (pending.length) {
      const groupOf = new Map();
      for (const g of this.groups) for (const id of g.ids) groupOf.set(id, g);
      for (let i = 0; i < pending.length; i += 3) {
        const g = groupOf.get(pending[i]);
        if (!g) continue;
        const b = g.bufs.get(pending[i]);
        const ts = pending[i + 1] / 1000;
        if (b.t.length && ts <= b.t[b.t.length - 1]) continue;
        b.t.push(ts);
        b.v.push(pending[i + 2]);
        g.dirty = true;
      }
    }
    const cutoff = Date.now() / 1000 - RANGES[this.range];
    for (const g of this.groups) {
      if (!g.dirty && !force) continue;
      for (const b of g.bufs.values()) {
        let k = 0;
        while (k < b.t.length && b.t[k] < cutoff) k++;
        if (k) {
          b.t.splice(0, k);
          b.v.splice(0, k);
        }
      }
      g.chart.setData(this.data(g));
      g.dirty = false;
    }
    this.paintCards();
    this.paintSensors();
    this.paintAlerts();
  }

  paintCards() {
    const st = this.store.tile(this.fac.idx, this.book.complete ? this.book.counts().get(this.fac.key) ?? {} : null);
    const cards = this.root.querySelector("#factory-cards");
    const set = (name, text) => {
      const node = cards.querySelector(`[data-card="${name}"]`);
      if (node.textContent !== text) node.textContent = text;
    };
    const grade = st.grade >= 0 ? t(`grade.${GRADES[st.grade]}`) : t("level.none");
    set("air", grade);
    set("air-detail", `PM10 ${num(st.pm10)} · PM2.5 ${num(st.pm25)} µg/m³`);
    set("power", st.kw === null ? "–" : `${num(st.kw)} kW`);
    set("power-detail", st.util === null ? "" : `${num(st.util * 100)}% ${t("factory.contract")}`);
    set("parking", st.occ === null ? "–" : `${num(st.occ * 100)}%`);
    set("parking-detail", st.capacity === null ? "" : `${num(st.occupied)} / ${num(st.capacity)}`);
    cards.dataset.level = st.level < 0 ? "none" : String(st.level);
    cards.querySelector('[data-card="air"]').parentNode.dataset.grade = st.grade >= 0 ? GRADES[st.grade] : "none";
    this.root.querySelector("#factory-offline").hidden = !st.offline;
  }

  paintSensors() {
    const now = Date.now();
    const store = this.store;
    for (const s of this.sensors) {
      let seen = 0;
      const parts = [];
      for (const id of s.ids) {
        seen = Math.max(seen, store.lastT[id]);
        const v = store.lastV[id];
        if (!Number.isNaN(v)) parts.push(`${store.series.get(id).metric} ${num(v, Math.abs(v) < 10 ? 2 : 1)}`);
      }
      const text = parts.join(" · ");
      if (text !== s.last) {
        s.values.textContent = text;
        s.last = text;
      }
      s.seen.textContent = ago(seen, now);
      s.seen.dataset.ms = String(seen);
    }
  }

  paintAlerts() {
    const { site, factory } = this.fac;
    this.alertList.render(
      this.book.sorted((a) => a.site === site && a.factory === factory),
      t("factory.none_alerts"),
    );
  }

  relabel() {
    this.alertList.invalidate();
    for (const g of this.groups) {
      const kind = g.plot.parentNode.querySelector(".chart-kind");
      kind.textContent = t(`kind.${g.kind}`);
    }
    for (const s of this.sensors) s.kind_cell.textContent = t(`kind.${s.kind}`);
    if (this.fac) this.paint(true);
  }
}
