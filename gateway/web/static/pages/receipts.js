// Receipts: a list per register and shift, search by fiscal sign / ticket number, document, amount, day.
"use strict";
PAGES.receipts = () => {
  const fields = ["tin", "device", "shift", "date", "sign", "document", "amount"];
  lockTin($("#tin"));
  let cursors = [null];
  const q = query();
  // A value a field cannot hold (a day that is no date) is still asked for: the API says what is wrong.
  let asked = {};
  fields.forEach((f) => { const v = q.get(f); if (v) { $("#" + f).value = v; if ($("#" + f).value !== v) asked[f] = v; } });
  const params = () => { const p = {}; fields.forEach((f) => { p[f] = $("#" + f).value.trim(); }); return Object.assign(p, asked); };
  async function load() {
    setQuery(params());
    const p = new URLSearchParams(); for (const [k, v] of Object.entries(params())) if (v) p.set(k, v);
    p.set("limit", "50"); const c = cursors[cursors.length - 1]; if (c) p.set("cursor", c);
    busy("#result");
    try {
      const page = await api("/v1/receipts?" + p);
      $("#result").innerHTML = page.items.length ? scroll(`<table id="receipts"><tr><th>${esc(t("receipts.col.time", {tz: TZ_LABEL}))}</th><th>${esc(t("receipts.col.device"))}</th>
        <th class="num">${esc(t("receipts.col.shift"))}</th><th class="num">${esc(t("receipts.col.document"))}</th><th>${esc(t("receipts.col.operation"))}</th><th class="num">${esc(t("receipts.col.total"))}</th>
        <th>${esc(t("receipts.col.sign"))}</th><th>${esc(t("receipts.col.findings"))}</th></tr>` +
        page.items.map((r) => `<tr><td><a href="/ui/receipt?device=${encodeURIComponent(r.device_id)}&seq=${r.seq}">${when(r.event_ms, true)}</a></td>
          <td><a href="/ui/register?device=${encodeURIComponent(r.device_id)}">${esc(r.device_id)}</a></td><td class="num"><a href="/ui/receipts?device=${encodeURIComponent(r.device_id)}&shift=${r.shift_number}">${r.shift_number}</a></td>
          <td class="num">${r.document_number}</td><td>${esc(t("operation." + r.operation))}</td><td class="num">${money(r.total)}</td><td><code>${esc(r.fiscal_sign)}</code></td>
          <td>${counted(r.findings.map((k) => t("kind." + k))).map((k) => `<span class="pill bad-pill">${esc(k)}</span>`).join(" ")}</td></tr>`).join("") + "</table>", "cards")
        : `<p class="empty" id="empty">${esc(t("receipts.empty"))}</p>`;
      $("#page").textContent = t("anomalies.page", {page: cursors.length, rows: page.items.length});
      $("#next").disabled = !page.next_cursor; $("#next").onclick = () => { cursors.push(page.next_cursor); load(); };
      $("#prev").disabled = cursors.length < 2; $("#prev").onclick = () => { cursors.pop(); load(); };
    } catch (err) {  // no page counter of an earlier answer beside an error
      $("#page").textContent = ""; $("#next").disabled = true; $("#prev").disabled = cursors.length < 2;
      showError("#result", err);
    }
  }
  $("#search").onsubmit = (e) => { e.preventDefault(); asked = {}; cursors = [null]; load(); };
  load();
};
