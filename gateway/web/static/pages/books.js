// Compare with my books: the file's registers and days (or a chosen range), differences first, by status.
"use strict";
PAGES.books = () => {
  lockTin($("#tin"));
  let lastBody = null, result = null, status = "", mine = false;
  whoami().then((w) => { mine = !!w.seller_tin; }).catch(() => {});
  const url = (extra = {}) => {
    const p = new URLSearchParams({tin: $("#tin").value});
    if ($("#since").value) p.set("since", $("#since").value);
    if ($("#until").value) p.set("until", $("#until").value);
    for (const [k, v] of Object.entries(extra)) if (v) p.set(k, v);
    return "/v1/reconcile/books?" + p;
  };
  const post = (extra, options = {}) => api(url(extra), Object.assign({method: "POST", body: lastBody, headers: {"Content-Type": "application/octet-stream"}}, options));
  function render() {
    const s = result.summary, c = result.covers;
    const statuses = ["amount_differs", "missing_on_our_side", "missing_in_your_books", "matched"];
    $("#result").innerHTML = `<p id="covers">${esc(t("books.covers", {devices: c.devices.join(", ") || "–", since: c.since, until: c.until, rows: c.file_rows}))}${c.outside_range ? " " + esc(t("books.outside", {n: c.outside_range})) : ""}</p>
      ${c.not_sellers_registers.length ? `<p class="bad" id="not-yours" role="alert">${esc(t(mine ? "books.not_yours" : "books.not_sellers", {devices: c.not_sellers_registers.join(", "), rows: c.not_sellers_rows}))}</p>` : ""}
      <div id="summary" class="filters" role="group" aria-label="${esc(t("books.filter"))}"><button type="button" data-status="" aria-pressed="${!status}">${esc(t("books.all", {n: statuses.reduce((a, k) => a + s[k], 0)}))}</button>` +
      statuses.map((k) => `<button type="button" data-status="${k}" class="${k === "matched" ? "good-button" : "bad-button"}" aria-pressed="${status === k}">${esc(t("books.status." + k))} ${s[k]}</button>`).join("") + `</div>
      <p><button id="download" type="button">${esc(t("common.download_csv"))}</button> <button id="download-xlsx" type="button">${esc(t("common.download_xlsx"))}</button></p>` +
      (result.rows.length ? scroll(`<table id="rows"><tr><th>${esc(t("books.column.status"))}</th><th>${esc(t("books.column.device_id"))}</th><th class="num">${esc(t("books.column.document_number"))}</th><th>${esc(t("books.column.operation"))}</th>
        <th>${esc(t("books.time", {tz: TZ_LABEL}))}</th><th class="num">${esc(t("books.column.our_total"))}</th><th class="num">${esc(t("books.column.their_total"))}</th><th class="num">${esc(t("books.column.difference"))}</th></tr>` +
        result.rows.map((x) => `<tr><td class="${x.status === "matched" ? "good" : "bad"}">${esc(t("books.status." + x.status))}</td><td>${esc(x.device_id)}</td><td class="num">${x.document_number}</td><td>${x.operation ? esc(t("operation." + x.operation)) : ""}</td>
          <td>${when(x.their_time_ms ?? x.our_time_ms, true)}</td><td class="num">${money(x.our_total)}</td><td class="num">${money(x.their_total)}</td><td class="num">${money(x.difference)}</td></tr>`).join("") + "</table>", "cards")
        : `<p class="empty">${esc(t("books.none_with_status"))}</p>`);
    $$("#summary button").forEach((b) => { b.onclick = async () => { status = b.dataset.status; result = await post({status}); render(); }; });
    $("#download").onclick = async () => download(await post({format: "csv", dialect: "excel", status}, {blob: true}), "books-comparison.csv", "text/csv");
    $("#download-xlsx").onclick = async () => download(await post({format: "xlsx", status}, {blob: true}), "books-comparison.xlsx");
  }
  $("#upload").onsubmit = async (e) => {
    e.preventDefault();
    const file = $("#file").files[0];
    if (!file) { showError("#result", new Error(t("books.choose_file"))); return; }
    lastBody = await file.arrayBuffer(); status = "";
    busy("#result");
    try { result = await post({}); render(); } catch (err) { showError("#result", err); }
  };
};
