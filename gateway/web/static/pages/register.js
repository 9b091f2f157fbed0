// A register's reports: its incidents and rejected events, the X-report (its open shift so far) and its
// Z-reports, newest first.
"use strict";
const REFUSALS_PAGE = 5;  // the latest few; older ones a page at a time

// The register's rejected events (GET /v1/registers/{device}/refusals) over a period of local days (the
// last week unless the address names one): counts by reason, each reason a filter of the list below it,
// newest first, paged. Only the events the register signed are its own; for the authority's staff, the
// refusals nobody proved came from it are apart (anyone can send those under its name: docs/security.md).
function refusals(device, retailer) {
  const q = query();
  const state = {
    // A retailer's page lists the refusals the register signed, whatever a link shared by staff asks.
    since: q.get("since") || addDays(today(), -6), until: q.get("until") || today(),
    code: q.get("code") || "", proven: retailer || q.get("proven") !== "0", cursors: [null],
  };
  const apiPath = () => {
    const p = new URLSearchParams({since: state.since, until: apiUntil(state.until), limit: String(REFUSALS_PAGE)});
    if (state.code) p.set("code", state.code);
    if (!state.proven) p.set("proven", "0");
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) p.set("cursor", cursor);
    return `/v1/registers/${encodeURIComponent(device)}/refusals?` + p;
  };
  // The page's address for a view of the list (period, reason, proven or not).
  const href = (code, proven) => "/ui/register?" + new URLSearchParams(Object.assign(
    {device, since: state.since, until: state.until}, code ? {code} : {}, proven ? {} : {proven: "0"})) + "#refusals";
  const th = (text, num = false) => `<th${num ? ' class="num"' : ""}>${esc(text)}</th>`;
  const codes = (id, rows, proven) => scroll(`<table id="${id}"><tr>${th(t("register.refused_col.reason"))}${th(t("register.count"), true)}` +
    `${th(t("register.refused_col.last", {tz: TZ_LABEL}))}${proven ? th(t("shifts.what_to_do")) : ""}</tr>` +
    rows.map((c) => `<tr><td><a href="${esc(href(c.error_code, proven))}" title="${esc(c.error_code)}"${c.error_code === state.code && proven === state.proven ? ' aria-current="true"' : ""}>${esc(c.title)}</a></td>` +
      `<td class="num">${c.count}</td><td class="when">${when(c.last_ms)}</td>${proven ? `<td>${esc(c.advice)}</td>` : ""}</tr>`).join("") + "</table>", "cards");
  const list = (d) => {
    const title = t(state.proven ? "register.refused_latest" : "register.unproven_latest") + (state.code ? ": " + rejection(state.code, "rejection") : "");
    const all = state.code || !state.proven ? ` · <a href="${esc(href("", true))}" id="refusals-all">${esc(t("register.refused_all"))}</a>` : "";
    const rows = d.items.length ? scroll(`<table id="refusal-list"><tr>${th(t("register.refused_col.received", {tz: TZ_LABEL}))}${th(t("register.refused_col.seq"), true)}` +
      `${th(t("register.refused_col.reason"))}${th(t("register.refused_col.detail"))}</tr>` +
      d.items.map((i) => `<tr><td class="when">${when(i.received_ms, true)}</td><td class="num">${i.seq}</td><td title="${esc(i.error_code)}">${esc(i.title)}</td>` +
        `<td class="detail" lang="en">${esc(i.detail)}</td></tr>`).join("") + "</table>", "cards")
      : `<p class="muted">${esc(t(state.code ? "register.refused_none_of_reason" : "register.no_refused"))}</p>`;
    const pager = state.cursors.length > 1 || d.next_cursor ? `<p class="pager"><button type="button" class="secondary" id="refusals-newer"${state.cursors.length > 1 ? "" : " disabled"}>${esc(t("common.newer"))}</button>` +
      ` <span class="muted">${esc(t("anomalies.page", {page: state.cursors.length, rows: d.items.length}))}</span> <button type="button" class="secondary" id="refusals-older"${d.next_cursor ? "" : " disabled"}>${esc(t("common.older"))}</button></p>` : "";
    return `<h3 id="refusal-list-title">${esc(title)}${all}</h3>` + rows + pager;
  };
  const form = `<form id="refusal-period"><label><span>${esc(t("common.from"))}</span><input id="refusals-since" type="date" value="${esc(state.since)}" required></label>` +
    `<label><span>${esc(t("common.to"))}</span><input id="refusals-until" type="date" value="${esc(state.until)}" required></label><button>${esc(t("common.show"))}</button></form>`;
  const section = (inner) => `<h2>${esc(t("register.refused"))}</h2><p class="muted">${esc(t("register.refused_help"))}</p>` + form + inner;

  const render = (d) => {
    const mine = (d.total ? `<p id="refused-total"><strong>${esc(t("register.refused_total", {n: d.total}))}</strong></p>` + codes("refusal-codes", d.by_code, true)
      : `<p class="muted" id="refused-total">${esc(t("register.no_refused"))}</p>`);
    const unproven = d.unproven ? `<h3 id="unproven">${esc(t("register.unproven"))}</h3><p class="muted">${esc(t("register.unproven_help"))}</p>` +
      (d.unproven.total ? `<p>${esc(t("register.unproven_total", {n: d.unproven.total}))}</p>` + codes("unproven-codes", d.unproven.by_code, false)
        : `<p class="muted">${esc(t("register.unproven_none"))}</p>`) : "";
    // The list only when there is something to list, or the reader asked for one reason or page.
    const listed = d.total || d.items.length || state.code || !state.proven || state.cursors.length > 1 ? list(d) : "";
    return section(mine + listed + unproven);
  };
  const bind = (d) => {
    $("#refusal-period").onsubmit = (e) => {
      e.preventDefault();
      Object.assign(state, {since: $("#refusals-since").value, until: $("#refusals-until").value, cursors: [null]});
      setQuery({device, since: state.since, until: state.until, code: state.code, proven: state.proven ? "" : "0"});
      load();
    };
    const older = $("#refusals-older"), newer = $("#refusals-newer");
    if (older) older.onclick = () => { state.cursors = [...state.cursors, d.next_cursor]; load(); };
    if (newer) newer.onclick = () => { state.cursors = state.cursors.slice(0, -1); load(); };
  };
  // Asked again for another period or page: the section says what is wrong in its place, the rest stays.
  async function load() {
    try { const d = await api(apiPath()); $("#refusals").innerHTML = render(d); bind(d); } catch (err) {
      $("#refusals").innerHTML = section(`<p class="error" role="alert">${esc(err.message)}</p>`);
      bind({});
    }
  }
  return {
    first: () => api(apiPath()),
    // Whether an answer holds anything at all (a register with no receipts may still have rejected events).
    any: (d) => d.total > 0 || (d.unproven && d.unproven.total > 0),
    html: (d) => `<section class="card" id="refusals">${d instanceof Error ? section(`<p class="error" role="alert">${esc(d.message)}</p>`) : render(d)}</section>`,
    bind: (d) => { bind(d instanceof Error ? {} : d); if (location.hash === "#refusals") $("#refusals").scrollIntoView(); },
  };
}

PAGES.register = async () => {
  const device = query().get("device") || "";
  $("#device").value = device;
  $("#pick").onsubmit = (e) => { e.preventDefault(); location.href = "/ui/register?device=" + encodeURIComponent($("#device").value.trim()); };
  if (!device) return;
  // Every payment type any report has (cash and card always): the payment columns add up to the takings.
  const paidBy = (rows) => ["cash", "card", "mobile", "credit", "tare"].filter((k, i) => i < 2 || rows.some((r) => r[k]));
  const th = (text, num = true) => `<th${num ? ' class="num"' : ""}>${esc(text)}</th>`;
  const tz = (text) => `${text} ₸`;
  busy("#result");
  const who = await whoami().catch(() => ({}));
  const refused = refusals(device, Boolean(who.seller_tin));
  const [reports, rejected] = await Promise.allSettled([api(`/v1/registers/${encodeURIComponent(device)}/reports`), refused.first()]);
  const refusalsAnswer = rejected.status === "fulfilled" ? rejected.value : rejected.reason;
  if (reports.status === "rejected") {
    // No receipts or reports yet (or not the reader's): the register's own answer, and its rejected events
    // if it has any, which may be why nothing arrived.
    if (rejected.status === "fulfilled" && refused.any(rejected.value)) {
      // Not "check the name": the register exists, and what it sent was refused.
      $("#result").innerHTML = `<p class="error" role="alert">${esc(t("register.none_accepted"))}</p>` + refused.html(rejected.value);
      refused.bind(rejected.value);
    } else showError("#result", reports.reason);
    return;
  }
  try {
    const r = reports.value;
    const x = r.x_report;
    const xPay = x ? paidBy(x.operations) : [];
    const xHtml = x ? `<section class="card" id="x-report"><h2>${esc(t("register.x", {shift: x.shift_number}))}</h2><p class="muted">${esc(t("register.x_span", {first: when(x.first_ms, true), last: when(x.last_ms, true), tz: TZ_LABEL}))}</p>` +
      scroll(`<table><tr>${th(t("receipts.col.operation"), false)}${th(t("register.count"))}${th(tz(t("register.sum")))}${xPay.map((k) => th(tz(t("register.paid." + k)))).join("")}</tr>` +
        x.operations.map((o) => `<tr><td>${esc(t("operation." + o.operation))}</td><td class="num">${o.count}</td><td class="num">${money(o.sum)}</td>${xPay.map((k) => `<td class="num">${money(o[k])}</td>`).join("")}</tr>`).join("") + "</table>", "cards") +
      `<p><a href="/ui/receipts?device=${encodeURIComponent(device)}&shift=${x.shift_number}">${esc(t("register.receipts_of_shift"))}</a></p></section>`
      : `<p class="muted" id="x-report">${esc(t("register.no_open_shift"))}</p>`;
    // What is wrong with this register (forks, gaps, arithmetic, codes): its incidents by kind, each a link
    // into the queue; then what it sent that the gateway refused.
    const found = await api(`/v1/anomalies?device=${encodeURIComponent(device)}&limit=1`);
    const kinds = Object.entries(found.counts || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    const problems = `<section class="card" id="problems"><h2>${esc(t("register.problems"))}</h2>` + (kinds.length
      ? `<ul>${kinds.map(([k, n]) => `<li><a href="/ui/anomalies?device=${encodeURIComponent(device)}&kind=${encodeURIComponent(k)}">${esc(t("kind." + k))}</a> <span class="count">${n}</span></li>`).join("")}</ul>`
      : `<p class="muted">${esc(t("register.no_problems"))}</p>`) + "</section>";
    const zPay = paidBy(r.z_reports);
    $("#result").innerHTML = problems + refused.html(refusalsAnswer) + xHtml + `<h2>${esc(t("register.z"))}</h2>` + (r.z_reports.length ? `<p class="muted">${esc(t("register.z_help"))}</p>` + scroll(`<table id="z-reports"><tr>${th(t("receipts.col.shift"))}${th(t("register.closed", {tz: TZ_LABEL}), false)}
      ${th(t("register.receipts"))}${th(tz(t("register.sold")))}${th(tz(t("register.returned")))}${th(tz(t("register.net")))}${zPay.map((k) => th(tz(t("register.paid." + k)))).join("")}${th(t("register.more"), false)}</tr>` +
      r.z_reports.map((z) => `<tr><td class="num">${z.shift_number}</td><td>${when(z.closed_ms, true)}</td><td class="num">${z.receipt_count}</td><td class="num">${money(z.sell_sum)}</td><td class="num">${money(z.sell_return_sum)}</td>
        <td class="num">${money(z.sell_sum - z.sell_return_sum)}</td>${zPay.map((k) => `<td class="num">${money(z[k])}</td>`).join("")}<td><a href="/ui/receipts?device=${encodeURIComponent(device)}&shift=${z.shift_number}">${esc(t("register.receipts_of_shift"))}</a> ·
        <a href="/ui/reconcile?tin=${encodeURIComponent(z.seller_tin)}&date=${localDay(z.closed_ms)}">${esc(t("register.reconcile"))}</a></td></tr>`).join("") + "</table>", "cards") : `<p class="muted">${esc(t("register.no_z"))}</p>`);
    refused.bind(refusalsAnswer);
  } catch (err) { showError("#result", err); }
};
