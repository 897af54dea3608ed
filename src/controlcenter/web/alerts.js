// Active alerts: the book (initial list + live transitions), the list renderer shared by
// the alerts panel and the factory view, the actions a key's role allows, and the cue
// (a WebAudio beep and a flash) for a new critical alert.

import { t } from "./i18n.js";
import { dateTime, digitsFor, metricUnit, quantity } from "./format.js";
import { SEVERITY_RANK, factoryKey } from "./model.js";

export const ROLE_RANK = { viewer: 1, operator: 2, maintenance: 3, admin: 4 };
// Which role each action needs (the server checks it again).
const ACTION_ROLE = { acknowledge: 2, assign: 3, resolve: 3 };

export class AlertBook {
  constructor() {
    this.byId = new Map();
    this.version = 0;
    this.complete = false; // the initial list held every active alert
    this.loading = false;
    this.buffered = [];
    this._counts = null;
    this._countsVersion = -1;
  }

  /** Replace the book with `alerts` (active ones); replay transitions seen meanwhile. */
  load(alerts, complete) {
    this.byId = new Map();
    for (const a of alerts) if (a.state !== "resolved") this.byId.set(a.alert_id, a);
    this.complete = complete;
    this.loading = false;
    const replay = this.buffered;
    this.buffered = [];
    for (const doc of replay) this.apply(doc);
    this.version++;
  }

  /** Apply a websocket frame; returns the alerts that just became critical. */
  apply(doc) {
    if (this.loading) this.buffered.push(doc);
    const alerts = doc.type === "alert_group" ? doc.members ?? [] : doc.alert ? [doc.alert] : [];
    const critical = [];
    for (const a of alerts) {
      if (typeof a.alert_id !== "number") continue;
      const before = this.byId.get(a.alert_id);
      if (a.state === "resolved") {
        this.byId.delete(a.alert_id);
      } else {
        this.byId.set(a.alert_id, a);
        if (a.severity === "critical" && a.state === "open" && before?.severity !== "critical") {
          critical.push(a);
        }
      }
    }
    if (alerts.length) this.version++;
    return critical;
  }

  /** An alert as a route answered it (acknowledge, assign, resolve). */
  upsert(a) {
    if (!a || typeof a.alert_id !== "number") return;
    if (a.state === "resolved") this.byId.delete(a.alert_id);
    else this.byId.set(a.alert_id, a);
    this.version++;
  }

  /** Active alerts per "site/factory": {critical, warning, info, total}. */
  counts() {
    if (this._countsVersion === this.version) return this._counts;
    const out = new Map();
    for (const a of this.byId.values()) {
      if (!a.factory) continue;
      const key = factoryKey(a.site, a.factory);
      let c = out.get(key);
      if (!c) out.set(key, (c = { critical: 0, warning: 0, info: 0, total: 0 }));
      c[a.severity] = (c[a.severity] ?? 0) + 1;
      c.total++;
    }
    this._counts = out;
    this._countsVersion = this.version;
    return out;
  }

  /** Active alerts (matching `keep`), worst first, open before acknowledged, newest first. */
  sorted(keep) {
    const list = [];
    for (const a of this.byId.values()) if (!keep || keep(a)) list.push(a);
    list.sort(
      (x, y) =>
        (SEVERITY_RANK[y.severity] ?? 0) - (SEVERITY_RANK[x.severity] ?? 0) ||
        (x.state === "open" ? 0 : 1) - (y.state === "open" ? 0 : 1) ||
        String(y.opened_at).localeCompare(String(x.opened_at)),
    );
    return list;
  }
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * Renders alerts into a <ul>, keyed by alert id: items are updated in place (an open
 * assign form survives repaints) and moved into order, at most `limit` shown.
 */
export class AlertList {
  constructor(ul, { role, act, history, limit = 200 }) {
    this.ul = ul;
    this.roleRank = ROLE_RANK[role] ?? 0;
    this.act = act; // async (alert, action, body) => void
    this.history = history; // async (alert) => element: its pages (delivery record)
    this.limit = limit;
    this.items = new Map(); // id -> {li, sig}
    this.more = el("li", "alert-more");
    this.empty = el("li", "alert-empty");
  }

  may(action) {
    return this.roleRank >= ACTION_ROLE[action];
  }

  render(alerts, emptyText) {
    const shown = alerts.slice(0, this.limit);
    const keep = new Set(shown.map((a) => a.alert_id));
    for (const [id, item] of this.items) {
      if (!keep.has(id)) {
        item.li.remove();
        this.items.delete(id);
      }
    }
    let prev = null;
    for (const a of shown) {
      let item = this.items.get(a.alert_id);
      if (!item) {
        item = { li: this.build(a), sig: "" };
        this.items.set(a.alert_id, item);
      }
      const sig = `${a.state}|${a.severity}|${a.value}|${a.peak_value}|${a.assignee}|${a.last_seen_at}`;
      if (item.sig !== sig || this.relabel) {
        this.fill(item.li, a);
        item.sig = sig;
      }
      const want = prev ? prev.nextSibling : this.ul.firstChild;
      if (want !== item.li) this.ul.insertBefore(item.li, want);
      prev = item.li;
    }
    this.relabel = false;
    this.empty.textContent = emptyText;
    if (!shown.length) this.ul.appendChild(this.empty);
    else this.empty.remove();
    if (alerts.length > shown.length) {
      this.more.textContent = t("alerts.more", { n: alerts.length - shown.length });
      this.ul.appendChild(this.more);
    } else {
      this.more.remove();
    }
  }

  /** Redraw every item's labels on the next render (after a language switch). */
  invalidate() {
    this.relabel = true;
  }

  build(a) {
    const li = el("li", "alert");
    li.dataset.alertId = String(a.alert_id);
    const head = el("div", "a-head");
    head.append(el("span", "sev-badge"), el("span", "a-rule"), el("span", "a-state"));
    const where = el("a", "a-where");
    const detail = el("div", "a-detail");
    const assignee = el("div", "a-assignee");
    const actions = el("div", "a-actions");
    for (const action of ["acknowledge", "assign", "resolve"]) {
      if (!this.may(action)) continue;
      const b = el("button", `btn btn-${action}`);
      b.type = "button";
      b.dataset.action = action;
      b.addEventListener("click", () => this.onAction(li, action));
      actions.append(b);
    }
    li.append(head, where, detail, assignee, actions);
    if (this.history) {
      // Not an action (viewers see it too): the alert's delivery record.
      const tools = el("div", "a-tools");
      const b = el("button", "btn btn-ghost btn-pages");
      b.type = "button";
      b.addEventListener("click", () => this.togglePages(li, b));
      tools.append(b);
      li.append(tools);
    }
    if (this.may("assign")) li.append(this.assignForm(li));
    return li;
  }

  async togglePages(li, button) {
    const open = li.querySelector(".a-pages");
    if (open) {
      open.remove();
      return;
    }
    button.disabled = true;
    try {
      li.append(await this.history(li._alert));
    } finally {
      button.disabled = false;
    }
  }

  assignForm(li) {
    const form = el("form", "a-assign hidden");
    const input = el("input");
    input.name = "assignee";
    input.maxLength = 200;
    input.required = true;
    const ok = el("button", "btn");
    ok.type = "submit";
    ok.dataset.role = "ok";
    const cancel = el("button", "btn btn-ghost");
    cancel.type = "button";
    cancel.dataset.role = "cancel";
    cancel.addEventListener("click", () => form.classList.add("hidden"));
    form.append(input, ok, cancel);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = input.value.trim();
      if (!name) return;
      form.classList.add("hidden");
      this.run(li, "assign", { assignee: name });
    });
    return form;
  }

  fill(li, a) {
    li.className = `alert sev-${a.severity} state-${a.state}`;
    li.dataset.severity = a.severity;
    li.dataset.state = a.state;
    li._alert = a;
    const [badge, rule, state] = li.firstChild.children;
    badge.textContent = t(`severity.${a.severity}`);
    rule.textContent = a.rule_name ?? "";
    state.textContent = t(`state.${a.state}`);
    const where = li.querySelector(".a-where");
    where.textContent = [a.site, a.factory, a.kind, a.sensor, a.metric].filter(Boolean).join(" / ");
    if (a.factory) where.href = `#/f/${encodeURIComponent(a.site)}/${encodeURIComponent(a.factory)}`;
    else where.removeAttribute("href");
    const parts = [];
    const shown = (v) => quantity(v, metricUnit(a.metric), digitsFor(v));
    const value = a.last_value ?? a.value;
    if (value !== null && value !== undefined) parts.push(t("alerts.value", { v: shown(value) }));
    if (a.peak_value !== null && a.peak_value !== undefined) {
      parts.push(t("alerts.peak", { v: shown(a.peak_value) }));
    }
    parts.push(dateTime(a.opened_at, true));
    li.querySelector(".a-detail").textContent = parts.join(" · ");
    li.querySelector(".a-assignee").textContent = a.assignee
      ? t("alerts.assigned_to", { who: a.assignee })
      : "";
    for (const b of li.querySelectorAll(".a-actions button")) {
      const action = b.dataset.action;
      b.textContent = t(`alerts.${action}`);
      b.hidden = action === "acknowledge" && a.state !== "open";
    }
    const pages = li.querySelector(".btn-pages");
    if (pages) pages.textContent = t("alerts.pages");
    const form = li.querySelector(".a-assign");
    if (!form) return;
    form.querySelector("input").placeholder = t("alerts.assignee");
    form.querySelector('[data-role="ok"]').textContent = t("alerts.ok");
    form.querySelector('[data-role="cancel"]').textContent = t("alerts.cancel");
  }

  onAction(li, action) {
    if (action === "assign") {
      const form = li.querySelector(".a-assign");
      form.classList.toggle("hidden");
      if (!form.classList.contains("hidden")) form.querySelector("input").focus();
      return;
    }
    this.run(li, action, action === "resolve" ? {} : undefined);
  }

  async run(li, action, body) {
    const buttons = li.querySelectorAll(".a-actions button");
    for (const b of buttons) b.disabled = true;
    try {
      await this.act(li._alert, action, body);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }
}

/** The cue for a new critical alert: a short two-tone beep (no sound file) and a flash. */
export class Cue {
  constructor() {
    this.enabled = localStorage.getItem("cc.sound") !== "off";
    this.ctx = null;
    this.lastBeep = 0;
  }

  /** Create or resume the audio context; browsers allow it only from a user gesture. */
  unlock() {
    try {
      if (!this.ctx) this.ctx = new AudioContext();
      if (this.ctx.state === "suspended") this.ctx.resume();
    } catch {
      this.ctx = null; // no audio here: the visual cue remains
    }
  }

  setEnabled(on) {
    this.enabled = on;
    localStorage.setItem("cc.sound", on ? "on" : "off");
    if (on) this.unlock();
  }

  beep() {
    const now = performance.now();
    if (!this.enabled || !this.ctx || now - this.lastBeep < 1500) return;
    this.lastBeep = now;
    const ctx = this.ctx;
    const start = ctx.currentTime;
    for (const [i, freq] of [880, 660, 880].entries()) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = freq;
      const t0 = start + i * 0.18;
      gain.gain.setValueAtTime(0.0001, t0);
      gain.gain.exponentialRampToValueAtTime(0.15, t0 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.15);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0);
      osc.stop(t0 + 0.16);
    }
  }
}
