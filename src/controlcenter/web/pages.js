// The signed-in person's own pages, live (WS /api/v1/paging/live): the pager's websocket
// channel. Each page shows as a card above the tiles with its text, an acknowledge link (the
// page's signed link: acknowledged in the person's name) and a dismiss button. A key bound
// to nobody is refused with 4403: then the strip stays empty and the socket is not retried.
//
// Every alert's delivery record (GET /api/v1/alerts/{id}/deliveries): `pageHistory` renders
// it under an alert of the list.

import { dateTime } from "./format.js";
import { t } from "./i18n.js";

const MAX_SHOWN = 5;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

export class MyPages {
  constructor(root, onPage) {
    this.root = root;
    this.onPage = onPage; // (page) => void: a cue for the person
    this.pages = [];
  }

  add(page) {
    this.pages = [page, ...this.pages].slice(0, MAX_SHOWN);
    this.render();
    this.onPage(page);
  }

  dismiss(page) {
    this.pages = this.pages.filter((p) => p !== page);
    this.render();
  }

  render() {
    this.root.hidden = !this.pages.length;
    const items = this.pages.map((p) => {
      const card = el("div", `mypage sev-${p.severity}`);
      card.append(el("b", "mypage-title", t("mypages.title")), el("span", "mypage-text", p.text));
      if (p.ack_link) {
        const ack = el("a", "btn mypage-ack", t("mypages.ack"));
        ack.href = p.ack_link;
        ack.target = "_blank";
        ack.rel = "noopener";
        card.append(ack);
      }
      const close = el("button", "btn btn-ghost mypage-dismiss", t("mypages.dismiss"));
      close.type = "button";
      close.addEventListener("click", () => this.dismiss(p));
      card.append(close);
      return card;
    });
    this.root.replaceChildren(...items);
  }
}

/** The rows of an alert's delivery record, as a list element. */
export function pageHistory(doc) {
  const list = el("ul", "a-pages");
  for (const d of doc.deliveries) {
    const row = el("li", `a-page outcome-${d.outcome}`);
    const what = [dateTime(d.time, true), d.person, d.channel === "-" ? "" : d.channel]
      .filter(Boolean)
      .join(" · ");
    row.append(el("span", "a-page-what", what));
    row.append(el("b", "a-page-outcome", t(`pages.${d.outcome}`, { n: d.attempt })));
    if (d.error) row.append(el("span", "a-page-error muted", d.error));
    list.append(row);
  }
  for (const p of doc.pending) {
    list.append(el("li", "a-page pending muted", t("pages.due", { who: p.person, time: dateTime(p.next_at, true) })));
  }
  if (!list.children.length) list.append(el("li", "a-page muted", t("pages.none")));
  return list;
}
