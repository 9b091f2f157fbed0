// A register's reports: the X-report (its open shift so far) and its Z-reports, newest first.
"use strict";
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
  try {
    const r = await api(`/v1/registers/${encodeURIComponent(device)}/reports`);
    const x = r.x_report;
    const xPay = x ? paidBy(x.operations) : [];
    const xHtml = x ? `<section class="card" id="x-report"><h2>${esc(t("register.x", {shift: x.shift_number}))}</h2><p class="muted">${esc(t("register.x_span", {first: when(x.first_ms, true), last: when(x.last_ms, true), tz: TZ_LABEL}))}</p>` +
      scroll(`<table><tr>${th(t("receipts.col.operation"), false)}${th(t("register.count"))}${th(tz(t("register.sum")))}${xPay.map((k) => th(tz(t("register.paid." + k)))).join("")}</tr>` +
        x.operations.map((o) => `<tr><td>${esc(t("operation." + o.operation))}</td><td class="num">${o.count}</td><td class="num">${money(o.sum)}</td>${xPay.map((k) => `<td class="num">${money(o[k])}</td>`).join("")}</tr>`).join("") + "</table>", "cards") +
      `<p><a href="/ui/receipts?device=${encodeURIComponent(device)}&shift=${x.shift_number}">${esc(t("register.receipts_of_shift"))}</a></p></section>`
      : `<p class="muted" id="x-report">${esc(t("register.no_open_shift"))}</p>`;
    // What is wrong with this register (forks, gaps, arithmetic, codes): its incidents by kind, each a link
    // into the queue; the shifts page has the refusals of a day.
    const found = await api(`/v1/anomalies?device=${encodeURIComponent(device)}&limit=1`);
    const kinds = Object.entries(found.counts || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    const problems = `<section class="card" id="problems"><h2>${esc(t("register.problems"))}</h2>` + (kinds.length
      ? `<ul>${kinds.map(([k, n]) => `<li><a href="/ui/anomalies?device=${encodeURIComponent(device)}&kind=${encodeURIComponent(k)}">${esc(t("kind." + k))}</a> <span class="count">${n}</span></li>`).join("")}</ul>`
      : `<p class="muted">${esc(t("register.no_problems"))}</p>`) + "</section>";
    const zPay = paidBy(r.z_reports);
    $("#result").innerHTML = problems + xHtml + `<h2>${esc(t("register.z"))}</h2>` + (r.z_reports.length ? `<p class="muted">${esc(t("register.z_help"))}</p>` + scroll(`<table id="z-reports"><tr>${th(t("receipts.col.shift"))}${th(t("register.closed", {tz: TZ_LABEL}), false)}
      ${th(t("register.receipts"))}${th(tz(t("register.sold")))}${th(tz(t("register.returned")))}${th(tz(t("register.net")))}${zPay.map((k) => th(tz(t("register.paid." + k)))).join("")}${th(t("register.more"), false)}</tr>` +
      r.z_reports.map((z) => `<tr><td class="num">${z.shift_number}</td><td>${when(z.closed_ms, true)}</td><td class="num">${z.receipt_count}</td><td class="num">${money(z.sell_sum)}</td><td class="num">${money(z.sell_return_sum)}</td>
        <td class="num">${money(z.sell_sum - z.sell_return_sum)}</td>${zPay.map((k) => `<td class="num">${money(z[k])}</td>`).join("")}<td><a href="/ui/receipts?device=${encodeURIComponent(device)}&shift=${z.shift_number}">${esc(t("register.receipts_of_shift"))}</a> ·
        <a href="/ui/reconcile?tin=${encodeURIComponent(z.seller_tin)}&date=${localDay(z.closed_ms)}">${esc(t("register.reconcile"))}</a></td></tr>`).join("") + "</table>", "cards") : `<p class="muted">${esc(t("register.no_z"))}</p>`);
  } catch (err) { showError("#result", err); }
};
