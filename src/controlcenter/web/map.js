// The map view: one site drawn as SVG from its factories' and sensors' positions (no tiles,
// no network beyond /api/v1), optionally over its uploaded plan image. Factories are
// coloured by their state (model.js levels), gas and odour sensors are points, the wind is
// an arrow, and an active episode is its estimated source with lines to the sensors it
// reached. The geometry is mapmodel.js's; this module only draws it.

import { t, num } from "./i18n.js";
import { dateTime } from "./format.js";
import { POINT_KINDS, buildMap, scaleLength } from "./mapmodel.js";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 10000;
const LEVEL_CLASS = ["lvl-0", "lvl-1", "lvl-2", "lvl-3"];

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function title(node, text) {
  node.append(svg("title", {}, text));
  return node;
}

/** The marker of a sensor kind, centred on (0, 0), `r` metres across. */
function marker(kind, r) {
  if (kind === "gas") return svg("rect", { x: -r, y: -r, width: 2 * r, height: 2 * r, transform: "rotate(45)" });
  if (kind === "weather") return svg("path", { d: `M0 ${-1.3 * r} L${1.2 * r} ${r} L${-1.2 * r} ${r} Z` });
  return svg("circle", { r });
}

export class MapView {
  constructor(root, { api, store, book, onError, onChange }) {
    this.onChange = onChange;
    this.root = root;
    this.api = api;
    this.store = store;
    this.book = book;
    this.onError = onError;
    this.site = null;
    this.doc = null;
    this.model = null;
    this.planUrl = null;
    this.planStamp = null;
    this.drawn = null; // what the last paint drew: the model and the alert-book version
    this.timer = null;
    this.select = root.querySelector("#map-site");
    this.svg = root.querySelector("#map-svg");
    this.wind = root.querySelector("#map-wind");
    this.info = root.querySelector("#map-info");
    this.episodesList = root.querySelector("#map-episodes");
    this.select.addEventListener("change", () => {
      location.hash = `#/map/${encodeURIComponent(this.select.value)}`;
    });
    this.zoom = null; // the visible part (SVG metres) when zoomed or panned; null: all
    this.svg.addEventListener("wheel", (ev) => this.onWheel(ev), { passive: false });
    this.svg.addEventListener("pointerdown", (ev) => this.onDrag(ev));
    this.svg.addEventListener("dblclick", () => this.setZoom(null));
  }

  /** The SVG point (metres) under a pointer event. */
  svgPoint(ev) {
    const p = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(this.svg.getScreenCTM().inverse());
    return [p.x, p.y];
  }

  setZoom(view) {
    this.zoom = view;
    if (this.model) this.draw(this.model);
  }

  /** Wheel: zoom in or out around the pointer, between a twentieth of the site and all of it. */
  onWheel(ev) {
    if (!this.model) return;
    ev.preventDefault();
    const full = this.model.view;
    const v = this.zoom ?? full;
    const k = ev.deltaY < 0 ? 0.8 : 1.25;
    const width = Math.min(Math.max(v.width * k, full.width / 20), full.width);
    if (width === full.width && k > 1) return this.setZoom(null);
    const f = width / v.width;
    const [px, py] = this.svgPoint(ev);
    this.setZoom({ x: px - (px - v.x) * f, y: py - (py - v.y) * f, width, height: v.height * f });
  }

  /** Drag: pan a zoomed map (a double click shows all of it again). */
  onDrag(ev) {
    if (!this.zoom || ev.button !== 0) return;
    const start = { ...this.zoom };
    const move = (e) => {
      const ctm = this.svg.getScreenCTM();
      const dx = (e.clientX - ev.clientX) / ctm.a;
      const dy = (e.clientY - ev.clientY) / ctm.d;
      this.setZoom({ ...start, x: start.x - dx, y: start.y - dy });
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  /** The sites the key sees (from the catalog), in order. */
  sites() {
    return [...new Set(this.store.factories.map((f) => f.site))].sort();
  }

  open(site) {
    const sites = this.sites();
    this.site = site ?? sites[0] ?? null;
    this.syncSites();
    this.doc = null;
    this.model = null;
    this.drawn = null;
    this.zoom = null;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
    return this.load();
  }

  /** The site selector lists the catalog's sites (which may load after the view opened). */
  syncSites() {
    const sites = this.sites();
    if (this.site && !sites.includes(this.site)) sites.push(this.site);
    const have = [...this.select.options].map((o) => o.value).join("\n");
    if (have !== sites.join("\n")) {
      this.select.replaceChildren(...sites.map((s) => new Option(s, s, false, s === this.site)));
    }
    this.select.value = this.site ?? "";
  }

  close() {
    clearInterval(this.timer);
    this.timer = null;
    this.site = null;
  }

  async load() {
    const site = this.site;
    if (!site) {
      this.info.textContent = t("map.no_site");
      return;
    }
    try {
      const doc = await this.api.get(`/api/v1/sites/${encodeURIComponent(site)}/map`, {
        kind: POINT_KINDS,
      });
      if (site !== this.site) return;
      if (doc.plan && doc.plan.uploaded_at !== this.planStamp) {
        this.planUrl = await this.api.dataUrl(`/api/v1/sites/${encodeURIComponent(site)}/plan`);
        this.planStamp = doc.plan.uploaded_at;
      } else if (!doc.plan) {
        this.planUrl = this.planStamp = null;
      }
      this.doc = doc;
      this.drawn = null;
      this.onChange();
    } catch (err) {
      this.onError(err);
    }
  }

  /** Redraw when the document or the live alerts changed since the last paint. */
  paint() {
    this.syncSites();
    if (!this.site && this.sites().length) {
      this.open(null); // the catalog arrived after a bare #/map
      return;
    }
    if (!this.doc) return;
    const version = this.book.complete ? this.book.version : -1;
    if (this.drawn && this.drawn.doc === this.doc && this.drawn.version === version) return;
    this.model = buildMap(this.doc, this.book.complete ? this.book.counts() : null);
    this.draw(this.model);
    this.drawn = { doc: this.doc, version };
  }

  relabel() {
    this.drawn = null;
  }

  draw(m) {
    const v = this.zoom ?? m.view;
    this.svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.width} ${v.height}`);
    this.svg.dataset.frame = m.frame ?? "none";
    this.svg.classList.toggle("zoomed", Boolean(this.zoom));
    const span = Math.max(v.width, v.height) / 1.16; // what is shown, without the margins
    const r = span / 60; // a factory's marker radius, metres: the same on screen at any zoom
    const layers = [];
    if (m.plan && this.planUrl) {
      layers.push(svg("image", { class: "m-plan", href: this.planUrl, x: 0, y: 0,
        width: m.plan.width, height: m.plan.height, preserveAspectRatio: "none" }));
    } else {
      const full = m.view;
      layers.push(svg("rect", { class: "m-ground", x: full.x, y: full.y, width: full.width, height: full.height }));
    }
    layers.push(this.scaleBar(v, span, r));
    const sensors = svg("g", { class: "m-sensors" });
    const ordered = [...m.sensors].sort((a, b) => POINT_KINDS.indexOf(a.kind) - POINT_KINDS.indexOf(b.kind));
    for (const s of ordered) {
      const g = svg("g", { class: `m-sensor k-${s.kind} ${LEVEL_CLASS[s.level]}`,
        "data-sensor": s.key, transform: `translate(${s.x} ${s.y})` });
      g.append(marker(s.kind, r * 0.45));
      title(g, `${s.factory} · ${t(`kind.${s.kind}`)} ${s.sensor} · ${t(`level.${s.level}`)}`);
      sensors.append(g);
    }
    const factories = svg("g", { class: "m-factories" });
    for (const f of m.factories) {
      const g = svg("g", { class: `m-factory ${LEVEL_CLASS[f.level]}${f.offline ? " offline" : ""}`,
        "data-factory": f.key, "data-level": f.level, transform: `translate(${f.x} ${f.y})` });
      g.append(svg("circle", { r }));
      g.append(svg("text", { class: "m-label", y: -r * 1.4, "font-size": r * 1.3 }, f.factory));
      title(g, `${f.factory}${f.name ? ` ${f.name}` : ""} · ${t(`level.${f.level}`)}${
        f.offline ? ` · ${t("tile.offline")}` : ""}`);
      g.addEventListener("click", () => {
        location.hash = `#/f/${encodeURIComponent(m.site)}/${encodeURIComponent(f.factory)}`;
      });
      factories.append(g);
    }
    layers.push(sensors, factories, this.episodeLayer(m, v, r));
    this.svg.replaceChildren(...layers);
    this.drawWind(m.wind);
    this.drawInfo(m);
  }

  scaleBar(v, span, r) {
    const length = scaleLength(span);
    const g = svg("g", { class: "m-scale",
      transform: `translate(${v.x + span * 0.02} ${v.y + v.height - span * 0.02})` });
    g.append(svg("line", { x1: 0, y1: 0, x2: length, y2: 0 }));
    g.append(svg("text", { x: 0, y: -r * 0.6, "font-size": r * 1.2 },
      length >= 1000 ? `${num(length / 1000)} km` : `${length} m`));
    return g;
  }

  episodeLayer(m, v, r) {
    const layer = svg("g", { class: "m-episodes" });
    for (const e of m.episodes) {
      const g = svg("g", { class: "m-episode", "data-source": e.source_factory ?? "" });
      if (e.source) {
        for (const s of e.reached) {
          g.append(svg("line", { class: "m-reach", x1: e.source.x, y1: e.source.y, x2: s.x, y2: s.y }));
        }
        g.append(svg("circle", { class: "m-source", cx: e.source.x, cy: e.source.y, r: r * 2.6 }));
        // The label on the side with more room (the map's right half: to the left).
        const left = e.source.x > v.x + v.width / 2;
        g.append(svg("text", { class: "m-source-label", x: e.source.x + (left ? -r * 3 : r * 3),
          y: e.source.y + r * 3.4, "font-size": r * 1.4, "text-anchor": left ? "end" : "start" },
        `${t("map.source")} ${e.source_factory} ${num(e.confidence * 100)}%`));
      }
      for (const s of e.reached) {
        g.append(svg("circle", { class: "m-reached", cx: s.x, cy: s.y, r: r * 0.95,
          "data-sensor": s.key }));
      }
      layer.append(g);
    }
    return layer;
  }

  drawWind(w) {
    const arrow = this.wind.querySelector(".wind-arrow");
    const label = this.root.querySelector("#map-wind-label");
    this.wind.classList.toggle("none", !w);
    if (!w) {
      arrow.setAttribute("transform", "rotate(0)");
      arrow.dataset.rotation = "";
      label.textContent = t("map.no_wind");
      return;
    }
    arrow.setAttribute("transform", `rotate(${w.rotation})`);
    arrow.dataset.rotation = String(w.rotation);
    label.textContent = t("map.wind", { dir: t(`compass.${w.compass}`), deg: num(w.dir),
      speed: num(w.speed, 1) });
    label.title = dateTime(Date.parse(w.at));
  }

  drawInfo(m) {
    const counts = [0, 0, 0, 0];
    for (const f of m.factories) counts[f.level]++;
    const parts = [t("map.factories", { n: m.factories.length })];
    if (m.unplaced) parts.push(t("map.unplaced", { n: m.unplaced }));
    if (m.frame === "plan") parts.push(t("map.frame_plan"));
    this.info.textContent = parts.join(" · ");
    const items = m.episodes.map((e) => {
      const li = document.createElement("li");
      li.className = "m-episode-item";
      li.textContent = t("map.episode", {
        kind: t(`kind.${e.kind}`), source: e.source_factory ?? "?",
        pct: num(e.confidence * 100), n: e.nReached, at: dateTime(Date.parse(e.onset)),
      });
      return li;
    });
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = t("map.no_episodes");
      items.push(li);
    }
    this.episodesList.replaceChildren(...items);
  }
}
