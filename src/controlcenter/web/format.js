// The one place that formats units, quantities, dates and times for display.
//
// Units: the MQTT contract's plain spellings ("ug/m3", "C") become "µg/m³", "°C"; word
// units follow the language. Dates and times follow the language (Korean: "2026. 12. 5.
// 오후 7:30"; English: ISO-like "2026-12-05 19:30", 24 h) and are always shown in the
// complex's time zone (CC_TIME_ZONE, from GET /api/v1/config), never the browser's.

import { currentLang, define, num, t } from "./i18n.js";

// The contract's unit spellings, as shown; word units are dictionary keys.
const UNIT_TEXT = { "ug/m3": "µg/m³", C: "°C", spaces: "unit.spaces", "m3/h": "m³/h", deg: "°", state: "" };
// Each metric's fixed unit (the sensor-kind registry, GET /api/v1/kinds; these until it is
// read), for values without a series.
const METRIC_UNIT = {
  pm10: "ug/m3",
  pm25: "ug/m3",
  co2: "ppm",
  voc: "ppb",
  temp: "C",
  humidity: "%",
  kw: "kW",
  kwh: "kWh",
  voltage: "V",
  current: "A",
  pf: "",
  occupied: "spaces",
  capacity: "spaces",
};
// Metric names as shown (chart titles, sensor rows).
const METRIC_LABEL = { pm10: "PM10", pm25: "PM2.5", co2: "CO2", voc: "VOC", kw: "kW", kwh: "kWh", pf: "PF" };
const SI = [
  [1e12, "T"],
  [1e9, "G"],
  [1e6, "M"],
  [1e3, "k"],
];

// Kinds in registry order (charts and sensor rows are grouped by it).
const KIND_ORDER = new Map(["air", "power", "parking"].map((k, i) => [k, i]));

/** Take the sensor-kind registry (GET /api/v1/kinds): units, kind titles and order. */
export function setKinds(kinds) {
  KIND_ORDER.clear();
  for (const kind of kinds) {
    KIND_ORDER.set(kind.name, KIND_ORDER.size);
    define(`kind.${kind.name}`, kind.title);
    for (const [metric, spec] of Object.entries(kind.metrics)) {
      if (!(metric in METRIC_UNIT)) METRIC_UNIT[metric] = spec.unit;
    }
  }
}

/** A kind's place in the registry (unknown kinds last). */
export function kindOrder(kind) {
  return KIND_ORDER.get(kind) ?? KIND_ORDER.size;
}

let zone = "Asia/Seoul";
const cache = new Map(); // Intl formats are costly to build: one per language, zone and kind

/** Use `tz` (an IANA name) for every date and time from now on. */
export function setTimeZone(tz) {
  zone = tz;
  cache.clear();
}

/** The complex's time zone. */
export function timeZone() {
  return zone;
}

/** A unit as shown: "µg/m³" for "ug/m3", "°C" for "C", a word in the current language. */
export function unitText(unit) {
  if (!unit) return "";
  const shown = UNIT_TEXT[unit] ?? unit;
  return shown.startsWith("unit.") ? t(shown) : shown;
}

/** The unit of a metric (its fixed contract unit) as shown. */
export function metricUnit(metric) {
  return unitText(METRIC_UNIT[metric] ?? "");
}

/** A metric's name as shown ("PM2.5" for pm25). */
export function metricLabel(metric) {
  return METRIC_LABEL[metric] ?? metric;
}

/** A value with its unit: "36 spaces", "41.5 µg/m³", "97%". */
export function quantity(v, unit, digits = 0) {
  const text = num(v, digits);
  const u = unitText(unit);
  if (!u || text === "–") return text;
  return u === "%" || u === "°C" ? `${text}${u}` : `${text} ${u}`;
}

/** Decimals that suit a value: 2 below 10, 1 below 1,000, none above. */
export function digitsFor(v) {
  if (Number.isInteger(v)) return 0;
  const a = Math.abs(v);
  return a < 10 ? 2 : a < 1000 ? 1 : 0;
}

/** A share as a percentage: 0.253 -> "25.3%"; an absurd one (a broken meter's sum) stays
 * short, never a run of digits: 8.5e305 -> "8.50e+307%". */
export function pct(ratio) {
  if (ratio === null || ratio === undefined) return "–";
  const p = ratio * 100;
  return `${Math.abs(p) >= 1e4 ? si(p) : num(p)}%`;
}

/** A compact number with an SI prefix from 10,000 up: 2,027,621 -> "2.03M", 12,500 -> "12.5k". */
export function si(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  // Beyond a thousand of the largest prefix: a mantissa and exponent, never a run of digits.
  if (a >= 1e15) return v.toExponential(2);
  if (a >= 1e4) {
    for (const [scale, prefix] of SI) {
      if (a >= scale) {
        const x = v / scale;
        return `${num(x, Math.abs(x) < 10 ? 2 : Math.abs(x) < 100 ? 1 : 0)}${prefix}`;
      }
    }
  }
  return num(v, digits ?? (a < 10 && a !== Math.trunc(a) ? 2 : a < 100 && a !== Math.trunc(a) ? 1 : 0));
}

function format(kind) {
  const lang = currentLang();
  const key = `${lang}|${zone}|${kind}`;
  let fmt = cache.get(key);
  if (fmt) return fmt;
  const clock = { hour: "numeric", minute: "2-digit", timeZone: zone };
  const date = { year: "numeric", month: "numeric", day: "numeric", timeZone: zone };
  const opts = {
    dateTime: { ...date, ...clock },
    dateTimeSeconds: { ...date, ...clock, second: "2-digit" },
    time: clock,
    timeSeconds: { ...clock, second: "2-digit" },
    day: { month: "numeric", day: "numeric", timeZone: zone },
  }[kind];
  if (lang === "ko") {
    fmt = new Intl.DateTimeFormat("ko-KR", opts);
  } else {
    // English: ISO-like, built from parts (2026-12-05 19:30:05), 24 h.
    const parts = new Intl.DateTimeFormat("en-GB", { ...opts, hourCycle: "h23", month: opts.month && "2-digit", day: opts.day && "2-digit", hour: opts.hour && "2-digit" });
    fmt = { format: (d) => iso(parts.formatToParts(d)) };
  }
  cache.set(key, fmt);
  return fmt;
}

function iso(parts) {
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  const day = p.year ? `${p.year}-${p.month}-${p.day}` : p.month ? `${p.month}-${p.day}` : "";
  const clock = p.hour ? `${p.hour}:${p.minute}${p.second ? `:${p.second}` : ""}` : "";
  return [day, clock].filter(Boolean).join(" ");
}

function toDate(x) {
  if (x === null || x === undefined || x === "") return null;
  const d = x instanceof Date ? x : new Date(x);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Date and time (ms since the epoch, ISO text or Date), with seconds when asked. */
export function dateTime(x, seconds = false) {
  const d = toDate(x);
  return d ? format(seconds ? "dateTimeSeconds" : "dateTime").format(d) : "";
}

/** Time of day only. */
export function timeOfDay(x, seconds = false) {
  const d = toDate(x);
  return d ? format(seconds ? "timeSeconds" : "time").format(d) : "";
}

/** Month and day only ("12. 5." / "12-05"). */
export function dayOf(x) {
  const d = toDate(x);
  return d ? format("day").format(d) : "";
}

/**
 * Labels of a time axis (ticks in seconds since the epoch): the time of day, and under the
 * first tick and wherever the day changes, the day.
 */
export function timeTicks(splits, stepS) {
  let lastDay = "";
  return splits.map((s) => {
    const ms = s * 1000;
    const day = dayOf(ms);
    const clock = timeOfDay(ms, stepS < 60);
    const label = day !== lastDay ? `${clock}\n${day}` : clock;
    lastDay = day;
    return label;
  });
}

/** Decimals that show a step exactly (0.25 -> 2, 20 -> 0), at most 6. */
function stepDigits(step) {
  for (let d = 0; d < 6; d++) {
    const x = step * 10 ** d;
    if (Math.round(x) >= 1 && Math.abs(x - Math.round(x)) < 1e-6 * x) return d;
  }
  return 6;
}

/**
 * Labels of a value axis (ticks `incr` apart): from 10,000 up with an SI prefix when that
 * keeps the ticks distinct in at most two decimals ("2.03M"), in full otherwise
 * ("2,027,620" for a counter's narrow range); decimals enough to tell ticks apart.
 */
export function valueTicks(splits, incr) {
  const top = Math.max(...splits.map((v) => Math.abs(v)));
  const step = incr || 1;
  if (top >= 1e4) {
    const [scale, prefix] = SI.find(([s]) => top >= s);
    const d = stepDigits(step / scale);
    if (d <= 2) return splits.map((v) => (v === 0 ? "0" : `${num(v / scale, d)}${prefix}`));
  }
  return splits.map((v) => num(v, stepDigits(step)));
}
