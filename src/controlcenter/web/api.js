// The page's only way to data: REST calls and websockets to /api/v1, always with the key.
// The server decides what the key may see; the page never widens a selection on its own.

const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

/** Relative to the page, so that the dashboard also works behind a path prefix. */
function apiUrl(path, params) {
  const url = new URL(path.replace(/^\//, ""), document.baseURI);
  if (params) {
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const item of v) url.searchParams.append(k, String(item));
      else url.searchParams.set(k, String(v));
    }
  }
  return url;
}

export class Api {
  /** @param {string} key the API key; @param {() => void} onUnauthorized on any 401 (the
   *  page checks the key again before it signs out: see app.js) */
  constructor(key, onUnauthorized) {
    this.key = key;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, { params, body } = {}) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    let response;
    try {
      response = await fetch(apiUrl(path, params), {
        method,
        headers: {
          "X-API-Key": this.key,
          Accept: "application/json",
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: ctrl.signal,
        cache: "no-store",
        credentials: "omit",
      });
    } catch (err) {
      throw new ApiError(0, err.name === "AbortError" ? "timeout" : String(err));
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 204) return null;
    const doc = await response.json().catch(() => null);
    if (!response.ok) {
      if (response.status === 401 && this.onUnauthorized) this.onUnauthorized();
      throw new ApiError(response.status, doc?.detail ?? response.statusText);
    }
    return doc;
  }

  get(path, params) {
    return this.request("GET", path, { params });
  }

  /** A binary resource (a site plan image) as a data: URL (the page's CSP allows those for
   *  images; the key stays in a header, never in a URL). */
  async dataUrl(path) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    try {
      const response = await fetch(apiUrl(path), {
        headers: { "X-API-Key": this.key },
        signal: ctrl.signal,
        cache: "no-store",
        credentials: "omit",
      });
      if (!response.ok) throw new ApiError(response.status, response.statusText);
      const blob = await response.blob();
      return await new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(blob);
      });
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(0, err.name === "AbortError" ? "timeout" : String(err));
    } finally {
      clearTimeout(timer);
    }
  }

  post(path, body) {
    return this.request("POST", path, { body });
  }

  /** Every item of a paged catalog route (follows next_offset). */
  async getAll(path, params, pageSize = 1000, maxPages = 50) {
    const items = [];
    let offset = 0;
    for (let page = 0; page < maxPages && offset !== null; page++) {
      const doc = await this.get(path, { ...params, limit: pageSize, offset });
      items.push(...doc.items);
      offset = doc.next_offset ?? null;
    }
    return items;
  }
}

/** Run `fn` over `items` with at most `limit` calls in flight. */
export async function eachLimited(items, limit, fn) {
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        console.warn("request failed", err);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * A websocket to the API that authenticates with its first message (the key never
 * appears in a URL or a log), sends `hello()`'s messages on every (re)connect, and
 * reconnects with capped, jittered backoff whatever closed it (a timeout, 1006, 1013,
 * 4008, 4408, 4429, a server restart), showing "offline" meanwhile. 4401 (the server
 * took the key for bad, revoked or changed) also calls `onUnauthorized`, which asks the
 * server again before it signs out; 4403 (the key may not have this feed) ends it and
 * calls `onForbidden`.
 */
export class LiveSocket {
  constructor({ path, key, hello, onMessage, onState, onUnauthorized, onForbidden }) {
    this.path = path;
    this.key = key;
    this.hello = hello;
    this.onMessage = onMessage;
    this.onState = onState;
    this.onUnauthorized = onUnauthorized;
    this.onForbidden = onForbidden;
    this.ws = null;
    this.stopped = false;
    this.delay = 500;
    this.pinger = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000, "bye");
  }

  send(doc) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(doc));
  }

  connect() {
    const url = apiUrl(this.path);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.onState("connecting");
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      ws.send(JSON.stringify({ type: "auth", key: this.key }));
      for (const doc of this.hello ? this.hello() : []) ws.send(JSON.stringify(doc));
      this.onState("connected");
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ type: "ping" }), 20000);
    };
    ws.onmessage = (ev) => {
      let doc;
      try {
        doc = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.onMessage(doc);
    };
    ws.onclose = (ev) => {
      clearInterval(this.pinger);
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === 4403 && this.onForbidden) {
        this.stopped = true;
        this.onForbidden();
        return;
      }
      // Not a verdict by itself: a slow server once closed valid keys' sockets with 4401.
      if (ev.code === 4401 && this.onUnauthorized) this.onUnauthorized();
      this.onState("offline");
      const wait = Math.min(this.delay, 15000) * (0.5 + Math.random());
      this.delay = Math.min(this.delay * 2, 15000);
      setTimeout(() => {
        if (!this.stopped) this.connect();
      }, wait);
    };
  }
}
