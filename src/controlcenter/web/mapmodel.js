// The map's geometry, without the DOM: where each factory, sensor, wind arrow and episode
// goes, in metres on a plane with x to the east and y to the south (SVG's own axes).
//
// Frame: the site plan's (plan_x, plan_y) when a plan image was uploaded or when nothing
// has latitude and longitude; else WGS84, projected equirectangularly around the site's
// north-west corner (exact to well under a metre over a complex). A sensor without a
// position of its own stands on a small ring around its factory.

import { alertLevel, factoryKey } from "./model.js";

const EARTH_RADIUS_M = 6371008.8;
const RAD = Math.PI / 180;
export const STATE_LEVEL = { ok: 0, info: 1, warning: 2, critical: 3 };
// Kinds drawn as points, in drawing order (odour under gas).
export const POINT_KINDS = ["weather", "odor", "gas"];

function has(a, b) {
  return typeof a === "number" && typeof b === "number";
}

/** "plan" or "geo": which coordinates the map of `doc` uses (null: nothing placed). */
export function frameOf(doc) {
  const all = [...doc.factories, ...doc.sensors];
  const geo = all.some((p) => has(p.lat, p.lon));
  const plan = all.some((p) => has(p.plan_x, p.plan_y));
  if (doc.plan && plan) return "plan";
  if (geo) return "geo";
  return plan || doc.plan ? "plan" : null;
}

/** A projector from the chosen frame's coordinates to metres (null when a point has none). */
export function projector(doc, frame) {
  if (frame === "plan") return (p) => (has(p.plan_x, p.plan_y) ? [p.plan_x, p.plan_y] : null);
  const pts = [...doc.factories, ...doc.sensors].filter((p) => has(p.lat, p.lon));
  if (!pts.length) return () => null;
  const north = Math.max(...pts.map((p) => p.lat));
  const west = Math.min(...pts.map((p) => p.lon));
  const south = Math.min(...pts.map((p) => p.lat));
  const kx = EARTH_RADIUS_M * RAD * Math.cos(((north + south) / 2) * RAD);
  const ky = EARTH_RADIUS_M * RAD;
  return (p) => (has(p.lat, p.lon) ? [(p.lon - west) * kx, (north - p.lat) * ky] : null);
}

/** The SVG rotation (degrees clockwise from north-up) of an arrow pointing where a wind
 *  from `dir` degrees blows to. */
export function windRotation(dir) {
  return (((dir + 180) % 360) + 360) % 360;
}

/** The 16-point compass name of a direction ("N", "NNE", ...). */
export function compass(dir) {
  const names = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
    "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"];
  return names[Math.round((((dir % 360) + 360) % 360) / 22.5) % 16];
}

/** A round length for a scale bar about a fifth of `span` metres wide. */
export function scaleLength(span) {
  const target = span / 5;
  const p = 10 ** Math.floor(Math.log10(Math.max(target, 1)));
  return [1, 2, 5, 10].map((m) => m * p).filter((v) => v <= target).pop() ?? p;
}

/**
 * Everything the map draws for a map document (GET /api/v1/sites/{site}/map).
 * `counts` (optional): live active-alert counts per "site/factory" (alerts.js AlertBook),
 * which replace the document's states when the book holds every active alert.
 */
export function buildMap(doc, counts = null) {
  const frame = frameOf(doc);
  const at = projector(doc, frame);
  const factories = [];
  const byFactory = new Map();
  let unplaced = 0;
  for (const f of doc.factories) {
    const xy = at(f);
    if (!xy) {
      unplaced++;
      continue;
    }
    const key = factoryKey(doc.site, f.factory);
    const live = counts ? counts.get(key) : undefined;
    const level = counts ? alertLevel(live ?? {}) : STATE_LEVEL[f.state] ?? 0;
    const item = { key, factory: f.factory, name: f.name, x: xy[0], y: xy[1], level,
      offline: f.gateway_status === "offline", industry: f.industry };
    factories.push(item);
    byFactory.set(f.factory, item);
  }
  const fx = factories.map((f) => f.x);
  const fy = factories.map((f) => f.y);
  const fspan = fx.length ? Math.max(Math.max(...fx) - Math.min(...fx), Math.max(...fy) - Math.min(...fy)) : 0;
  const ringR = Math.max(fspan, 100) / 35; // metres from the factory's centre
  const ring = new Map(); // factory -> sensors placed around it so far
  const sensors = [];
  for (const s of doc.sensors) {
    let xy = at(s);
    const own = Boolean(xy);
    if (!xy) {
      const f = byFactory.get(s.factory);
      if (!f) continue;
      const n = ring.get(s.factory) ?? 0;
      ring.set(s.factory, n + 1);
      const angle = (n * 137.5 + 120) * RAD; // golden angle: never on top of each other
      xy = [f.x + ringR * Math.sin(angle), f.y - ringR * Math.cos(angle)];
    }
    sensors.push({ key: `${s.factory}/${s.kind}/${s.sensor}`, factory: s.factory,
      kind: s.kind, sensor: s.sensor, x: xy[0], y: xy[1], own,
      level: STATE_LEVEL[s.state] ?? 0 });
  }
  const xs = [...factories, ...sensors].map((p) => p.x);
  const ys = [...factories, ...sensors].map((p) => p.y);
  let width = xs.length ? Math.max(...xs) : 0;
  let height = ys.length ? Math.max(...ys) : 0;
  if (frame === "plan" && doc.plan) {
    width = Math.max(width, doc.plan.width_m);
    height = Math.max(height, doc.plan.height_m);
  }
  const span = Math.max(width, height, 100);
  const pad = span * 0.08;
  const sensorAt = new Map(sensors.map((s) => [s.key, s]));
  const episodes = (doc.episodes ?? []).map((e) => {
    const source = byFactory.get(e.source_factory) ?? null;
    const reached = (e.sensors_reached ?? [])
      .map((r) => sensorAt.get(`${r.factory}/${r.kind}/${r.sensor}`))
      .filter(Boolean);
    return { id: e.id ?? null, kind: e.kind, pollutant: e.pollutant ?? null,
      source_factory: e.source_factory, confidence: e.confidence, onset: e.onset,
      // reached: the drawn ones (point kinds); nReached: all, as the episode lists them
      source, reached, nReached: (e.sensors_reached ?? []).length };
  });
  const wind = doc.wind
    ? { ...doc.wind, rotation: windRotation(doc.wind.dir), compass: compass(doc.wind.dir) }
    : null;
  return {
    site: doc.site, frame, factories, sensors, unplaced, episodes, wind,
    plan: frame === "plan" && doc.plan ? { width: doc.plan.width_m, height: doc.plan.height_m } : null,
    view: { x: -pad, y: -pad, width: width + 2 * pad, height: height + 2 * pad },
    span, scale: scaleLength(span),
  };
}
