// Who is on call now, per site: a strip above the tiles (GET /api/v1/oncall, refreshed
// every minute). Each entry: site (or the whole complex), level, name, phone, and until
// when (the next hand-over or the end of an override), in the complex's time zone.

import { dateTime } from "./format.js";
import { t } from "./i18n.js";

export const ONCALL_REFRESH_MS = 60000;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

export class OnCall {
  constructor(root, api) {
    this.root = root;
    this.api = api;
    this.duties = [];
  }

  async load() {
    const doc = await this.api.get("/api/v1/oncall");
    this.duties = doc.on_call;
    this.render();
  }

  render() {
    const list = el("ul", "oncall-list");
    for (const d of this.duties) {
      const li = el("li", "oncall-item");
      li.dataset.site = d.site ?? "";
      li.append(el("span", "oncall-site", d.site ?? t("oncall.complex")));
      if (d.level > 0) li.append(el("span", "oncall-level", t("oncall.level", { n: d.level })));
      li.append(el("b", "oncall-name", d.name));
      if (d.phone) {
        const tel = el("a", "oncall-phone", d.phone);
        tel.href = `tel:${d.phone}`;
        li.append(tel);
      }
      if (d.override) li.append(el("span", "oncall-override", t("oncall.override")));
      li.append(el("span", "oncall-until muted", t("oncall.until", { time: dateTime(d.until) })));
      list.append(li);
    }
    const head = el("span", "oncall-title", t("oncall.title"));
    const empty = this.duties.length ? [] : [el("span", "muted", t("oncall.none"))];
    this.root.replaceChildren(head, list, ...empty);
  }
}
