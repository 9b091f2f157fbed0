// The dashboard: a date range (presets or chosen days, in the URL), every figure a link into its view.
"use strict";
PAGES.dashboard = async () => {
  const q = query();
  const presets = {"24h": 1, "7d": 7, "30d": 30};
  const range = () => {
    const preset = $("#preset").value;
    if (preset !== "custom") {
      const until = Date.now(), since = until - presets[preset] * 86400000;
      return {since: String(since), until: String(until), preset};
    }
    // Days the form cannot hold (not a date) are still asked for, so the API says what is wrong.
    return {since: $("#since").value || asked.since || "", until: $("#until").value || asked.until || "", preset};
  };
  // The same parameters as the queue: since = first day, until = last day (inclusive, as the field says).
  // Old addresses named them since_day / until_day (the same days).
  const since = q.get("since") || q.get("since_day") || "", until = q.get("until") || q.get("until_day") || "";
  const asked = {};
  $("#preset").value = q.get("preset") || (since || until ? "custom" : "24h");
  if (!$("#preset").value) $("#preset").value = "custom";
  $("#since").value = since; if (since && !$("#since").value) asked.since = since;
  $("#until").value = until; if (until && !$("#until").value) asked.until = until;
  const custom = () => { $("#custom").hidden = $("#preset").value !== "custom"; };
  $("#preset").onchange = () => { custom(); if ($("#preset").value !== "custom") load(); };
  $("#range").onsubmit = (e) => { e.preventDefault(); delete asked.since; delete asked.until; load(); };
  custom();
  async function load() {
    const r = range();
    setQuery(r.preset === "custom" ? r : {preset: r.preset});
    $("#period").textContent = "";  // never a heading of another range above an error
    busy("#result");
    try {
      const p = new URLSearchParams(); if (r.since) p.set("since", r.since); if (r.until) p.set("until", apiUntil(r.until));
      const d = await api("/v1/dashboard?" + p);
      const hourly = d.bucket_ms < 86400000;
      const sinceDay = localDay(d.since_ms), untilDay = localDay(d.until_ms - 1);
      const span = `since=${sinceDay}&until=${untilDay}`;
      // A seller's shifts of the day say what was rejected and what to do: one link per seller (an unknown
      // register has none), so an analyst lands on that seller's day, not on "Enter the seller's TIN".
      const rejectedBy = (r) => r.sellers.length ? "<br>" + r.sellers.map((s) => `<a href="/ui/reconcile?tin=${encodeURIComponent(s.seller_tin)}&date=${untilDay}">${esc(s.seller_tin)}</a> (${s.count})`).join(" · ") : "";
      const label = (ms) => (hourly ? when(ms).slice(11, 13) + ":00" : when(ms).slice(5, 10));
      const bars = (key) => d.hours.map((h) => ({label: label(h.hour_ms), value: h[key], title: when(h.hour_ms) + " " + TZ_LABEL,
        href: `/ui/receipts?date=${localDay(h.hour_ms)}`}));
      const total = d.hours.reduce((s, h) => s + h.receipts, 0);
      // A range that reaches into the future ends now, not at the end of the hour.
      $("#period").textContent = t("dashboard.period", {since: when(d.since_ms), until: when(Math.min(d.until_ms, Date.now())), tz: TZ_LABEL});
      $("#result").innerHTML = `<div class="grid">
        <section class="card"><h2>${esc(t(hourly ? "dashboard.receipts_hour" : "dashboard.receipts_day"))} <span class="muted" id="receipt-total">${esc(t("dashboard.in_range", {n: total}))}</span></h2>${barChart(bars("receipts"), {name: t("dashboard.receipts")})}</section>
        <section class="card"><h2>${esc(t(hourly ? "dashboard.marked_hour" : "dashboard.marked_day"))}</h2>${barChart(bars("marked_items"), {color: "#1f7a6d", name: t("dashboard.marked")})}</section>
        <section class="card"><h2>${esc(t("dashboard.by_kind"))}</h2><div id="by-kind">${hbars(d.anomalies_by_kind.map((k) => ({label: t("kind." + k.kind), value: k.count, href: `/ui/anomalies?kind=${encodeURIComponent(k.kind)}&${span}`})))}</div></section>
        <section class="card"><h2>${esc(t("dashboard.top_sellers"))}</h2><div id="top-sellers">${hbars(d.top_sellers.map((s) => ({label: s.seller_tin, value: s.anomalies, href: `/ui/anomalies?tin=${encodeURIComponent(s.seller_tin)}&${span}`})))}</div></section>
        <section class="card"><h2>${esc(t("dashboard.top_gtins"))}</h2><div id="top-gtins">${hbars(d.top_gtins.map((g) => ({label: g.gtin, value: g.anomalies, href: `/ui/anomalies?gtin=${encodeURIComponent(g.gtin)}&${span}`})))}</div></section>
        <section class="card"><h2>${esc(t("dashboard.ingest"))}</h2><table>
          <tr><td>${esc(t("dashboard.events"))}</td><td class="num" id="events">${d.ingest.events}</td></tr>
          <tr><td>${esc(t("dashboard.devices"))}</td><td class="num">${d.ingest.devices}</td></tr>
          <tr><td>${esc(t("dashboard.median_delay"))}</td><td class="num" id="median-delay">${number(d.ingest.median_delay_ms / 1000, 1)} ${esc(t("unit.s"))}</td></tr>
          <tr><td>${esc(t("dashboard.max_delay"))}</td><td class="num" id="max-delay">${number(d.ingest.max_delay_ms / 3600000, 1)} ${esc(t("unit.h"))}</td></tr>
          <tr><td>${esc(t("dashboard.last_event"))}</td><td class="num">${when(d.ingest.last_received_ms)} ${d.ingest.last_received_ms ? TZ_LABEL : ""}</td></tr>
          ${d.ingest.journal_unshipped_bytes != null ? `<tr><td>${esc(t("dashboard.journal"))}</td><td class="num" id="journal">${esc(bytes(d.ingest.journal_unshipped_bytes))}</td></tr>` : ""}
          ${d.ingest.rejections_by_code.map((r) => `<tr><td><span title="${esc(rejection(r.error_code, "advice"))} (${esc(r.error_code)})">${esc(t("dashboard.rejected", {reason: rejection(r.error_code, "rejection")}))}</span>${rejectedBy(r)}</td><td class="num">${r.count}</td></tr>`).join("")}
        </table></section></div>`;
    } catch (err) { showError("#result", err); }
  }
  load();
};
