// Does my shift add up: each shift closed that local day, its Z-report against its receipts; rejections.
"use strict";
PAGES.reconcile = () => {
  const q = query();
  $("#date").value = q.get("date") || today();
  const mark = (agrees) => `<td class="${agrees ? "good" : "bad"}">${esc(t(agrees ? "shifts.ok" : "shifts.differs"))}</td>`;
  // The heading says why a shift does not add up, not only that it does not.
  const verdict = (sh) => {
    if (sh.agrees) return t("shifts.adds_up");
    const figures = sh.z_receipt_count !== sh.receipts_count || sh.operations.some((o) => !o.agrees) || sh.payments.some((p) => !p.agrees);
    const reasons = [figures ? t("shifts.reason.figures") : "", sh.missing_document_count ? t("shifts.reason.missing", {n: sh.missing_document_count}) : ""];
    return t("shifts.does_not_add_up") + ": " + reasons.filter(Boolean).join("; ");
  };
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
          <span class="${sh.agrees ? "good" : "bad"}">${esc(verdict(sh))}</span></h2>` +
          scroll(`<table><tr><th></th><th class="num">${esc(t("shifts.z"))}</th><th class="num">${esc(t("shifts.receipts"))}</th><th></th></tr>
          ${sh.operations.map((o) => `<tr><td>${esc(t("shifts.count_of", {op: t("operation." + o.operation)}))}</td><td class="num">${o.z_count}</td><td class="num">${o.receipts_count}</td>${mark(o.z_count === o.receipts_count)}</tr>
            <tr><td>${esc(t("shifts.sum_of", {op: t("operation." + o.operation)}))}</td><td class="num">${money(o.z_sum)}</td><td class="num">${money(o.receipts_sum)}</td>${mark(o.z_sum === o.receipts_sum)}</tr>`).join("")}
          ${sh.payments.map((p) => `<tr><td>${esc(t("shifts.paid_by", {op: t("operation." + p.operation), payment: t("payment." + p.payment.toLowerCase())}))}</td><td class="num">${money(p.z_sum)}</td><td class="num">${money(p.receipts_sum)}</td>${mark(p.agrees)}</tr>`).join("")}
          </table>`, "fit") + (sh.missing_document_count ? `<p class="bad">${esc(t("shifts.missing", {numbers: sh.missing_documents.join(", ")}))}</p>` : "") +
          `<p><a href="/ui/receipts?device=${encodeURIComponent(sh.device_id)}&shift=${sh.shift_number}">${esc(t("register.receipts_of_shift"))}</a></p></section>`).join("") +
        (d.rejections.length ? `<h2>${esc(t("shifts.rejected"))}</h2>` + scroll(`<table><tr><th>${esc(t("receipts.col.device"))}</th><th>${esc(t("shifts.error"))}</th><th class="num">${esc(t("register.count"))}</th><th>${esc(t("shifts.what_to_do"))}</th></tr>${d.rejections.map((r) => `<tr><td>${esc(r.device_id)}</td><td class="bad" title="${esc(r.error_code)}">${esc(r.meaning)}</td><td class="num">${r.count}</td><td>${esc(r.what_to_do)}</td></tr>`).join("")}</table>`, "cards") : "");
    } catch (err) { showError("#result", err); }
  };
  $("#shifts").onsubmit = (e) => { e.preventDefault(); run(); };
  // A seller or a day in the address, or a retailer's own seller: today (UTC+5) unless a day is named.
  if (q.get("date") || q.get("tin")) run();
  else whoami().then((w) => { if (w.seller_tin) run(); else $("#result").innerHTML = `<p class="muted" id="choose">${esc(t("shifts.choose", {tz: TZ_LABEL}))}</p>`; }).catch(() => {});
};
