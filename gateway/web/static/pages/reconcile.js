// Does my shift add up: each shift closed that local day, its Z-report against its receipts; rejections.
"use strict";
PAGES.reconcile = () => {
  const q = query();
  $("#date").value = q.get("date") || today();
  if (q.get("tin")) $("#tin").value = q.get("tin");
  lockTin($("#tin"));
  const run = async () => {
    setQuery({tin: $("#tin").value, date: $("#date").value});
    busy("#result");
    try {
      const d = await api(`/v1/reconcile/shifts?tin=${encodeURIComponent($("#tin").value)}&date=${$("#date").value}`);
      const s = d.summary;
      $("#result").innerHTML = `<p id="summary">${esc(t("shifts.summary", {shifts: s.shifts, missing: s.missing_documents, rejected: s.rejected_events}))}
        <span class="${s.shifts_agreeing === s.shifts ? "good" : "bad"}">${esc(t("shifts.agreeing", {n: s.shifts_agreeing}))}</span></p>` +
        (d.shifts.length ? "" : `<p class="empty">${esc(t("shifts.empty"))}</p>`) +
        d.shifts.map((sh) => `<section class="card shift"><h2>${esc(sh.device_id)} · ${esc(t("shifts.shift", {n: sh.shift_number}))} · ${esc(t("shifts.closed", {time: when(sh.closed_ms), tz: TZ_LABEL}))} ·
          <span class="${sh.agrees ? "good" : "bad"}">${esc(t(sh.agrees ? "shifts.adds_up" : "shifts.does_not_add_up"))}</span></h2>` +
          scroll(`<table><tr><th></th><th class="num">${esc(t("shifts.z"))}</th><th class="num">${esc(t("shifts.receipts"))}</th><th></th></tr>
          ${sh.operations.map((o) => `<tr><td>${esc(t("shifts.count_of", {op: t("operation." + o.operation)}))}</td><td class="num">${o.z_count}</td><td class="num">${o.receipts_count}</td><td class="${o.agrees ? "good" : "bad"}">${esc(t(o.agrees ? "shifts.ok" : "shifts.differs"))}</td></tr>
            <tr><td>${esc(t("shifts.sum_of", {op: t("operation." + o.operation)}))}</td><td class="num">${money(o.z_sum)}</td><td class="num">${money(o.receipts_sum)}</td><td></td></tr>`).join("")}
          ${sh.payments.map((p) => `<tr><td>${esc(t("shifts.paid_by", {op: t("operation." + p.operation), payment: t("payment." + p.payment.toLowerCase())}))}</td><td class="num">${money(p.z_sum)}</td><td class="num">${money(p.receipts_sum)}</td><td class="${p.agrees ? "good" : "bad"}">${esc(t(p.agrees ? "shifts.ok" : "shifts.differs"))}</td></tr>`).join("")}
          </table>`) + (sh.missing_document_count ? `<p class="bad">${esc(t("shifts.missing", {numbers: sh.missing_documents.join(", ")}))}</p>` : "") +
          `<p><a href="/ui/receipts?device=${encodeURIComponent(sh.device_id)}&shift=${sh.shift_number}">${esc(t("register.receipts_of_shift"))}</a></p></section>`).join("") +
        (d.rejections.length ? `<h2>${esc(t("shifts.rejected"))}</h2>` + scroll(`<table><tr><th>${esc(t("receipts.col.device"))}</th><th>${esc(t("shifts.error"))}</th><th class="num">${esc(t("register.count"))}</th><th>${esc(t("shifts.what_to_do"))}</th></tr>${d.rejections.map((r) => `<tr><td>${esc(r.device_id)}</td><td class="bad" title="${esc(r.error_code)}">${esc(r.meaning)}</td><td class="num">${r.count}</td><td>${esc(r.what_to_do)}</td></tr>`).join("")}</table>`) : "");
    } catch (err) { showError("#result", err); }
  };
  $("#shifts").onsubmit = (e) => { e.preventDefault(); run(); };
  if (q.get("date")) run();
};
