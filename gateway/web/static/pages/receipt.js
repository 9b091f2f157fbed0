// One receipt: its facts, lines, the verdict on each code, anomalies in plain words, the signed original.
"use strict";
PAGES.receipt = async () => {
  const q = query();
  if (!q.get("device") || !q.get("seq")) {  // an address cut short: say what is missing, not "no such resource"
    $("#result").innerHTML = `<p class="empty" id="empty">${esc(t("receipt.none_named"))} <a href="/ui/receipts">${esc(t("receipt.to_list"))}</a></p>`;
    return;
  }
  try {
    const r = await api(`/v1/receipts/${encodeURIComponent(q.get("device") || "")}/${encodeURIComponent(q.get("seq") || "")}`);
    $("h1").textContent = t("receipt.title", {document: r.document_number, device: r.device_id}); translateTitle();
    const pays = ["cash", "card", "credit", "tare", "mobile"].filter((k) => r[k]).map((k) => `${esc(t("payment." + k))} ${money(r[k])}`).join(" · ");
    $("#result").innerHTML = `<section class="card" id="facts"><p>${esc(t("operation." + r.operation))} · <b>${money(r.total)} ₸</b> · ${when(r.event_ms, true)} ${TZ_LABEL}</p>
      <p>${esc(t("receipt.where", {seller: r.seller_tin, store: r.store_id, device: r.device_id, shift: r.shift_number, document: r.document_number, seq: r.seq}))}
      · <a href="/ui/register?device=${encodeURIComponent(r.device_id)}">${esc(t("receipt.reports"))}</a></p>
      <p>${pays}${r.change ? " · " + esc(t("receipt.change")) + " " + money(r.change) : ""} · ${esc(t("receipt.vat"))} ${money(r.vat)}${r.cashier ? " · " + esc(t("receipt.cashier")) + " " + esc(r.cashier) : ""}</p>
      <p>${esc(t("receipt.sign"))}: <code id="sign">${esc(r.fiscal_sign)}</code> · ${esc(t("receipt.received"))} ${when(r.received_ms, true)} ${TZ_LABEL}</p></section>
      <h2>${esc(t("receipt.lines"))}</h2>` + scroll(`<table id="lines"><tr><th class="num">#</th><th>${esc(t("receipt.col.name"))}</th><th>GTIN</th><th class="num" colspan="2">${esc(t("receipt.col.quantity"))}</th>
        <th class="num">${esc(t("receipt.col.price"))}</th><th class="num">${esc(t("receipt.col.adjustment"))}</th><th class="num">${esc(t("receipt.col.sum"))}</th><th>${esc(t("receipt.col.codes"))}</th></tr>` +
        r.lines.map((l) => `<tr${l.storno ? ' class="storno"' : ""}><td class="num">${l.line_no}</td><td>${esc(l.name)}${l.storno ? ` <span class="pill bad-pill">${esc(t("receipt.storno"))}</span>` : ""}</td><td>${esc(l.gtin)}</td>
          <td class="num qty">${quantity(l)}</td><td class="unit">${esc(unit(l.unit))}</td>
          <td class="num">${money(l.price)}</td><td class="num">${adjustment(l)}</td><td class="num">${l.storno ? "−" : ""}${money(l.sum)}</td><td>${r.codes.filter((c) => c.line === l.line_no).map((c) =>
            `<a href="/ui/trace?code=${encodeURIComponent(c.cis || c.raw_code)}">${esc(c.cis || c.raw_code)}</a> <span class="pill${c.verdict === "valid" ? "" : " bad-pill"}">${esc(t("verdict." + c.verdict))}</span>`).join("<br>")}</td></tr>`).join("") + "</table>") + totals(r) +
      (r.anomalies.length ? `<h2>${esc(t("trace.anomalies"))}</h2><ul id="receipt-anomalies">${r.anomalies.map((a) => `<li>${findingHtml(t("kind." + a.kind), a.text, where(a))}</li>`).join("")}</ul>` : "") +
      `<h2>${esc(t("receipt.original"))}</h2>` + (r.original ? `<dl class="original" id="original"><dt>${esc(t("receipt.envelope_hash"))}</dt><dd><code>${esc(r.original.envelope_hash)}</code></dd>
        <dt>${esc(t("receipt.prev_hash"))}</dt><dd><code>${esc(r.original.prev_hash)}</code></dd><dt>${esc(t("receipt.key"))}</dt><dd><code>${esc(r.original.key_id)}</code></dd>
        <dt>${esc(t("receipt.signature"))}</dt><dd><code>${esc(r.original.signature)}</code></dd>
        <dt>${esc(t("receipt.event"))}</dt><dd>${r.original.event_base64 ? `<details><summary>${esc(t("receipt.show_bytes"))}</summary><code class="bytes">${esc(r.original.event_base64)}</code></details>` : esc(t(r.original.protection === "erased" ? "receipt.erased" : "receipt.sealed"))}</dd></dl>` : `<p class="muted">${esc(t("receipt.no_original"))}</p>`);
  } catch (err) { showError("#result", err); }
};
// Which line a finding is about and, for a code's finding, which code (two codes of a line would read alike).
function where(a) {
  if (!a.line) return "";
  if (!a.cis) return " (" + esc(t("anomalies.line", {line: a.line})) + ")";
  return ` <span title="${esc(a.cis)}">(${esc(t("receipt.line_code", {line: a.line, code: shortCode(a.cis)}))})</span>`;
}
// A long code by its start and its end (the serial's end tells two codes of one product apart).
const shortCode = (cis) => (cis.length > 26 ? cis.slice(0, 16) + "…" + cis.slice(-8) : cis);
// A line's quantity (thousandths): whole units as they are, a weighed one to the gram as scales print it
// ("1.940"); a storno line's, which the receipt takes back, negative.
function quantity(l) {
  const whole = l.quantity % 1000 === 0;
  const n = (l.quantity / 1000).toLocaleString(LANG === "en" ? "en-US" : "ru-RU",
    {minimumFractionDigits: whole ? 0 : 3, maximumFractionDigits: 3});
  return (l.storno ? "−" : "") + n;
}
// A line's unit by its name here ("kg"), from its code (OKEI, three digits, as registers print it; "6" is
// "006"), or as sent where this page has no name for it.
function unit(code) {
  if (!code) return "";
  const okei = /^\d{1,3}$/.test(code) ? code.padStart(3, "0") : "";
  return okei && MESSAGES["measure." + okei] ? t("measure." + okei) : t("measure.other", {code});
}
// A line's discount (−) or markup (+), so price × quantity ± it is the line's sum.
function adjustment(l) { return l.discount ? "−" + money(l.discount) : l.markup ? "+" + money(l.markup) : ""; }
// How the lines make the total: their sum, the receipt's own discount and markup, the total.
function totals(r) {
  const lines = r.lines.reduce((a, l) => a + (l.storno ? -l.sum : l.sum), 0);  // a storno line cancels
  const parts = [t("receipt.lines_sum", {sum: money(lines)})];
  if (r.discount) parts.push(t("receipt.discount", {sum: money(r.discount)}));
  if (r.markup) parts.push(t("receipt.markup", {sum: money(r.markup)}));
  return `<p id="totals">${esc(parts.join(" ") + " = " + t("receipt.total", {sum: money(r.total)}))}</p>`;
}
function translateTitle() { document.title = $("h1").textContent + " · tracegate"; }
