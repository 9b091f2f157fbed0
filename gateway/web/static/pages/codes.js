// Many codes at once: a file (or pasted text) of codes, each one's status and history summary.
"use strict";
PAGES.codes = () => {
  let last = null, input = "";
  // A file named .csv is read as CSV (its first column, quotes honoured); anything else one code a line.
  const body = async () => { const file = $("#file").files[0]; input = file && /\.csv$/i.test(file.name) ? "csv" : ""; return file ? await file.arrayBuffer() : $("#pasted").value; };
  $("#check").onsubmit = async (e) => {
    e.preventDefault();
    busy("#result");
    try {
      last = await body();
      const r = await api("/v1/codes/statuses" + (input ? "?input=csv" : ""), {method: "POST", body: last, headers: {"Content-Type": "application/octet-stream"}});
      $("#result").innerHTML = `<p id="code-counts">${Object.entries(r.counts).map(([s, n]) => `<span class="pill">${esc(t("code_status." + s))} ${n}</span>`).join(" ")}</p>
        <p><button type="button" id="download">${esc(t("common.download_csv"))}</button></p>` +
        scroll(`<table id="statuses"><tr><th>${esc(t("codes.col.code"))}</th><th>${esc(t("codes.col.status"))}</th><th class="num">${esc(t("codes.col.sales"))}</th><th class="num">${esc(t("codes.col.returns"))}</th>
          <th>${esc(t("codes.col.last", {tz: TZ_LABEL}))}</th><th class="num">${esc(t("codes.col.anomalies"))}</th></tr>` +
          r.items.map((i) => `<tr><td>${i.cis ? `<a href="/ui/trace?code=${encodeURIComponent(i.cis)}">${esc(i.cis)}</a>` : esc(i.input)}</td>
            <td class="${["sold", "returned", "introduced"].includes(i.status) ? "" : "bad"}">${esc(t("code_status." + i.status))}${i.reason ? ": " + esc(t("error." + i.reason)) : i.error ? ": " + esc(i.error) : ""}</td>
            <td class="num">${i.sales ?? ""}</td><td class="num">${i.returns ?? ""}</td><td>${i.last_event ? esc(t("event." + i.last_event)) + " " + when(i.last_event_ms) : ""}</td><td class="num">${i.anomalies ?? ""}</td></tr>`).join("") + "</table>");
      $("#download").onclick = async () => {
        download(await api("/v1/codes/statuses?format=csv&dialect=excel" + (input ? "&input=csv" : ""), {method: "POST", body: last, blob: true}), "code-statuses.csv", "text/csv");
      };
    } catch (err) { showError("#result", err); }
  };
};
