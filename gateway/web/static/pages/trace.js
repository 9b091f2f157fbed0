// Trace a code: registry entry (as the reader may see it), status, timeline, anomalies in plain words.
"use strict";
PAGES.trace = () => {
  // A sale or return is on a receipt line; a pre-sale check is on no receipt: it has its check id.
  const where = (e) => (e.kind === "check"
    ? `<span class="check-id">${esc(t("trace.check_id", {check: e.check_id || "–"}))}</span>`
    : `<a href="/ui/receipt?device=${encodeURIComponent(e.device_id)}&seq=${e.seq}">${esc(t("trace.receipt", {document: e.document_number, line: e.line}))}</a>`);
  const run = async (code) => {
    busy("#result");
    try {
      const r = await api("/v1/trace/" + encodeURIComponent(code));
      let registry;
      if (!r.visible) registry = `<span id="registry">${esc(t("trace.not_visible"))}</span>`;
      else if (!r.registry) registry = `<span id="registry">${esc(t("trace.no_registry"))}</span>`;
      else {
        const g = r.registry, owner = g.owner_tin || t("trace.owner." + g.owner);
        registry = `<span id="registry">${esc(t("trace.registry", {owner, status: t("registry_status." + g.status), expires: g.expires_on || "–"}))}</span>`;
      }
      $("#result").innerHTML = `<section class="card"><h2>cis <code id="cis">${esc(r.code.cis)}</code></h2>
        <p>GTIN ${esc(r.code.gtin)} · ${esc(t("trace.group"))} ${esc(t("group." + (r.code.group || "unknown")))} · ${registry}</p>
        <p>${esc(t("trace.now"))}: <span class="pill" id="status">${esc(t("code_status." + r.status))}</span> · <span id="counts">${esc(t("trace.counts", {sales: r.sales, returns: r.returns}))}</span></p></section>
        <h2>${esc(t("trace.timeline"))} <span class="muted">(${TZ_LABEL})</span></h2>
        <p class="muted" id="order">${esc(t("trace.order"))}</p>` +
        (r.events.length ? `<ul class="timeline" id="timeline">${r.events.map((e) => `<li class="${esc(e.kind)}"><b>${esc(t("event." + e.kind))}</b> ${when(e.event_ms, true)}
          ${e.received_ms ? `<span class="muted received">${esc(t("trace.received", {time: when(e.received_ms, true)}))}</span>` : ""}
          ${e.verdict ? `<span class="pill">${esc(t("verdict." + e.verdict))}</span>` : ""}<br><span class="muted">${esc(t("trace.where", {seller: e.seller_tin, store: e.store_id, device: e.device_id}))}
          · ${where(e)}</span></li>`).join("")}</ul>`
          : `<p class="muted empty" id="timeline">${esc(t(r.visible ? "trace.no_events" : "trace.no_events_visible"))}</p>`) +
        (r.anomalies.length ? `<h2>${esc(t("trace.anomalies"))}</h2>${scroll(`<table id="trace-anomalies">${r.anomalies.map((a) => `<tr><td class="bad">${esc(t("kind." + a.kind))}</td><td>${when(a.event_ms)}</td><td>${esc(beyond(t("kind." + a.kind), a.detail))}</td></tr>`).join("")}</table>`)}` : "");
    } catch (err) { showError("#result", err); }
  };
  const initial = query().get("code");
  if (initial) { $("#code").value = initial; run(initial); }
  $("#search").onsubmit = (e) => { e.preventDefault(); setQuery({code: $("#code").value}); run($("#code").value); };
};
