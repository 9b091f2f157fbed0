// tracegate pages, common part: token, language, local time, the API, navigation, charts.
// Every string a person reads comes from the language's catalogue (t()); every figure from the JSON API.
"use strict";
const TOKEN_KEY = "tracegate.token";
const LANG_COOKIE = "tracegate_lang";
const LANGS = [["en", "English"], ["ru", "Русский"], ["kk", "Қазақша"]];
const TZ_OFFSET_MS = 5 * 3600 * 1000;  // Kazakhstan, UTC+5 all year (gateway/query/local_time.py)
const TZ_LABEL = "UTC+5";
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const LANG = document.documentElement.lang || "en";
let MESSAGES = {};

// A message in the page's language, {name} filled from params. {name:one=row|other=rows} is the form the
// language's plural rules choose for that number (CLDR categories: one, few, many, other; "other" if none).
const PLURAL = new Intl.PluralRules(LANG);
function t(key, params = {}) {
  const template = MESSAGES[key] ?? key;
  return template.replace(/\{(\w+):([^{}]+)\}/g, (_, name, choices) => {
    const forms = Object.fromEntries(choices.split("|").map((c) => [c.slice(0, c.indexOf("=")), c.slice(c.indexOf("=") + 1)]));
    return forms[PLURAL.select(Number(params[name]))] ?? forms.other ?? "";
  }).replace(/\{(\w+)\}/g, (_, name) => (params[name] ?? `{${name}}`));
}

// Local (UTC+5) time of an instant: "2026-01-15 14:30" (seconds with full = true).
function when(ms, full = false) {
  if (!ms) return "";
  return new Date(ms + TZ_OFFSET_MS).toISOString().replace("T", " ").slice(0, full ? 19 : 16);
}
const localDay = (ms) => new Date(ms + TZ_OFFSET_MS).toISOString().slice(0, 10);
const today = () => localDay(Date.now());
const addDays = (day, n) => new Date(Date.parse(day + "T00:00:00Z") + n * 86400000).toISOString().slice(0, 10);
const isDay = (v) => /^\d{4}-\d\d-\d\d$/.test(v) && new Date(Date.parse(v + "T00:00:00Z") || 0).toISOString().slice(0, 10) === v;
// A page's `until` (its field and its address) is the last day, inclusive; the API's ends before it.
const apiUntil = (v) => (isDay(v) ? addDays(v, 1) : v);

// Tenge from minor units as the reader's language writes it.
function money(minor) {
  if (minor == null) return "–";
  const whole = Math.floor(Math.abs(minor) / 100).toLocaleString(LANG === "en" ? "en-US" : "ru-RU");
  return (minor < 0 ? "-" : "") + whole + (LANG === "en" ? "." : ",") + String(Math.abs(minor) % 100).padStart(2, "0");
}

// A figure as the reader's language writes it: 0.3 (en), 0,3 (ru, kk), to `digits` decimals.
const number = (value, digits = 0) => Number(value).toLocaleString(LANG === "en" ? "en-US" : "ru-RU",
  {minimumFractionDigits: digits, maximumFractionDigits: digits});
// A size in bytes, in the largest unit that keeps it at 1 or more: "0 B", "1,5 МБ".
function bytes(n) {
  const units = ["unit.b", "unit.kb", "unit.mb", "unit.gb"];
  let i = 0; while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return number(n, i ? 1 : 0) + " " + t(units[i]);
}

// A whole number beyond 2^53 (a document number up to 2^64) is kept as its exact digits, not rounded
// to "1e+23": JSON.parse hands the reviver the number's source text.
function exact(key, value, context) {
  return typeof value === "number" && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source) ? context.source : value;
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

// To the sign-in page, which comes back here afterwards; reason "ended": a token that stopped working
// (revoked or expired: the gateway does not say which) is told as such, not as a silent reload.
function toLogin(reason = "") {
  const p = new URLSearchParams({next: location.pathname + location.search});
  if (reason) p.set("reason", reason);
  location.href = "/ui/login?" + p;
}

// Where to go after sign-in: a page of ours named by ?next= (same origin, under /ui/), else the dashboard.
function afterLogin(next) {
  if (next && next.startsWith("/ui/") && !next.startsWith("//")) {
    const target = new URL(next, location.origin);
    if (target.origin === location.origin && target.pathname.startsWith("/ui/") && target.pathname !== "/ui/login") {
      return target.pathname + target.search;
    }
  }
  return "/ui/dashboard";
}

async function api(path, options = {}) {
  const headers = Object.assign({Authorization: "Bearer " + token()}, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, {headers}));
  if (options.onHeaders) options.onHeaders(response.headers);
  if (response.status === 401 && document.body.dataset.page !== "login") {
    sessionStorage.removeItem(TOKEN_KEY); toLogin("ended"); throw new Error("login");
  }
  const type = response.headers.get("Content-Type") || "";
  // A download is kept as bytes (a CSV's BOM, which Excel needs, would not survive text(); an export's
  // JSON lines are a file, not one JSON value); an error is JSON whatever was asked for.
  const body = options.blob && response.ok ? await response.blob() : (type.includes("json") ? JSON.parse(await response.text(), exact) : await response.text());
  if (!response.ok) { const e = new Error(body.detail || body.error || response.statusText); e.status = response.status; e.code = body.error; throw e; }
  return body;
}

function showError(where, error) { $(where).innerHTML = `<p class="error" role="alert">${esc(error.message)}</p>`; }
function busy(where) { $(where).innerHTML = `<p class="muted" aria-live="polite">${esc(t("common.loading"))}</p>`; }
function download(data, name, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(data instanceof Blob ? data : new Blob([data], {type}));
  a.download = name; document.body.appendChild(a); a.click(); a.remove();
}

// The query string of the page, and a way to write a page's filters back into it (bookmarkable views).
const query = () => new URLSearchParams(location.search);
function setQuery(params) {
  const clean = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) clean.set(k, v);
  history.replaceState(null, "", location.pathname + (clean.toString() ? "?" + clean : ""));
}

// Static texts of the page: elements with data-i18n (text), data-i18n-placeholder, data-i18n-title.
function translatePage() {
  $$("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n, {tz: TZ_LABEL}); });
  $$("[data-i18n-placeholder]").forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
  $$("[data-i18n-label]").forEach((e) => { e.setAttribute("aria-label", t(e.dataset.i18nLabel)); });
  const title = $("h1"); if (title) document.title = title.textContent + " · tracegate";
}

function nav(page) {
  const links = [["dashboard", "nav.dashboard"], ["trace", "nav.trace"], ["anomalies", "nav.anomalies"], ["receipts", "nav.receipts"],
    ["codes", "nav.codes"], ["reconcile", "nav.shifts"], ["books", "nav.books"], ["export", "nav.export"]];
  $("header").innerHTML = `<a class="brand" href="/ui/dashboard">tracegate</a><nav aria-label="${esc(t("nav.label"))}">` +
    links.map(([p, k]) => `<a href="/ui/${p}"${p === page ? ' class="on" aria-current="page"' : ""}>${esc(t(k))}</a>`).join("") +
    `</nav><span class="who" id="who"></span>` + languageSwitch() + `<button type="button" class="link" id="logout">${esc(t("nav.logout"))}</button>`;
  $("#logout").onclick = () => { sessionStorage.removeItem(TOKEN_KEY); location.href = "/ui/login"; };
  bindLanguageSwitch();
  whoami().then((w) => {
    $("#who").textContent = t("scope." + w.scope) + (w.seller_tin ? " · " + w.seller_tin : "");
    // Pages a retailer reads as "my …" are about a chosen seller for the authority's staff.
    if (w.scope !== "retailer") {
      $$("[data-i18n-staff]").forEach((e) => { e.textContent = t(e.dataset.i18nStaff); });
      $("header nav a[href='/ui/books']").textContent = t("nav.books_staff");
      const title = $("h1"); if (title) document.title = title.textContent + " · tracegate";
    }
  }).catch(() => {});
}

function languageSwitch() {
  return `<label class="lang"><span class="sr">${esc(t("nav.language"))}</span><select id="lang">` +
    LANGS.map(([code, name]) => `<option value="${code}"${code === LANG ? " selected" : ""}>${name}</option>`).join("") + `</select></label>`;
}
function bindLanguageSwitch() {
  // A cookie, so the choice sticks across pages, tabs and visits, and the server writes its texts in it too.
  // A ?lang= in the address would outrank the new choice: it goes, the rest of the address stays.
  $("#lang").onchange = (e) => {
    document.cookie = `${LANG_COOKIE}=${e.target.value}; path=/; max-age=31536000; samesite=strict`;
    const p = query(); p.delete("lang");
    location.replace(location.pathname + (p.toString() ? "?" + p : ""));
  };
}

let WHO = null;
function whoami() { WHO = WHO || api("/v1/whoami"); return WHO; }
// On a retailer's token, a seller TIN field is filled with its own TIN and locked.
function lockTin(input) { whoami().then((w) => { if (w.seller_tin) { input.value = w.seller_tin; input.readOnly = true; } }).catch(() => {}); }

// Value axis ticks: 0 and up to four round steps up to the maximum.
function ticks(max) {
  if (max <= 0) return [0];
  const raw = max / 4, power = 10 ** Math.floor(Math.log10(raw)), step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = []; for (let v = 0; v <= max + 1e-9; v += step) out.push(v); return out;
}

// A bar chart as inline SVG with a labelled value axis and time axis; bars may be links.
// bars: [{label, value, href?, title?}]; opts.name: what is counted (its accessible name).
function barChart(bars, {width = 400, height = 190, color = "#2b5d8a", name = ""} = {}) {
  const top = Math.max(1, ...bars.map((b) => b.value)), axis = ticks(top), max = axis[axis.length - 1] || 1;
  const left = 44, bottom = 34, w = (width - left - 4) / Math.max(1, bars.length), plot = height - bottom - 8;
  const every = Math.ceil(bars.length / 6), sum = bars.reduce((s, b) => s + b.value, 0);
  const peak = bars.reduce((a, b) => (b.value > (a?.value ?? -1) ? b : a), null);
  const label = t("chart.summary", {name, total: sum, peak: peak ? peak.label : "–", peak_value: peak ? peak.value : 0, tz: TZ_LABEL});
  let out = `<svg class="chart" role="img" aria-label="${esc(label)}" viewBox="0 0 ${width} ${height}"><title>${esc(label)}</title>`;
  axis.forEach((v) => { const y = 8 + plot - (plot * v) / max; out += `<line x1="${left}" x2="${width}" y1="${y}" y2="${y}" class="grid"/><text x="${left - 6}" y="${y + 4}" text-anchor="end">${v}</text>`; });
  bars.forEach((b, i) => {
    const h = (plot * b.value) / max, x = left + i * w, y = 8 + plot - h;
    const rect = `<rect x="${x + 1}" y="${y}" width="${Math.max(1, w - 2)}" height="${Math.max(h, b.value ? 1 : 0)}" fill="${color}"><title>${esc(b.title || b.label)}: ${b.value}</title></rect>`;
    out += b.href ? `<a href="${esc(b.href)}" aria-label="${esc((b.title || b.label) + ": " + b.value)}">${rect}</a>` : rect;
    if (i % every === 0) out += `<text x="${x + w / 2}" y="${height - bottom + 16}" text-anchor="middle">${esc(b.label)}</text>`;
  });
  return out + `<text x="${width - 2}" y="${height - 4}" text-anchor="end" class="muted">${esc(TZ_LABEL)}</text></svg>`;
}

// Horizontal bars as a table: each row's label a link when href is given.
function hbars(rows) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  if (!rows.length) return `<p class="muted">${esc(t("common.none"))}</p>`;
  return `<table class="hbars">${rows.map((r) => `<tr><td>${r.href ? `<a href="${esc(r.href)}">${esc(r.label)}</a>` : esc(r.label)}</td><td class="num">${r.value}</td>` +
    `<td class="bar" aria-hidden="true"><span style="width:${(100 * r.value) / max}%"></span></td></tr>`).join("")}</table>`;
}

// A finding as "<b>title</b>: what it says", never saying the title twice (a kind whose name says it all
// has its name as its sentence; other sentences may start with the name).
const beyond = (title, text) => (!text || text === title ? "" : text.startsWith(title + ": ") ? text.slice(title.length + 2) : text);
function findingHtml(title, text, extra = "") {
  const rest = beyond(title, text);
  return `<b>${esc(title)}</b>${extra}${rest ? ": " + esc(rest) : ""}`;
}

// A rejection code's name or advice for people ("rejection" / "advice"), as the shift check names it
// (gateway/query/reconcile.py); a code without its own words reads as "other".
const rejection = (code, what) => t(MESSAGES[`${what}.${code}`] ? `${what}.${code}` : `${what}.other`);

// Repeated names once each, with a count: "Code not in the registry ×3".
function counted(names) {
  const counts = new Map(); names.forEach((n) => counts.set(n, (counts.get(n) || 0) + 1));
  return [...counts].map(([n, c]) => (c > 1 ? `${n} ×${c}` : n));
}

// A table that scrolls sideways on a phone instead of breaking the page; how = "cards": one card a row on a
// phone (every figure on screen, each under its column's name); how = "fit": narrow enough as it is.
const scroll = (html, how = "") => `<div class="scroll${how ? " " + how : ""}">${html}</div>`;

// Each cell of a card table is named by its column's header (data-label, shown before it on a phone).
function labelCells(table) {
  const rows = [...table.rows], head = rows.find((r) => r.querySelector("th") && !r.querySelector("td"));
  if (!head) return;
  const names = [];
  [...head.cells].forEach((c) => { for (let i = 0; i < c.colSpan; i++) names.push(c.textContent.trim()); });
  head.classList.add("head");
  rows.filter((r) => r !== head).forEach((r) => {
    let column = 0;
    [...r.cells].forEach((c) => { if (names[column]) c.dataset.label = names[column]; column += c.colSpan; });
  });
  table.dataset.labelled = "1";
}
new MutationObserver(() => $$(".scroll.cards table:not([data-labelled])").forEach(labelCells))
  .observe(document.documentElement, {childList: true, subtree: true});

const PAGES = {};

document.addEventListener("DOMContentLoaded", async () => {
  const page = document.body.dataset.page;
  try { MESSAGES = await (await fetch(`/ui/i18n/${LANG}.json`)).json(); } catch (e) { MESSAGES = {}; }
  translatePage();
  if (page !== "login") {
    if (!token()) { toLogin(); return; }
    nav(page);
  } else {
    $("header").innerHTML = `<span class="brand">tracegate</span>` + languageSwitch();
    bindLanguageSwitch();
  }
  PAGES[page]();
});
