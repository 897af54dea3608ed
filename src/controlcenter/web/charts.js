// The factory view's charts: lines that join downsampled history and live readings on one
// bucket grid, the window they are drawn in, and uPlot options whose axes fit their labels.
//
// The history comes in buckets of `bucket_s` seconds from `start` (averages with their
// counts). Live readings that arrive afterwards are averaged into the same grid (the last,
// partial history bucket takes them in by count), so the line keeps one resolution and
// does not end in a spike of raw points after smoothed ones.

import { t } from "./i18n.js";
import { dateTime, digitsFor, quantity, timeOfDay, timeTicks, timeZone, valueTicks } from "./format.js";

/* global uPlot */

export const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400 };
const PALETTE = ["#4cc9f0", "#f72585", "#b5e48c", "#ffd166", "#c77dff", "#06d6a0", "#ff8c42", "#90a4ae"];
const AXIS_FONT = '12px "CC Noto Sans KR", system-ui, sans-serif';
const MIN_WINDOW_S = 120;
// Time tick steps (s): uPlot's own jump from 1 to 5 minutes leaves a young chart one tick.
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** One series on a chart: history buckets, then the live readings since the history. */
export class Line {
  constructor() {
    this.ht = []; // history bucket starts (s)
    this.hv = []; // their averages
    this.hc = []; // their reading counts
    this.lt = []; // live readings (s), newer than `grid.since`
    this.lv = [];
  }

  /** Replace the history; keep the live readings it does not hold (at or after `since`). */
  setHistory(time, avg, count, since) {
    this.ht = time;
    this.hv = avg;
    this.hc = count;
    let k = 0;
    while (k < this.lt.length && this.lt[k] < since) k++;
    this.lt.splice(0, k);
    this.lv.splice(0, k);
  }

  /** Add a live reading; false when it is not newer than the last one. */
  addLive(ts, v) {
    const n = this.lt.length;
    if (n && ts <= this.lt[n - 1]) return false;
    this.lt.push(ts);
    this.lv.push(v);
    return true;
  }

  /** Drop what is older than `cutoff` (s). */
  trim(cutoff) {
    for (const [t, ...cols] of [
      [this.ht, this.hv, this.hc],
      [this.lt, this.lv],
    ]) {
      let k = 0;
      while (k < t.length && t[k] < cutoff) k++;
      if (k) for (const c of [t, ...cols]) c.splice(0, k);
    }
  }

  /** The points to draw: history buckets, live readings averaged into the same grid. */
  points(grid) {
    const t = this.ht.slice();
    const v = this.hv.slice();
    const c = this.hc.slice();
    for (let i = 0; i < this.lt.length; i++) {
      const ts = this.lt[i];
      if (grid && ts < grid.since) continue;
      const bucket = grid ? grid.origin + Math.floor((ts - grid.origin) / grid.step) * grid.step : ts;
      const n = t.length;
      // The same bucket (history times come in ms; the grid is exact): within half a step.
      if (n && grid && Math.abs(t[n - 1] - bucket) < grid.step / 2) {
        const k = c[n - 1] ?? 1;
        v[n - 1] = v[n - 1] === null ? this.lv[i] : (v[n - 1] * k + this.lv[i]) / (k + 1);
        c[n - 1] = k + 1;
      } else if (!n || bucket > t[n - 1] + (grid ? grid.step / 2 : 0)) {
        t.push(bucket);
        v.push(this.lv[i]);
        c.push(1);
      }
    }
    return [t, v];
  }
}

/**
 * The x range to draw for a range of `span` s ending now: the whole range, or when the
 * data starts later (a fresh system), from shortly before its first point.
 */
export function chartWindow(span, firstT) {
  const now = Date.now() / 1000;
  const hi = now + 2;
  let lo = now - span;
  if (firstT !== undefined && firstT > lo) lo = Math.max(lo, Math.min(firstT - (now - firstT) * 0.05, hi - MIN_WINDOW_S));
  return [lo, hi];
}

/** Width of an axis from its longest label (uPlot's `size` hook). */
function axisSize(u, values, axisIdx, cycleNum) {
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  let size = axis.ticks.size + axis.gap + 4;
  const longest = (values ?? []).reduce((acc, v) => (String(v).length > acc.length ? String(v) : acc), "");
  if (longest) {
    u.ctx.font = axis.font[0];
    size += u.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size);
}

/**
 * Pixels between time ticks (uPlot's `space` hook): the widest time label of the language
 * and a gap; labels carry seconds only when ticks are under a minute apart.
 */
function timeSpace() {
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = AXIS_FONT;
  const when = Date.UTC(2026, 11, 5, 3, 58, 58);
  const short = Math.ceil(ctx.measureText(timeOfDay(when)).width) + 24;
  const long = Math.ceil(ctx.measureText(timeOfDay(when, true)).width) + 24;
  return (u, axisIdx, min, max, dim) => ((max - min) * short >= 60 * dim ? short : long);
}

/** uPlot options of a chart with one line per label, values in `unit`. */
export function chartOptions({ width, height, labels, unit, range }) {
  const axis = { stroke: "#8fa3b8", grid: { stroke: "#223040", width: 1 }, ticks: { stroke: "#223040" }, font: AXIS_FONT };
  const shown = (v) => (v === null || v === undefined ? "–" : quantity(v, unit, digitsFor(v)));
  return {
    width,
    height,
    pxAlign: 0,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), timeZone()),
    scales: { x: { time: true, range } },
    axes: [
      { ...axis, size: 46, space: timeSpace(), incrs: TIME_INCRS, values: (u, splits, ai, space, incr) => timeTicks(splits, incr) },
      { ...axis, size: axisSize, values: (u, splits, ai, space, incr) => valueTicks(splits, incr) },
    ],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    series: [
      { label: t("chart.time"), value: (u, ts) => (ts === null || ts === undefined ? "–" : dateTime(ts * 1000, true)) },
      ...labels.map((label, i) => ({
        label,
        stroke: PALETTE[i % PALETTE.length],
        width: 1.5,
        spanGaps: true,
        points: { show: (u, si, i0, i1) => i1 - i0 < 40, size: 5 },
        value: (u, v) => shown(v),
      })),
    ],
  };
}
