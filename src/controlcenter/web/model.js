// What the page knows: the factories and series the key may see, the latest value of every
// series (dense typed arrays indexed by series id), and each factory's tile state.
// Live frames only write numbers and mark factories dirty; the views repaint on a timer.

// Korean particulate grades, upper bounds inclusive (controlcenter/grades.py).
const GRADE_BOUNDS = { pm10: [30, 80, 150], pm25: [15, 35, 75] };
export const GRADES = ["good", "normal", "bad", "very_bad"];
// Tile metrics: which role a series plays in its factory's tile.
const ROLES = { pm10: 1, pm25: 2, kw: 3, occupied: 4, capacity: 5 };
export const SEVERITY_RANK = { info: 1, warning: 2, critical: 3 };

/** Grade code 0..3 of a particulate reading (number of bounds below it). */
export function gradeCode(metric, value) {
  const bounds = GRADE_BOUNDS[metric];
  let i = 0;
  while (i < 3 && value > bounds[i]) i++;
  return i;
}

/**
 * A factory's state, one definition for the tiles, the header and the alerts: the worst
 * severity of its active alerts (the alert rules decide; README "Factory states").
 *   level -1 no data (no reading and no alert), 0 ok (no active alert),
 *   1 info, 2 warning, 3 critical (its worst active alert).
 */
export const LEVELS = ["ok", "info", "warning", "critical"];

/** Level 0..3 of some alert counts by severity (0: none active). */
export function alertLevel(counts) {
  return counts.critical ? 3 : counts.warning ? 2 : counts.info ? 1 : 0;
}

/**
 * The colour level of an air-quality grade, as the default rules pm10-grade and pm25-grade
 * raise alerts: good and normal (좋음, 보통) are ok, bad (나쁨) warning, very bad (매우나쁨)
 * critical.
 */
export const GRADE_LEVEL = [0, 0, 2, 3];

export function factoryKey(site, factory) {
  return `${site}/${factory}`;
}

export class Store {
  constructor() {
    this.factories = []; // {idx, site, factory, name, contract_kw, gateway_status, key}
    this.byKey = new Map(); // "site/factory" -> factory
    this.series = new Map(); // id -> {series_id, site, factory, kind, sensor, metric, unit, f}
    this.fSeries = []; // per factory index: series ids
    this.summaries = new Map(); // factory key -> summary (seed until live values arrive)
    this.cap = 0;
    this.sFactory = new Int32Array(0);
    this.sRole = new Uint8Array(0);
    this.lastT = new Float64Array(0); // ms since epoch, 0 = none
    this.lastV = new Float64Array(0);
    this.dirty = new Set(); // factory indices whose tile must be recomputed
    this.unknown = 0; // readings of series not in the catalog (a reload is due)
    this.watched = null; // Set of series ids whose every frame a chart wants
    this.pending = []; // [id, t ms, v] for watched series since the last paint
    this.version = 0; // bumped on every applied frame
  }

  grow(n) {
    if (n <= this.cap) return;
    const cap = Math.max(n, this.cap * 2, 1024);
    const f = new Int32Array(cap).fill(-1);
    f.set(this.sFactory);
    const r = new Uint8Array(cap);
    r.set(this.sRole);
    const t = new Float64Array(cap);
    t.set(this.lastT);
    const v = new Float64Array(cap).fill(NaN);
    v.set(this.lastV);
    Object.assign(this, { sFactory: f, sRole: r, lastT: t, lastV: v, cap });
  }

  setFactories(items) {
    const old = this.byKey;
    this.factories = [];
    this.byKey = new Map();
    items.sort((a, b) => a.site.localeCompare(b.site) || a.factory.localeCompare(b.factory));
    for (const item of items) {
      const key = factoryKey(item.site, item.factory);
      const f = { ...old.get(key), ...item, key, idx: this.factories.length };
      this.factories.push(f);
      this.byKey.set(key, f);
    }
    this.fSeries = this.factories.map(() => []);
    for (let i = 0; i < this.factories.length; i++) this.dirty.add(i);
  }

  setSeries(items) {
    let top = 0;
    for (const s of items) top = Math.max(top, s.series_id + 1);
    this.grow(top);
    this.series = new Map();
    this.fSeries = this.factories.map(() => []);
    this.sFactory.fill(-1);
    this.sRole.fill(0);
    for (const s of items) {
      const f = this.byKey.get(factoryKey(s.site, s.factory));
      const idx = f ? f.idx : -1;
      this.series.set(s.series_id, { ...s, f: idx });
      this.sFactory[s.series_id] = idx;
      this.sRole[s.series_id] = ROLES[s.metric] ?? 0;
      if (idx >= 0) this.fSeries[idx].push(s.series_id);
    }
    this.unknown = 0;
  }

  /** Apply columns of readings (ids, µs since epoch, values); newer readings win. */
  apply(ids, timeUs, values) {
    const watched = this.watched;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= this.cap || !this.series.has(id)) {
        this.unknown++;
        continue;
      }
      const t = timeUs[i] / 1000;
      if (t < this.lastT[id]) continue;
      this.lastT[id] = t;
      this.lastV[id] = values[i];
      const f = this.sFactory[id];
      if (f >= 0) this.dirty.add(f);
      if (watched !== null && watched.has(id)) this.pending.push(id, t, values[i]);
    }
    this.version++;
  }

  /** Take the watched readings gathered since the last call (flat [id, t, v, ...]). */
  takePending() {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** A factory's tile state from the latest values (the summary fills what is unknown). */
  tile(f, alertCounts) {
    const fac = this.factories[f];
    let pm10 = null;
    let pm25 = null;
    let kw = 0;
    let meters = 0;
    let occupied = 0;
    let capacity = 0;
    let parks = 0;
    for (const id of this.fSeries[f]) {
      const v = this.lastV[id];
      if (Number.isNaN(v)) continue;
      switch (this.sRole[id]) {
        case 1:
          pm10 = pm10 === null ? v : Math.max(pm10, v);
          break;
        case 2:
          pm25 = pm25 === null ? v : Math.max(pm25, v);
          break;
        case 3:
          kw += v;
          meters++;
          break;
        case 4:
          occupied += v;
          parks++;
          break;
        case 5:
          capacity += v;
          break;
        default:
      }
    }
    const sum = this.summaries.get(fac.key);
    if (pm10 === null && sum) pm10 = sum.air.pm10;
    if (pm25 === null && sum) pm25 = sum.air.pm25;
    if (meters === 0 && sum && sum.power.meters) {
      kw = sum.power.demand_kw;
      meters = sum.power.meters;
    }
    if (parks === 0 && sum && sum.parking.capacity) {
      occupied = sum.parking.occupied;
      capacity = sum.parking.capacity;
      parks = 1;
    }
    const grades = [];
    if (pm10 !== null) grades.push(gradeCode("pm10", pm10));
    if (pm25 !== null) grades.push(gradeCode("pm25", pm25));
    const grade = grades.length ? Math.max(...grades) : -1;
    const contract = fac.contract_kw || null;
    const util = meters && contract ? kw / contract : null;
    const occ = parks && capacity > 0 ? occupied / capacity : null;
    const alerts = alertCounts ?? sum?.alerts?.by_severity ?? {};
    const offline = fac.gateway_status === "offline";
    const known = pm10 !== null || pm25 !== null || meters > 0 || parks > 0;
    const level = Math.max(alertLevel(alerts), known ? 0 : -1);
    return {
      pm10,
      pm25,
      grade,
      kw: meters ? kw : null,
      contract,
      util,
      occupied: parks ? occupied : null,
      capacity: parks ? capacity : null,
      occ,
      alerts,
      offline,
      level,
    };
  }
}
