// The dashboard's entry point: login, catalog, live feeds, routing and the paint loop.
//
// Live frames never touch the DOM: they update typed arrays and mark things dirty. A
// 250 ms timer asks for an animation frame when something changed, so the page repaints
// at most four times a second (and not at all in a hidden tab), whatever the feed rate.

import { Api, ApiError, LiveSocket, eachLimited } from "./api.js";
import { AlertBook, AlertList, Cue } from "./alerts.js";
import { FactoryView } from "./factory.js";
import { dateTime, setKinds, setTimeZone, timeZone } from "./format.js";
import { applyI18n, currentLang, onLangChange, setLang, t } from "./i18n.js";
import { MapView } from "./map.js";
import { Store } from "./model.js";
import { ONCALL_REFRESH_MS, OnCall } from "./oncall.js";
import { Overview } from "./overview.js";
import { MyPages, pageHistory } from "./pages.js";

const KEY_STORAGE = "cc.key";
const PAINT_INTERVAL_MS = 250;
const LIVE_RATE_HZ = 4;
const CATALOG_REFRESH_MS = 60000;
const TILE_METRICS = ["pm10", "pm25", "kw", "occupied", "capacity"];
const ALERT_PAGES = 5;

const $ = (sel) => document.querySelector(sel);

class Dashboard {
  constructor(api, me) {
    this.api = api;
    this.me = me;
    this.store = new Store();
    this.book = new AlertBook();
    this.cue = new Cue();
    this.dirty = true;
    this.frameRequested = false;
    this.view = null;
    const makeAlertList = (ul) =>
      new AlertList(ul, {
        role: me.role,
        act: (a, action, body) => this.act(a, action, body),
        history: async (a) => pageHistory(await api.get(`/api/v1/alerts/${a.alert_id}/deliveries`)),
      });
    this.panel = makeAlertList($("#alert-list"));
    this.overview = new Overview($("#view-overview"), this.store, this.book);
    this.onCall = new OnCall($("#oncall"), api);
    this.mapView = new MapView($("#view-map"), {
      api,
      store: this.store,
      book: this.book,
      onError: (err) => this.error(err),
      onChange: () => this.markDirty(),
    });
    this.myPages = new MyPages($("#mypages"), (page) => {
      if (page.severity === "critical" && this.cue.enabled) this.cue.beep();
    });
    this.factoryView = new FactoryView($("#view-factory"), {
      api,
      store: this.store,
      book: this.book,
      makeAlertList,
      onError: (err) => this.error(err),
    });
  }

  async start() {
    this.showWho();
    const sound = $("#sound");
    sound.checked = this.cue.enabled;
    sound.addEventListener("change", () => this.cue.setEnabled(sound.checked));
    document.addEventListener("click", () => this.cue.enabled && this.cue.unlock(), { once: true });
    onLangChange(() => this.relabel());
    window.addEventListener("hashchange", () => this.route());
    setInterval(() => this.tick(), PAINT_INTERVAL_MS);
    await this.loadConfig();
    await this.loadCatalog();
    this.overview.build();
    this.route();
    this.alertsSocket().start();
    this.liveSocket().start();
    this.pagesSocket().start();
    this.loadSummaries(); // seeds tiles until live values arrive; not awaited
    this.loadLatest();
    setInterval(() => this.refreshCatalog(), CATALOG_REFRESH_MS);
    this.loadOnCall();
    setInterval(() => this.loadOnCall(), ONCALL_REFRESH_MS);
  }

  /** Who is on call now, per site (not awaited: the tiles do not wait for it). */
  async loadOnCall() {
    try {
      await this.onCall.load();
    } catch (err) {
      this.error(err);
    }
  }

  showWho() {
    const { role, site, factory, name } = this.me;
    const scope = factory ? `${site}/${factory}` : t("who.all");
    $("#who").textContent = `${name || this.me.key_id} · ${role} · ${scope}`;
  }

  /** The complex's display settings: every date and time is shown in its time zone. */
  async loadConfig() {
    try {
      const doc = await this.api.get("/api/v1/config");
      setTimeZone(doc.time_zone);
    } catch (err) {
      this.error(err);
    }
    $("#clock .clock-zone").textContent = timeZone();
    try {
      setKinds(await this.api.get("/api/v1/kinds")); // units, kind titles and their order
    } catch (err) {
      this.error(err);
    }
  }

  /** The header's clock: now, in the complex's time zone. */
  paintClock() {
    const text = dateTime(Date.now());
    const node = $("#clock .clock-time");
    if (node.textContent !== text) node.textContent = text;
  }

  async loadCatalog() {
    const [factories, series] = await Promise.all([
      this.api.getAll("/api/v1/factories"),
      this.api.getAll("/api/v1/series"),
    ]);
    this.store.setFactories(factories);
    this.store.setSeries(series);
  }

  /** Reload the catalog (new sensors, gateway status); rebuild tiles if factories changed. */
  async refreshCatalog() {
    try {
      const before = this.store.factories.map((f) => f.key).join(",");
      await this.loadCatalog();
      if (this.store.factories.map((f) => f.key).join(",") !== before) {
        this.overview.build();
        this.route();
      }
      this.loadLatest();
      this.markDirty();
    } catch (err) {
      this.error(err);
    }
  }

  /** Factory summaries (server-computed tiles): shown until live values replace them. */
  async loadSummaries() {
    await eachLimited(this.store.factories, 6, async (f) => {
      const doc = await this.api.get(
        `/api/v1/factories/${encodeURIComponent(f.site)}/${encodeURIComponent(f.factory)}/summary`,
      );
      this.store.summaries.set(f.key, doc);
      if (doc.gateway_status) f.gateway_status = doc.gateway_status;
      this.store.dirty.add(f.idx);
      this.markDirty();
    });
  }

  /** Latest values of the tile metrics (the database answers for series the live cache lacks). */
  async loadLatest() {
    for (const metric of TILE_METRICS) {
      try {
        const doc = await this.api.get("/api/v1/latest", { metric });
        const us = doc.time.map((x) => Date.parse(x) * 1000);
        this.store.apply(doc.series, us, doc.value);
        this.markDirty();
      } catch (err) {
        if (!(err instanceof ApiError && (err.status === 404 || err.status === 400))) this.error(err);
      }
    }
  }

  liveSocket() {
    this.live = new LiveSocket({
      path: "api/v1/live",
      key: this.api.key,
      hello: () => [{ type: "subscribe", max_rate_hz: LIVE_RATE_HZ }],
      onState: (state) => this.liveState("live", state),
      onUnauthorized: () => this.api.onUnauthorized?.(),
      onMessage: (doc) => {
        if (doc.type === "readings") {
          this.store.apply(doc.series, doc.time_us, doc.value);
          if (this.store.unknown > 0) this.scheduleCatalogRefresh();
          this.markDirty();
        } else if (doc.type === "error") {
          console.warn("live feed:", doc.detail);
        }
      },
    });
    return this.live;
  }

  alertsSocket() {
    this.alerts = new LiveSocket({
      path: "api/v1/alerts/live",
      key: this.api.key,
      hello: () => {
        this.loadAlerts(); // (re)connected: the list restores what was missed
        return [];
      },
      onState: (state) => this.liveState("alerts", state),
      onUnauthorized: () => this.api.onUnauthorized?.(),
      onMessage: (doc) => {
        if (doc.type !== "alert" && doc.type !== "alert_group") return;
        const critical = this.book.apply(doc);
        if (critical.length) this.newCritical(critical[0]);
        this.markDirty();
      },
    });
    return this.alerts;
  }

  /** The signed-in person's pages (a key bound to nobody is refused once, quietly). */
  pagesSocket() {
    this.pages = new LiveSocket({
      path: "api/v1/paging/live",
      key: this.api.key,
      onState: () => {},
      onUnauthorized: () => this.api.onUnauthorized?.(),
      onForbidden: () => {},
      onMessage: (doc) => {
        if (doc.type === "page") this.myPages.add(doc);
      },
    });
    return this.pages;
  }

  async loadAlerts() {
    this.book.loading = true;
    const all = [];
    let complete = false;
    try {
      for (let page = 0; page < ALERT_PAGES; page++) {
        const doc = await this.api.get("/api/v1/alerts", {
          state: ["open", "acknowledged"],
          limit: 1000,
          offset: page * 1000,
        });
        all.push(...doc.alerts);
        if (doc.alerts.length < 1000) {
          complete = true;
          break;
        }
      }
    } catch (err) {
      this.error(err);
    }
    this.book.load(all, complete);
    this.markDirty();
  }

  scheduleCatalogRefresh() {
    if (this.catalogTimer) return;
    this.catalogTimer = setTimeout(async () => {
      await this.refreshCatalog();
      this.catalogTimer = null;
    }, 5000);
  }

  liveState(which, state) {
    this.states = { ...this.states, [which]: state };
    const all = Object.values(this.states);
    const overall = all.every((s) => s === "connected")
      ? "connected"
      : all.includes("offline")
        ? "offline"
        : "connecting";
    const node = $("#live-status");
    node.dataset.state = overall;
    node.querySelector(".label").textContent = t(`live.${overall}`);
  }

  newCritical(a) {
    this.cue.beep();
    const banner = $("#critical-banner");
    banner.textContent = `${t("alerts.new_critical")}: ${a.rule_name} · ${[a.site, a.factory, a.sensor]
      .filter(Boolean)
      .join("/")}`;
    banner.hidden = false;
    banner.onclick = () => {
      if (a.factory) location.hash = `#/f/${encodeURIComponent(a.site)}/${encodeURIComponent(a.factory)}`;
      banner.hidden = true;
    };
    const panel = $("#alerts-panel");
    panel.classList.remove("flash");
    void panel.offsetWidth; // restart the animation
    panel.classList.add("flash");
    clearTimeout(this.bannerTimer);
    this.bannerTimer = setTimeout(() => (banner.hidden = true), 15000);
    this.pendingFlash = a.alert_id;
  }

  async act(alert, action, body) {
    try {
      const doc = await this.api.post(`/api/v1/alerts/${alert.alert_id}/${action}`, body);
      this.book.upsert(doc);
      this.toast(`${t(`alerts.${action}`)}: ${t("alerts.done")}`);
    } catch (err) {
      this.error(err);
    }
    this.markDirty();
  }

  route() {
    const m = location.hash.match(/^#\/f\/([^/]+)\/([^/]+)$/);
    const onMap = location.hash.match(/^#\/map(?:\/([^/]+))?$/);
    const next = m ? `f:${m[1]}/${m[2]}` : onMap ? `map:${onMap[1] ?? ""}` : "overview";
    const crumb = $("#crumb-factory");
    $("#view-overview").hidden = Boolean(m || onMap);
    $("#view-factory").hidden = !m;
    $("#view-map").hidden = !onMap;
    crumb.hidden = !m;
    if (this.view !== next && this.view?.startsWith("map:")) this.mapView.close();
    if (m) {
      const site = decodeURIComponent(m[1]);
      const factory = decodeURIComponent(m[2]);
      crumb.textContent = `${site} / ${factory}`;
      if (this.view !== next) this.factoryView.open(site, factory);
    } else {
      if (this.view !== next) this.factoryView.close();
      if (onMap && this.view !== next) {
        this.mapView.open(onMap[1] ? decodeURIComponent(onMap[1]) : null);
      }
    }
    this.view = next;
    this.markDirty();
  }

  markDirty() {
    this.dirty = true;
  }

  tick() {
    this.paintClock();
    if (!this.dirty || this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.dirty = false;
      this.paint();
    });
  }

  paint() {
    if (this.view === "overview") this.overview.paint();
    else if (this.view?.startsWith("map:")) this.mapView.paint();
    else this.factoryView.paint();
    this.panel.render(this.book.sorted(), t("alerts.empty"));
    if (this.pendingFlash !== undefined) {
      const li = $(`#alert-list [data-alert-id="${this.pendingFlash}"]`);
      if (li) li.classList.add("new");
      this.pendingFlash = undefined;
    }
    const counts = { critical: 0, warning: 0, info: 0 };
    for (const a of this.book.byId.values()) counts[a.severity] = (counts[a.severity] ?? 0) + 1;
    for (const [sev, n] of Object.entries(counts)) {
      const node = $(`#alerts-panel b[data-count="${sev}"]`);
      if (node) node.textContent = String(n);
    }
    document.title = `${counts.critical ? `(${counts.critical}) ` : ""}${t("app.title")}`;
  }

  relabel() {
    this.showWho();
    this.overview.relabel();
    this.panel.invalidate();
    this.factoryView.relabel();
    this.mapView.relabel();
    this.onCall.render();
    this.myPages.render();
    this.liveState("live", this.states?.live ?? "connecting");
    this.markDirty();
  }

  error(err) {
    if (err instanceof ApiError && err.status === 403) this.toast(t("error.forbidden"), true);
    else this.toast(t("error.request", { detail: err?.message ?? String(err) }), true);
  }

  toast(text, bad = false) {
    const node = $("#toast");
    node.textContent = text;
    node.classList.toggle("bad", bad);
    node.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (node.hidden = true), 4000);
  }
}

function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
  // A reload drops every value the old key could see.
  location.replace(location.pathname);
}

let keyCheck = null;

/**
 * A 401, or a socket closed with 4401: sign out only when the server, asked again
 * (`GET /me`), answers 401, i.e. the key is invalid or revoked. Anything else is no
 * verdict on the key (a timeout, a network failure, 429, 5xx: the page stays, its
 * sockets reconnect and show "reconnecting…"); a control room must not be signed out
 * because the server was slow. A key whose role or factory scope changed reloads the
 * page with the same key, so that it offers what the new role may do. One check at a
 * time, however many requests and sockets were refused together.
 */
function checkKey(api, me) {
  keyCheck ??= (async () => {
    try {
      const now = await new Api(api.key, null).get("/api/v1/me");
      if (now.role !== me.role || now.site !== me.site || now.factory !== me.factory) {
        location.reload();
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) signOut();
      else console.warn("the key could not be checked; staying signed in", err);
    } finally {
      keyCheck = null;
    }
  })();
  return keyCheck;
}

async function whoAmI(key) {
  const api = new Api(key, null);
  const me = await api.get("/api/v1/me");
  return { api, me };
}

function showLogin(message) {
  $("#app").hidden = true;
  $("#login").hidden = false;
  const error = $("#login-error");
  error.hidden = !message;
  error.textContent = message ?? "";
  $("#login-key").focus();
}

async function enter(api, me) {
  api.onUnauthorized = () => checkKey(api, me);
  $("#login").hidden = true;
  $("#app").hidden = false;
  const dash = new Dashboard(api, me);
  window.ccDashboard = dash; // for debugging from the console
  try {
    await dash.start();
  } catch (err) {
    dash.error(err);
  }
}

async function main() {
  applyI18n(document);
  for (const b of document.querySelectorAll(".lang-switch")) {
    b.addEventListener("click", () => setLang(currentLang() === "ko" ? "en" : "ko"));
  }
  $("#logout").addEventListener("click", signOut);
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = $("#login-key").value.trim();
    const button = $("#login-submit");
    button.disabled = true;
    try {
      const { api, me } = await whoAmI(key);
      sessionStorage.setItem(KEY_STORAGE, key);
      $("#login-key").value = "";
      await enter(api, me);
    } catch (err) {
      showLogin(err instanceof ApiError && err.status === 401 ? t("login.bad_key") : t("login.failed"));
    } finally {
      button.disabled = false;
    }
  });
  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (!saved) {
    showLogin();
    return;
  }
  try {
    const { api, me } = await whoAmI(saved);
    await enter(api, me);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) sessionStorage.removeItem(KEY_STORAGE);
    showLogin(err instanceof ApiError && err.status === 401 ? t("login.bad_key") : t("login.failed"));
  }
}

main();
