// A register's reports: the X-report (its open shift so far) and its Z-reports, newest first.
"use strict";
PAGES.register = async () => {
  const device = query().get("device") || "";
  $("#device").value = device;
  $("#pick").onsubmit = (e) => { e.preventDefault(); location.href = "/ui/register?device=" + encodeURIComponent($("#device").value.trim()); };
  if (!device) return;
  busy("#result");
  try {
    const r = await api(`/v1/registers/${encodeURIComponent(device)}/reports`);
    const x = r.x_report;
    const xHtml = x ? `<section class="card" id="x-report"><h2>${esc(t("register.x", {shift: x.shift_number}))}</h2><p class="muted">${esc(t("register.x_span", {first: when(x.first_ms), last: when(x.last_ms), tz: TZ_LABEL}))}</p>` +
      scroll(`<table><tr><th>${esc(t("receipts.col.operation"))}</th><th class="num">${esc(t("register.count"))}</th><th class="num">${esc(t("register.sum"))}</th><th class="num">${esc(t("payment.cash"))}</th><th class="num">${esc(t("payment.card"))}</th></tr>` +
        x.operations.map((o) => `<tr><td>${esc(t("operation." + o.operation))}</td><td class="num">${o.count}</td><td class="num">${money(o.sum)}</td><td class="num">${money(o.cash)}</td><td class="num">${money(o.card)}</td></tr>`).join("") + "</table>") +
      `<p><a href="/ui/receipts?device=${encodeURIComponent(device)}&shift=${x.shift_number}">${esc(t("register.receipts_of_shift"))}</a></p></section>`
      : `<p class="muted" id="x-report">${esc(t("register.no_open_shift"))}</p>`;
    $("#result").innerHTML = xHtml + `<h2>${esc(t("register.z"))}</h2>` + (r.z_reports.length ? scroll(`<table id="z-reports"><tr><th class="num">${esc(t("receipts.col.shift"))}</th><th>${esc(t("register.closed", {tz: TZ_LABEL}))}</th>
      <th class="num">${esc(t("register.receipts"))}</th><th class="num">${esc(t("register.sold"))}</th><th class="num">${esc(t("register.returned"))}</th><th class="num">${esc(t("payment.cash"))}</th><th class="num">${esc(t("payment.card"))}</th><th></th></tr>` +
      r.z_reports.map((z) => `<tr><td class="num">${z.shift_number}</td><td>${when(z.closed_ms)}</td><td class="num">${z.receipt_count}</td><td class="num">${money(z.sell_sum)}</td><td class="num">${money(z.sell_return_sum)}</td>
        <td class="num">${money(z.cash)}</td><td class="num">${money(z.card)}</td><td><a href="/ui/receipts?device=${encodeURIComponent(device)}&shift=${z.shift_number}">${esc(t("register.receipts_of_shift"))}</a> ·
        <a href="/ui/reconcile?date=${localDay(z.closed_ms)}">${esc(t("register.reconcile"))}</a></td></tr>`).join("") + "</table>") : `<p class="muted">${esc(t("register.no_z"))}</p>`);
  } catch (err) { showError("#result", err); }
};
