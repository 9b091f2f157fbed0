// tracegate pages: token in sessionStorage, every figure fetched from the JSON API, charts as inline SVG.
"use strict";
const TOKEN_KEY = "tracegate.token";
const $ = (sel) => document.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "");
const money = (minor) => (minor == null ? "–" : (minor < 0 ? "-" : "") + Math.floor(Math.abs(minor) / 100).toLocaleString("ru-RU") + "." + String(Math.abs(minor) % 100).padStart(2, "0"));

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(path, options = {}) {
  const headers = Object.assign({Authorization: "Bearer " + token()}, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, {headers}));
  if (response.status === 401) { sessionStorage.removeItem(TOKEN_KEY); location.href = "/ui/login"; throw new Error("login"); }
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Error(body.detail || body.error || response.statusText);
  return body;
}

function showError(where, error) { $(where).innerHTML = `<p class="error">${esc(error.message)}</p>`; }

function nav(page) {
  const links = [["dashboard", "Dashboard"], ["trace", "Trace a code"], ["anomalies", "Anomalies"], ["reconcile", "Shifts"], ["books", "Books"]];
  $("header").innerHTML = `<strong>tracegate</strong>` + links.map(([p, t]) => `<a href="/ui/${p}" class="${p === page ? "on" : ""}">${t}</a>`).join("") +
    `<span class="who" id="who"></span><a href="#" id="logout">log out</a>`;
  $("#logout").onclick = () => { sessionStorage.removeItem(TOKEN_KEY); location.href = "/ui/login"; };
  api("/v1/whoami").then((w) => { $("#who").textContent = w.scope + (w.seller_tin ? " · " + w.seller_tin : ""); }).catch(() => {});
}

// A bar chart as inline SVG: bars [{label, value}], labels thinned to fit.
function barChart(bars, {width = 520, height = 180, color = "#457b9d"} = {}) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const left = 34, bottom = 28, w = (width - left) / Math.max(1, bars.length);
  const every = Math.ceil(bars.length / 12);
  let out = `<svg role="img" width="100%" viewBox="0 0 ${width} ${height}">`;
  out += `<text x="0" y="10">${max}</text><text x="0" y="${height - bottom}">0</text>`;
  bars.forEach((b, i) => {
    const h = ((height - bottom - 12) * b.value) / max, x = left + i * w, y = height - bottom - h;
    out += `<rect x="${x + 1}" y="${y}" width="${Math.max(1, w - 2)}" height="${h}" fill="${color}"><title>${esc(b.label)}: ${b.value}</title></rect>`;
    if (i % every === 0) out += `<text x="${x}" y="${height - bottom + 14}">${esc(b.label)}</text>`;
  });
  return out + "</svg>";
}

function hbars(rows) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return `<table>${rows.map((r) => `<tr><td>${esc(r.label)}</td><td class="num">${r.value}</td><td style="width:45%"><svg width="100%" height="12"><rect width="${(100 * r.value) / max}%" height="12" fill="#e76f51"/></svg></td></tr>`).join("") || "<tr><td class=muted>none</td></tr>"}</table>`;
}

const PAGES = {};

PAGES.login = () => {
  $("#login").onsubmit = async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    try { await api("/v1/whoami"); location.href = "/ui/dashboard"; } catch (err) { showError("#result", err); }
  };
};

PAGES.dashboard = async () => {
  try {
    const d = await api("/v1/dashboard");
    const hours = d.hours.map((h) => ({label: new Date(h.hour_ms).toISOString().slice(11, 13) + "h", value: h.receipts}));
    const marked = d.hours.map((h) => ({label: new Date(h.hour_ms).toISOString().slice(11, 13) + "h", value: h.marked_items}));
    const total = d.hours.reduce((s, h) => s + h.receipts, 0);
    $("#result").innerHTML = `<div class="grid">
      <div class="card"><h2>Receipts per hour <span class="muted" id="receipt-total">${total} in 24 h</span></h2>${barChart(hours)}</div>
      <div class="card"><h2>Marked items per hour</h2>${barChart(marked, {color: "#2a9d8f"})}</div>
      <div class="card"><h2>Anomalies by kind</h2><div id="by-kind">${hbars(d.anomalies_by_kind.map((k) => ({label: k.kind, value: k.count})))}</div></div>
      <div class="card"><h2>Top sellers by anomalies</h2>${hbars(d.top_sellers.map((s) => ({label: s.seller_tin, value: s.anomalies})))}</div>
      <div class="card"><h2>Top GTINs by anomalies</h2>${hbars(d.top_gtins.map((g) => ({label: g.gtin, value: g.anomalies})))}</div>
      <div class="card"><h2>Ingest health</h2><table>
        <tr><td>events received (24 h)</td><td class="num" id="events">${d.ingest.events}</td></tr>
        <tr><td>registers sending</td><td class="num">${d.ingest.devices}</td></tr>
        <tr><td>median delay device → gateway</td><td class="num">${(d.ingest.median_delay_ms / 1000).toFixed(1)} s</td></tr>
        <tr><td>longest delay</td><td class="num">${(d.ingest.max_delay_ms / 3600000).toFixed(1)} h</td></tr>
        <tr><td>last event received</td><td class="num">${when(d.ingest.last_received_ms)}</td></tr>
        ${d.ingest.journal_unshipped_bytes != null ? `<tr><td>journal not yet in ClickHouse</td><td class="num">${d.ingest.journal_unshipped_bytes} bytes</td></tr>` : ""}
        ${d.ingest.rejections_by_code.map((r) => `<tr><td>rejected: ${esc(r.error_code)}</td><td class="num">${r.count}</td></tr>`).join("")}
      </table></div></div>`;
  } catch (err) { showError("#result", err); }
};

PAGES.trace = () => {
  const run = async (code) => {
    try {
      const t = await api("/v1/trace/" + encodeURIComponent(code));
      const reg = t.registry ? `owner ${esc(t.registry.owner_tin)}, registry status <b>${esc(t.registry.status)}</b>, expires ${esc(t.registry.expires_on || "–")}` : "no registry entry";
      $("#result").innerHTML = `<div class="card"><h2>cis <code id="cis">${esc(t.code.cis)}</code></h2>
        <p>GTIN ${esc(t.code.gtin)} · group ${esc(t.code.group || "?")} · ${reg}</p>
        <p>Now: <span class="pill" id="status">${esc(t.status)}</span> · <span id="counts">${t.sales} sale(s), ${t.returns} return(s)</span></p></div>
        <h2>Timeline</h2>` + (t.events.length ? `<ul class="timeline" id="timeline">${t.events.map((e) => `<li class="${esc(e.kind)}"><b>${esc(e.kind)}</b> ${when(e.event_ms)} UTC
          ${e.verdict ? `<span class="pill">${esc(e.verdict)}</span>` : ""}<br><span class="muted">seller ${esc(e.seller_tin)} · store ${esc(e.store_id)} · device ${esc(e.device_id)} · receipt ${esc(e.document_number)} line ${esc(e.line)}</span></li>`).join("")}</ul>` : `<p class="muted" id="timeline">No events seen for this code.</p>`) +
        (t.anomalies.length ? `<h2>Anomalies</h2><table>${t.anomalies.map((a) => `<tr><td class="bad">${esc(a.kind)}</td><td>${when(a.event_ms)}</td><td>${esc(a.detail)}</td></tr>`).join("")}</table>` : "");
    } catch (err) { showError("#result", err); }
  };
  const initial = new URLSearchParams(location.search).get("code");
  if (initial) { $("#code").value = initial; run(initial); }
  $("#search").onsubmit = (e) => { e.preventDefault(); history.replaceState(null, "", "?code=" + encodeURIComponent($("#code").value)); run($("#code").value); };
};

PAGES.anomalies = () => {
  const fields = ["kind", "tin", "store", "device", "since", "until"];
  const params = () => { const p = new URLSearchParams(); fields.forEach((f) => { const v = $("#" + f).value.trim(); if (v) p.set(f, v); }); return p; };
  let cursors = [null];
  const load = async () => {
    const p = params(); p.set("limit", "50"); const c = cursors[cursors.length - 1]; if (c) p.set("cursor", c);
    try {
      const page = await api("/v1/anomalies?" + p);
      $("#counts").innerHTML = Object.entries(page.counts || {}).map(([k, n]) => `<a href="#" class="pill" data-kind="${esc(k)}">${esc(k)} ${n}</a>`).join(" ") || "<span class=muted>no anomalies</span>";
      document.querySelectorAll("#counts a").forEach((a) => { a.onclick = (e) => { e.preventDefault(); $("#kind").value = a.dataset.kind; cursors = [null]; load(); }; });
      $("#result").innerHTML = `<table id="queue"><tr><th>event time (UTC)</th><th>kind</th><th>seller</th><th>store</th><th>device</th><th class="num">seq</th><th>code</th><th>detail</th></tr>` +
        page.items.map((i) => `<tr><td>${when(i.event_ms)}</td><td class="bad">${esc(i.kind)}</td><td>${esc(i.seller_tin)}</td><td>${esc(i.store_id)}</td><td>${esc(i.device_id)}</td><td class="num">${i.seq}</td><td>${i.cis ? `<a href="/ui/trace?code=${encodeURIComponent(i.cis)}">${esc(i.cis)}</a>` : ""}</td><td>${esc(i.detail)}</td></tr>`).join("") + "</table>";
      $("#page").textContent = `page ${cursors.length} · ${page.items.length} rows`;
      $("#next").disabled = !page.next_cursor; $("#next").onclick = () => { cursors.push(page.next_cursor); load(); };
      $("#prev").disabled = cursors.length < 2; $("#prev").onclick = () => { cursors.pop(); load(); };
    } catch (err) { showError("#result", err); }
  };
  $("#filters").onsubmit = (e) => { e.preventDefault(); cursors = [null]; load(); };
  $("#csv").onclick = async () => {
    try {
      const text = await api("/v1/anomalies.csv?" + params());
      const a = document.createElement("a"); a.href = URL.createObjectURL(new Blob([text], {type: "text/csv"})); a.download = "anomalies.csv"; a.click();
    } catch (err) { showError("#result", err); }
  };
  new URLSearchParams(location.search).forEach((v, k) => { if (fields.includes(k)) $("#" + k).value = v; });
  load();
};

PAGES.reconcile = () => {
  $("#date").value = $("#date").value || new Date().toISOString().slice(0, 10);
  api("/v1/whoami").then((w) => { if (w.seller_tin) { $("#tin").value = w.seller_tin; $("#tin").readOnly = true; } }).catch(() => {});
  $("#shifts").onsubmit = async (e) => {
    e.preventDefault();
    try {
      const d = await api(`/v1/reconcile/shifts?tin=${encodeURIComponent($("#tin").value)}&date=${$("#date").value}`);
      const s = d.summary;
      $("#result").innerHTML = `<p id="summary">${s.shifts} shift(s), <span class="${s.shifts_agreeing === s.shifts ? "good" : "bad"}">${s.shifts_agreeing} add up</span>, ${s.missing_documents} missing document(s), ${s.rejected_events} rejected event(s)</p>` +
        d.shifts.map((sh) => `<div class="card shift"><h2>${esc(sh.device_id)} · shift ${sh.shift_number} · closed ${when(sh.closed_ms)} UTC · <span class="${sh.agrees ? "good" : "bad"}">${sh.agrees ? "adds up" : "does not add up"}</span></h2>
          <table><tr><th></th><th class="num">Z-report</th><th class="num">receipts</th><th></th></tr>
          ${sh.operations.map((o) => `<tr><td>${o.operation} count</td><td class="num">${o.z_count}</td><td class="num">${o.receipts_count}</td><td class="${o.agrees ? "good" : "bad"}">${o.agrees ? "✓" : "differs"}</td></tr><tr><td>${o.operation} sum</td><td class="num">${money(o.z_sum)}</td><td class="num">${money(o.receipts_sum)}</td><td></td></tr>`).join("")}
          ${sh.payments.map((p) => `<tr><td>${esc(p.operation)} paid by ${esc(p.payment.toLowerCase())}</td><td class="num">${money(p.z_sum)}</td><td class="num">${money(p.receipts_sum)}</td><td class="${p.agrees ? "good" : "bad"}">${p.agrees ? "✓" : "differs"}</td></tr>`).join("")}
          </table>${sh.missing_document_count ? `<p class="bad">Missing document numbers: ${sh.missing_documents.join(", ")}</p>` : ""}</div>`).join("") +
        (d.rejections.length ? `<h2>Rejected events</h2><table><tr><th>device</th><th>error</th><th class="num">count</th><th>what to do</th></tr>${d.rejections.map((r) => `<tr><td>${esc(r.device_id)}</td><td class="bad">${esc(r.error_code)}</td><td class="num">${r.count}</td><td>${esc(r.what_to_do)}</td></tr>`).join("")}</table>` : "");
    } catch (err) { showError("#result", err); }
  };
};

PAGES.books = () => {
  api("/v1/whoami").then((w) => { if (w.seller_tin) { $("#tin").value = w.seller_tin; $("#tin").readOnly = true; } }).catch(() => {});
  let lastText = "";
  const url = (format) => `/v1/reconcile/books?tin=${encodeURIComponent($("#tin").value)}${format ? "&format=csv" : ""}`;
  $("#upload").onsubmit = async (e) => {
    e.preventDefault();
    const file = $("#file").files[0];
    if (!file) { showError("#result", new Error("choose your CSV export first")); return; }
    lastText = await file.text();
    try {
      const r = await api(url(false), {method: "POST", body: lastText, headers: {"Content-Type": "text/csv"}});
      const s = r.summary;
      $("#result").innerHTML = `<p id="summary"><span class="good">matched ${s.matched}</span> · <span class="bad">amount differs ${s.amount_differs}</span> · <span class="bad">missing on our side ${s.missing_on_our_side}</span> · missing in your books ${s.missing_in_your_books}</p>
        <p><button id="download" type="button">Download the comparison as CSV</button></p>
        <table id="rows"><tr><th>status</th><th>device</th><th class="num">document</th><th class="num">our total</th><th class="num">your total</th><th class="num">difference</th></tr>` +
        r.rows.filter((x) => x.status !== "matched").concat(r.rows.filter((x) => x.status === "matched")).map((x) => `<tr><td class="${x.status === "matched" ? "good" : "bad"}">${esc(x.status.replaceAll("_", " "))}</td><td>${esc(x.device_id)}</td><td class="num">${x.document_number}</td><td class="num">${money(x.our_total)}</td><td class="num">${money(x.their_total)}</td><td class="num">${money(x.difference)}</td></tr>`).join("") + "</table>";
      $("#download").onclick = async () => {
        const text = await api(url(true), {method: "POST", body: lastText, headers: {"Content-Type": "text/csv"}});
        const a = document.createElement("a"); a.href = URL.createObjectURL(new Blob([text], {type: "text/csv"})); a.download = "books-comparison.csv"; a.click();
      };
    } catch (err) { showError("#result", err); }
  };
};

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page !== "login") {
    if (!token()) { location.href = "/ui/login"; return; }
    nav(page);
  }
  PAGES[page]();
});
