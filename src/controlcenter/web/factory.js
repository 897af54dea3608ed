// The factory view: live charts of the factory's series (uPlot: one chart per metric, one
// line per sensor), history with server-side downsampling, sensors' last-seen times and the
// factory's open alerts. Live points come from the shared live feed (store.watched).

import { t, num, ago } from "./i18n.js";
import { Line, RANGES, chartOptions, chartWindow } from "./charts.js";
import { digitsFor, kindOrder, metricLabel, metricUnit, quantity, unitText } from "./format.js";
import { GRADES } from "./model.js";

/* global uPlot */

const HISTORY_SERIES = 100; // the API's max_history_series default
const CHART_HEIGHT = 170;
const HISTORY_REFRESH_MS = 300000; // live points fold back into fresh history this often

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
    this.groups = []; // {key, kind, metric, unit, ids, lines: Map id -> Line, grid, chart, dirty}
    this.sensors = []; // {kind, sensor, ids, row cells}
    this.token = 0;
    this.resize = new ResizeObserver(() => this.fit());
    const select = root.querySelector("#range");
    select.addEventListener("change", () => {
      this.range = select.value;
      this.loadedRange = null;
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
      [fac.site, fac.industry, fac.contract_kw ? quantity(fac.contract_kw, "kW") : null].filter(Boolean).join(" · ");
    const ids = this.store.fSeries[fac.idx];
    this.store.watched = new Set(ids);
    this.store.takePending();
    this.buildCharts(ids);
    this.paintCards();
    // The safety line (gas and fire alarms, the worst reading) is the server's: read it afresh.
    const path = `/api/v1/factories/${encodeURIComponent(site)}/${encodeURIComponent(factory)}/summary`;
    this.api.get(path).then(
      (doc) => {
        this.store.summaries.set(key, doc);
        if (token === this.token) this.paintCards();
      },
      (err) => this.onError(err),
    );
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
        byMetric.set(key, { key, kind: s.kind, metric: s.metric, unit: s.unit, ids: [], lines: new Map() });
      }
      byMetric.get(key).ids.push(id);
    }
    this.groups = [...byMetric.values()].sort(
      (a, b) => kindOrder(a.kind) - kindOrder(b.kind) || a.metric.localeCompare(b.metric),
    );
    const holder = this.root.querySelector("#charts");
    for (const g of this.groups) {
      g.ids.sort((a, b) => this.store.series.get(a).sensor.localeCompare(this.store.series.get(b).sensor));
      for (const id of g.ids) g.lines.set(id, new Line());
      g.grid = null; // the history's bucket grid {origin, step, since} (s)
      const card = el("div", "chart-card");
      card.dataset.chart = g.key;
      const head = el("div", "chart-title");
      head.append(el("span", "chart-kind", t(`kind.${g.kind}`)), el("span", "chart-metric", ` ${metricLabel(g.metric)}`));
      head.append(el("span", "chart-unit", g.unit ? ` (${unitText(g.unit)})` : ""));
      const plot = el("div", "chart-plot");
      card.append(head, plot);
      holder.append(card);
      g.plot = plot;
      g.chart = this.makeChart(g, plot.clientWidth || 400);
      g.dirty = false;
      this.resize.observe(plot);
    }
  }

  makeChart(g, width) {
    const opts = chartOptions({
      width,
      height: CHART_HEIGHT,
      labels: g.ids.map((id) => this.store.series.get(id).sensor),
      unit: g.unit,
      // The chosen range up to now, or from the data's start when it is younger.
      range: (u) => chartWindow(RANGES[this.range], u.data[0]?.[0]),
    });
    return new uPlot(opts, this.data(g), g.plot);
  }

  /** The group's points aligned on one time axis (uPlot.join fills gaps). */
  data(g) {
    const tables = g.ids.map((id) => g.lines.get(id).points(g.grid));
    if (tables.length === 1) return tables[0];
    return uPlot.join(tables);
  }

  fit() {
    for (const g of this.groups) {
      const w = g.plot.clientWidth;
      if (w && g.chart && Math.abs(g.chart.width - w) > 2) g.chart.setSize({ width: w, height: CHART_HEIGHT });
    }
  }

  /**
   * Downsampled history of every group (server-side: at most max_points per series). When
   * the data starts well inside the range (a young system), it is asked again from its
   * start, so that the zoomed chart gets buckets as fine as its width allows.
   */
  async loadHistory(from = null) {
    const token = this.token;
    const span = RANGES[this.range];
    const end = new Date(Date.now() + 1000);
    const start = from ?? new Date(end.getTime() - span * 1000);
    this.historyAt = Date.now();
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
      const since = end.getTime() / 1000;
      g.grid = { origin: Date.parse(doc.start) / 1000, step: doc.bucket_s, since };
      for (const s of doc.series) {
        const line = g.lines.get(s.series_id);
        if (line) line.setHistory(s.time.map((x) => Date.parse(x) / 1000), s.avg.slice(), s.count.slice(), since);
      }
      g.dirty = true;
    }
    const first = Math.min(...this.groups.flatMap((g) => [...g.lines.values()].map((l) => l.ht[0] ?? Infinity)));
    if (from === null && Number.isFinite(first) && first - start.getTime() / 1000 > span * 0.1) {
      await this.loadHistory(new Date((first - Math.max(30, (end.getTime() / 1000 - first) * 0.05)) * 1000));
      return;
    }
    this.paint(true);
    this.loadedRange = this.range; // the charts show this range's history (tests wait for it)
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
      tr.append(el("td", "s-code", s.sensor), kind, values, seen);
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
        if (g && g.lines.get(pending[i]).addLive(pending[i + 1] / 1000, pending[i + 2])) g.dirty = true;
      }
    }
    if (Date.now() - (this.historyAt ?? Date.now()) > HISTORY_REFRESH_MS) this.loadHistory();
    const cutoff = Date.now() / 1000 - RANGES[this.range];
    for (const g of this.groups) {
      if (!g.dirty && !force) continue;
      for (const line of g.lines.values()) line.trim(cutoff);
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
    set("air-detail", `PM10 ${num(st.pm10)} · PM2.5 ${quantity(st.pm25, "ug/m3")}`);
    set("power", st.kw === null ? "–" : quantity(st.kw, "kW"));
    set("power-detail", st.util === null ? "" : `${num(st.util * 100)}% ${t("factory.contract")}`);
    set("parking", st.occ === null ? "–" : `${num(st.occ * 100)}%`);
    set("parking-detail", st.capacity === null ? "" : `${num(st.occupied)} / ${num(st.capacity)}`);
    const safety = this.store.summaries.get(this.fac.key)?.safety;
    set("safety", safety ? t(safety.alarm ? "safety.alarm" : "safety.normal") : "–");
    const w = safety?.worst;
    set("safety-detail", w ? `${metricLabel(w.metric)} ${quantity(w.value, w.unit, 1)} · ${t(`safety.level.${w.level}`)}` : "");
    cards.querySelector('[data-card="safety"]').parentNode.dataset.alarm = safety?.alarm ? "true" : "false";
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
        const m = store.series.get(id).metric;
        if (!Number.isNaN(v)) parts.push(`${metricLabel(m)} ${quantity(v, metricUnit(m), digitsFor(v))}`);
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
      g.plot.parentNode.querySelector(".chart-kind").textContent = t(`kind.${g.kind}`);
      g.plot.parentNode.querySelector(".chart-unit").textContent = g.unit ? ` (${unitText(g.unit)})` : "";
      // Axis and legend texts follow the language: a new chart with the same points.
      g.chart.destroy();
      g.plot.replaceChildren();
      g.chart = this.makeChart(g, g.plot.clientWidth || 400);
    }
    for (const s of this.sensors) s.kind_cell.textContent = t(`kind.${s.kind}`);
    if (this.fac) this.paint(true);
  }
}
