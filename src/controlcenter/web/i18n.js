// Every string the dashboard shows, in Korean and English (one dictionary per language).
// Elements carry data-i18n="key" (text), data-i18n-placeholder / data-i18n-title (attributes).

const STRINGS = {
  en: {
    "app.title": "Industrial complex control room",
    "app.subtitle": "Namdong national industrial complex",
    "login.title": "Sign in with an API key",
    "login.key": "API key",
    "login.placeholder": "cc_…",
    "login.submit": "Sign in",
    "login.hint": "Ask an administrator for a key (controlcenter create-key). It is kept in this tab only.",
    "login.bad_key": "This key is not valid or has been revoked.",
    "login.failed": "The server could not be reached.",
    "nav.overview": "Complex overview",
    "nav.logout": "Sign out",
    "nav.sound": "Sound",
    "nav.lang": "한국어",
    "who.all": "all factories",
    "who.role": "role",
    "nav.time_zone": "Dates and times are shown in the complex's time zone",
    "unit.spaces": "spaces",
    "live.connected": "live",
    "live.connecting": "connecting…",
    "live.offline": "reconnecting…",
    "level.0": "ok",
    "level.1": "info",
    "level.2": "warning",
    "level.3": "critical",
    "level.none": "no data",
    "grade.good": "good",
    "grade.normal": "normal",
    "grade.bad": "bad",
    "grade.very_bad": "very bad",
    "kind.air": "Air",
    "kind.power": "Power",
    "kind.parking": "Parking",
    "tile.pm25": "PM2.5",
    "tile.pm10": "PM10",
    "tile.power": "Demand",
    "tile.parking": "Parking",
    "tile.alerts": "Alerts",
    "tile.offline": "gateway offline",
    "overview.factories": "Factories",
    "overview.filter": "Filter factories",
    "overview.demand": "Total demand",
    "overview.alerts": "Open alerts",
    "overview.empty": "No factories are visible with this key.",
    "overview.loading": "Loading…",
    "oncall.title": "On call now",
    "oncall.complex": "whole complex",
    "oncall.level": "level {n}",
    "oncall.override": "swap",
    "oncall.until": "until {time}",
    "oncall.none": "nobody is on call",
    "mypages.title": "You are paged",
    "mypages.ack": "Acknowledge",
    "mypages.dismiss": "Dismiss",
    "alerts.pages": "Pages",
    "pages.sent": "sent (attempt {n})",
    "pages.retry": "failed, retrying (attempt {n})",
    "pages.failed": "failed (attempt {n})",
    "pages.held": "held for quiet hours",
    "pages.skipped": "handed over",
    "pages.interrupted": "cut by shutdown (attempt {n})",
    "pages.dropped": "dropped",
    "pages.due": "next page to {who} at {time}",
    "pages.none": "No pages.",
    "factory.back": "← Overview",
    "factory.air": "Air quality",
    "factory.power": "Power demand",
    "factory.parking": "Parking",
    "factory.safety": "Safety",
    "safety.normal": "normal",
    "safety.alarm": "alarm",
    "safety.level.0": "below alarm 1",
    "safety.level.1": "alarm 1",
    "safety.level.2": "alarm 2",
    "factory.contract": "of contract",
    "factory.charts": "Live charts",
    "factory.range": "Range",
    "chart.time": "Time",
    "factory.sensors": "Sensors",
    "factory.alerts": "Open alerts of this factory",
    "factory.none_alerts": "No open alerts.",
    "factory.not_found": "This factory is not visible with this key.",
    "sensor.sensor": "Sensor",
    "sensor.kind": "Kind",
    "sensor.values": "Latest values",
    "sensor.last_seen": "Last seen",
    "sensor.never": "never",
    "range.15m": "15 min",
    "range.1h": "1 h",
    "range.6h": "6 h",
    "range.24h": "24 h",
    "alerts.title": "Alerts",
    "alerts.empty": "No open alerts.",
    "alerts.more": "and {n} more",
    "alerts.new_critical": "New critical alert",
    "alerts.acknowledge": "Acknowledge",
    "alerts.assign": "Assign",
    "alerts.resolve": "Resolve",
    "alerts.assignee": "Assignee",
    "alerts.ok": "OK",
    "alerts.cancel": "Cancel",
    "alerts.assigned_to": "assigned to {who}",
    "alerts.value": "value {v}",
    "alerts.peak": "peak {v}",
    "alerts.done": "Done",
    "severity.critical": "critical",
    "severity.warning": "warning",
    "severity.info": "info",
    "state.open": "open",
    "state.acknowledged": "acknowledged",
    "state.resolved": "resolved",
    "ago.s": "{n} s ago",
    "ago.m": "{n} min ago",
    "ago.h": "{n} h ago",
    "ago.d": "{n} d ago",
    "error.request": "Request failed: {detail}",
    "error.forbidden": "This key may not do that.",
    "nav.map": "Map",
    "map.title": "Map of the complex",
    "map.site": "Site",
    "map.no_site": "No site is visible with this key.",
    "map.factories": "factories: {n}",
    "map.unplaced": "{n} without a position",
    "map.frame_plan": "on the site plan",
    "map.gas": "Gas detector",
    "map.odor": "Odour sensor",
    "map.weather": "Weather station",
    "map.source": "Likely source",
    "map.source_legend": "Estimated source of an episode",
    "map.episodes": "Active episodes",
    "map.episode": "{kind}: likely from {source} ({pct}%), sensors reached: {n}, since {at}",
    "map.wind": "Wind from {dir} ({deg}°), {speed} m/s",
    "map.no_wind": "No wind reading",
    "map.no_episodes": "No active leak or odour episode.",
    "compass.N": "north",
    "compass.NNE": "north-north-east",
    "compass.NE": "north-east",
    "compass.ENE": "east-north-east",
    "compass.E": "east",
    "compass.ESE": "east-south-east",
    "compass.SE": "south-east",
    "compass.SSE": "south-south-east",
    "compass.S": "south",
    "compass.SSW": "south-south-west",
    "compass.SW": "south-west",
    "compass.WSW": "west-south-west",
    "compass.W": "west",
    "compass.WNW": "west-north-west",
    "compass.NW": "north-west",
    "compass.NNW": "north-north-west",
  },
  ko: {
    "app.title": "산업단지 통합관제센터",
    "app.subtitle": "남동 국가산업단지",
    "login.title": "API 키로 로그인",
    "login.key": "API 키",
    "login.placeholder": "cc_…",
    "login.submit": "로그인",
    "login.hint": "관리자에게 키를 요청하세요 (controlcenter create-key). 키는 이 탭에만 보관됩니다.",
    "login.bad_key": "유효하지 않거나 폐기된 키입니다.",
    "login.failed": "서버에 연결할 수 없습니다.",
    "nav.overview": "단지 현황",
    "nav.logout": "로그아웃",
    "nav.sound": "경보음",
    "nav.lang": "English",
    "who.all": "전체 공장",
    "who.role": "권한",
    "nav.time_zone": "날짜와 시각은 단지의 시간대로 표시됩니다",
    "unit.spaces": "면",
    "live.connected": "실시간",
    "live.connecting": "연결 중…",
    "live.offline": "재연결 중…",
    "level.0": "정상",
    "level.1": "정보",
    "level.2": "경고",
    "level.3": "위험",
    "level.none": "데이터 없음",
    "grade.good": "좋음",
    "grade.normal": "보통",
    "grade.bad": "나쁨",
    "grade.very_bad": "매우나쁨",
    "kind.air": "대기",
    "kind.power": "전력",
    "kind.parking": "주차",
    "tile.pm25": "초미세먼지",
    "tile.pm10": "미세먼지",
    "tile.power": "수요전력",
    "tile.parking": "주차",
    "tile.alerts": "경보",
    "tile.offline": "게이트웨이 오프라인",
    "overview.factories": "공장",
    "overview.filter": "공장 검색",
    "overview.demand": "총 수요전력",
    "overview.alerts": "미해결 경보",
    "overview.empty": "이 키로 볼 수 있는 공장이 없습니다.",
    "overview.loading": "불러오는 중…",
    "oncall.title": "지금 당번",
    "oncall.complex": "단지 전체",
    "oncall.level": "{n}단계",
    "oncall.override": "교대",
    "oncall.until": "{time}까지",
    "oncall.none": "당번이 없습니다",
    "mypages.title": "당번 호출",
    "mypages.ack": "확인하기",
    "mypages.dismiss": "닫기",
    "alerts.pages": "호출 기록",
    "pages.sent": "전송 ({n}회째)",
    "pages.retry": "실패, 재시도 ({n}회째)",
    "pages.failed": "실패 ({n}회째)",
    "pages.held": "방해 금지 시간으로 보류",
    "pages.skipped": "교대자에게 인계",
    "pages.interrupted": "종료로 중단 ({n}회째)",
    "pages.dropped": "버려짐",
    "pages.due": "{who}에게 다음 호출 {time}",
    "pages.none": "호출 기록이 없습니다.",
    "factory.back": "← 단지 현황",
    "factory.air": "대기질",
    "factory.power": "수요전력",
    "factory.parking": "주차",
    "factory.safety": "안전",
    "safety.normal": "정상",
    "safety.alarm": "경보",
    "safety.level.0": "1차 경보 미만",
    "safety.level.1": "1차 경보",
    "safety.level.2": "2차 경보",
    "factory.contract": "계약전력 대비",
    "factory.charts": "실시간 차트",
    "factory.range": "기간",
    "chart.time": "시각",
    "factory.sensors": "센서",
    "factory.alerts": "이 공장의 미해결 경보",
    "factory.none_alerts": "미해결 경보가 없습니다.",
    "factory.not_found": "이 키로는 볼 수 없는 공장입니다.",
    "sensor.sensor": "센서",
    "sensor.kind": "종류",
    "sensor.values": "최근 값",
    "sensor.last_seen": "최근 수신",
    "sensor.never": "없음",
    "range.15m": "15분",
    "range.1h": "1시간",
    "range.6h": "6시간",
    "range.24h": "24시간",
    "alerts.title": "경보",
    "alerts.empty": "미해결 경보가 없습니다.",
    "alerts.more": "외 {n}건",
    "alerts.new_critical": "새 위험 경보",
    "alerts.acknowledge": "확인",
    "alerts.assign": "담당 지정",
    "alerts.resolve": "해결",
    "alerts.assignee": "담당자",
    "alerts.ok": "확인",
    "alerts.cancel": "취소",
    "alerts.assigned_to": "담당: {who}",
    "alerts.value": "값 {v}",
    "alerts.peak": "최고 {v}",
    "alerts.done": "완료",
    "severity.critical": "위험",
    "severity.warning": "경고",
    "severity.info": "정보",
    "state.open": "발생",
    "state.acknowledged": "확인됨",
    "state.resolved": "해결됨",
    "ago.s": "{n}초 전",
    "ago.m": "{n}분 전",
    "ago.h": "{n}시간 전",
    "ago.d": "{n}일 전",
    "error.request": "요청 실패: {detail}",
    "error.forbidden": "이 키로는 할 수 없는 작업입니다.",
    "nav.map": "지도",
    "map.title": "단지 지도",
    "map.site": "구역",
    "map.no_site": "이 키로 볼 수 있는 구역이 없습니다.",
    "map.factories": "공장 {n}곳",
    "map.unplaced": "위치 미등록 {n}곳",
    "map.frame_plan": "배치도 기준",
    "map.gas": "가스 감지기",
    "map.odor": "악취 센서",
    "map.weather": "기상 관측소",
    "map.source": "추정 발생원",
    "map.source_legend": "사고의 추정 발생원",
    "map.episodes": "진행 중인 사고",
    "map.episode": "{kind}: 추정 발생원 {source} ({pct}%), 센서 {n}개 도달, {at}부터",
    "map.wind": "풍향 {dir} ({deg}°), 풍속 {speed} m/s",
    "map.no_wind": "풍향 정보 없음",
    "map.no_episodes": "진행 중인 누출·악취 사고가 없습니다.",
    "compass.N": "북",
    "compass.NNE": "북북동",
    "compass.NE": "북동",
    "compass.ENE": "동북동",
    "compass.E": "동",
    "compass.ESE": "동남동",
    "compass.SE": "남동",
    "compass.SSE": "남남동",
    "compass.S": "남",
    "compass.SSW": "남남서",
    "compass.SW": "남서",
    "compass.WSW": "서남서",
    "compass.W": "서",
    "compass.WNW": "서북서",
    "compass.NW": "북서",
    "compass.NNW": "북북서",
  },
};

export const LANGS = Object.keys(STRINGS);
let lang = pickLang();
const listeners = new Set();

function pickLang() {
  const saved = localStorage.getItem("cc.lang");
  if (saved && STRINGS[saved]) return saved;
  return (navigator.language || "").toLowerCase().startsWith("ko") ? "ko" : "en";
}

/** The current language code ("ko" or "en"). */
export function currentLang() {
  return lang;
}

/** The text of `key` in the current language, with {name} placeholders filled in. */
/** Add terms the server defines (a sensor kind's title from GET /api/v1/kinds), per language;
 * the dictionary's own wording wins where it has one. */
export function define(key, texts) {
  for (const [l, text] of Object.entries(texts ?? {})) {
    if (STRINGS[l] && !(key in STRINGS[l])) STRINGS[l][key] = text;
  }
}

export function t(key, vars) {
  let text = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  if (vars) {
    for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}

/** Switch language, re-label the static elements and tell the views to redraw. */
export function setLang(next) {
  if (!STRINGS[next] || next === lang) return;
  lang = next;
  localStorage.setItem("cc.lang", next);
  applyI18n(document);
  for (const fn of listeners) fn(next);
}

/** Call `fn(lang)` after every language switch. */
export function onLangChange(fn) {
  listeners.add(fn);
}

/** Label every element under `root` that names a string key. */
export function applyI18n(root) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

/** "12 s ago" style text for a time in ms since the epoch (null: "never"). */
export function ago(ms, now = Date.now()) {
  if (!ms) return t("sensor.never");
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return t("ago.s", { n: s });
  if (s < 5400) return t("ago.m", { n: Math.round(s / 60) });
  if (s < 129600) return t("ago.h", { n: Math.round(s / 3600) });
  return t("ago.d", { n: Math.round(s / 86400) });
}

// Number formats are costly to build: one per language and number of decimals, reused.
const formats = new Map();

/** A number for display: `digits` decimals, locale grouping; "–" for none. */
export function num(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const key = `${lang}:${digits}`;
  let fmt = formats.get(key);
  if (!fmt) {
    fmt = new Intl.NumberFormat(lang === "ko" ? "ko-KR" : "en-GB", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    formats.set(key, fmt);
  }
  return fmt.format(v);
}
