// The anomaly queue as a work queue: incidents with facets, filters in the URL, counts, case work.
"use strict";
const NOTE_MAX = 2000;  // gateway/query/anomaly_cases.py MAX_NOTE (the page test holds them equal)
PAGES.anomalies = async () => {
  const fields = ["tin", "store", "device", "gtin", "since", "until", "status"];
  const presets = {today: [0, 1], yesterday: [-1, 0], "7d": [-6, 1], "30d": [-29, 1]};
  let kinds = [], cursors = [null], current = null;
  const who = await whoami().catch(() => ({}));
  const staff = who.scope !== "retailer";
  if (!staff) { $("#status").closest("label").hidden = true; }
  lockTin($("#tin"));

  // Kinds named in the URL that the list does not know are still asked for: the API says what is wrong.
  let unknownKinds = [], rendered = false;
  const chosenKinds = () => $$("#kinds input:checked").map((c) => c.value).concat(unknownKinds);
  const params = () => {
    const p = {kind: chosenKinds().join(",")};
    fields.forEach((f) => { p[f] = $("#" + f).value.trim(); });
    if (p.until) p.until = addDays(p.until, 1);  // "to" a day includes that day
    if (!staff) { delete p.status; delete p.tin; }
    return p;
  };
  const urlState = () => { const p = params(); if (p.until) p.until = $("#until").value; p.preset = $("#preset").value; return p; };
  const apiQuery = (extra = {}) => { const p = new URLSearchParams(); for (const [k, v] of Object.entries({...params(), ...extra})) if (v) p.set(k, v); return p; };

  function renderKinds(counts) {
    const checked = new Set(rendered ? chosenKinds() : (query().get("kind") || "").split(",").filter(Boolean));
    rendered = true;
    const families = [...new Set(kinds.map((k) => k.family))];
    $("#kinds").innerHTML = families.map((f) => `<fieldset><legend>${esc(t("family." + f))}</legend>` +
      kinds.filter((k) => k.family === f).map((k) => `<label class="check"><input type="checkbox" value="${esc(k.kind)}"${checked.has(k.kind) ? " checked" : ""}>` +
        `${esc(k.title)} <span class="count">${counts[k.kind] ?? 0}</span></label>`).join("") + `</fieldset>`).join("");
    $("#kind-summary").textContent = checked.size ? t("anomalies.kinds_chosen", {n: checked.size}) : t("anomalies.all_kinds");
  }

  function setPreset(name) {
    $("#preset").value = name;
    if (presets[name]) { const [a, b] = presets[name]; $("#since").value = addDays(today(), a); $("#until").value = addDays(today(), b - 1); }
    if (name === "all") { $("#since").value = ""; $("#until").value = ""; }
  }

  function facetPills(i) { return i.facets.map((f) => `<span class="pill bad-pill" title="${esc(f.text)}">${esc(f.title)}</span>`).join(" "); }

  async function load() {
    setQuery(urlState());
    const c = cursors[cursors.length - 1];
    busy("#result");
    try {
      const page = await api("/v1/anomalies?" + apiQuery({limit: "50", cursor: c || ""}));
      renderKinds(page.counts || {});
      $("#total").textContent = t("anomalies.total", {n: page.total});
      if (!page.items.length) {
        $("#result").innerHTML = `<p class="empty" id="empty">${esc(t(page.total ? "anomalies.empty_page" : "anomalies.empty"))}</p>`;
      } else {
        $("#result").innerHTML = scroll(`<table id="queue"><caption class="sr">${esc(t("anomalies.caption"))}</caption><tr><th>${esc(t("anomalies.col.time", {tz: TZ_LABEL}))}</th><th>${esc(t("anomalies.col.what"))}</th>` +
          `<th>${esc(t("anomalies.col.seller"))}</th><th>${esc(t("anomalies.col.store"))}</th><th>${esc(t("anomalies.col.device"))}</th><th>${esc(t("anomalies.col.code"))}</th><th>${esc(t("anomalies.col.detail"))}</th>` +
          (staff ? `<th>${esc(t("anomalies.col.case"))}</th>` : "") + `</tr>` +
          page.items.map((i) => `<tr data-id="${esc(i.id)}"><td><button type="button" class="link open" data-id="${esc(i.id)}">${when(i.detected_ms)}</button></td><td>${facetPills(i)}</td>` +
            `<td>${esc(i.seller_tin)}</td><td>${esc(i.store_id)}</td><td><a href="/ui/receipt?device=${encodeURIComponent(i.device_id)}&seq=${i.seq}">${esc(i.device_id)} · ${esc(t("common.event_no", {seq: i.seq}))}</a></td>` +
            `<td>${i.cis ? `<a href="/ui/trace?code=${encodeURIComponent(i.cis)}">${esc(i.cis)}</a>` : ""}</td><td>${esc(i.detail)}</td>` +
            (staff ? `<td>${esc(t("case." + i.case.status))}${i.case.assignee ? " · " + esc(i.case.assignee) : ""}</td>` : "") + `</tr>`).join("") + "</table>");
        $$("#queue button.open").forEach((b) => { b.onclick = () => openIncident(b.dataset.id); });
      }
      $("#page").textContent = t("anomalies.page", {page: cursors.length, rows: page.items.length});
      $("#next").disabled = !page.next_cursor; $("#next").onclick = () => { cursors.push(page.next_cursor); load(); };
      $("#prev").disabled = cursors.length < 2; $("#prev").onclick = () => { cursors.pop(); load(); };
    } catch (err) { showError("#result", err); }
  }

  async function openIncident(id) {
    try {
      current = await api("/v1/anomalies/" + id);
      const i = current, panel = $("#incident");
      panel.hidden = false;
      panel.innerHTML = `<h2 id="incident-title">${esc(t("family." + i.family))} · ${esc(i.device_id)} · ${esc(t("common.event_no", {seq: i.seq}))}${i.line ? " · " + esc(t("anomalies.line", {line: i.line})) : ""}</h2>
        <p>${esc(t("anomalies.when", {event: when(i.event_ms, true), detected: when(i.detected_ms, true), tz: TZ_LABEL}))}</p>
        <ul id="facets">${i.facets.map((f) => `<li>${findingHtml(f.title, f.text)}</li>`).join("")}</ul>` +
        (i.cis ? `<p><a href="/ui/trace?code=${encodeURIComponent(i.cis)}">${esc(t("anomalies.trace_code"))}</a></p>` : "") +
        (staff ? `<div class="case"><p id="case-state">${esc(t("case.state", {status: t("case." + i.case.status), assignee: i.case.assignee || t("case.nobody")}))}</p>
          <div class="actions"><button type="button" data-action="assign">${esc(t("case.take"))}</button><button type="button" data-action="unassign"${i.case.assignee ? "" : " disabled"}>${esc(t("case.hand_back"))}</button>
          <button type="button" data-action="${i.case.status === "resolved" ? "reopen" : "resolve"}">${esc(t(i.case.status === "resolved" ? "case.reopen" : "case.resolve"))}</button></div>
          <label>${esc(t("case.note"))}<textarea id="note" rows="2" maxlength="${NOTE_MAX}" aria-describedby="note-count"></textarea><span id="note-count" class="muted"></span></label><button type="button" data-action="note" id="add-note">${esc(t("case.add_note"))}</button>
          <p id="case-message" role="status"></p>
          <h3>${esc(t("case.history"))}</h3><ol id="history">${i.history.map((h) => `<li>${when(h.at_ms, true)} · ${esc(h.actor_label || h.actor)}: ${esc(t("case.action." + h.action, {assignee: h.assignee}))}${h.note ? ` — ${esc(h.note)}` : ""}</li>`).join("") || `<li class="muted">${esc(t("case.no_history"))}</li>`}</ol></div>` : "") +
        `<p><button type="button" class="secondary" id="close-incident">${esc(t("common.close"))}</button></p>`;
      $("#close-incident").onclick = () => { panel.hidden = true; };
      if (staff) {
        const count = () => { $("#note-count").textContent = t("case.note_limit", {used: $("#note").value.length, most: NOTE_MAX}); };
        $("#note").oninput = count; count();
      }
      $$("#incident button[data-action]").forEach((b) => { b.onclick = () => act(b.dataset.action); });
      panel.scrollIntoView({block: "nearest"}); $("#incident-title").setAttribute("tabindex", "-1"); $("#incident-title").focus();
    } catch (err) { showError("#result", err); }
  }

  async function act(action, takeOver = false) {
    const body = {action, note: action === "note" ? $("#note").value : "", take_over: takeOver};
    try {
      await api(`/v1/anomalies/${current.id}/actions`, {method: "POST", body: JSON.stringify(body), headers: {"Content-Type": "application/json"}});
      await openIncident(current.id); load();
    } catch (err) {
      if (err.status === 409 && confirm(t("case.taken_confirm", {message: err.message}))) return act(action, true);
      $("#case-message").textContent = err.message;
    }
  }

  try { kinds = (await api("/v1/anomaly-kinds")).kinds; } catch (err) { showError("#result", err); return; }
  const q = query();
  fields.forEach((f) => { if (q.get(f)) $("#" + f).value = q.get(f); });
  if (q.get("until") && !q.get("preset")) $("#until").value = addDays(q.get("until"), -1);  // links give an exclusive end
  $("#preset").value = q.get("preset") || (q.get("since") || q.get("until") ? "custom" : "all");
  unknownKinds = (q.get("kind") || "").split(",").filter((k) => k && !kinds.some((x) => x.kind === k));
  renderKinds({});
  $("#kinds").onchange = () => { unknownKinds = []; };
  $("#preset").onchange = () => { setPreset($("#preset").value); if ($("#preset").value !== "custom") { cursors = [null]; load(); } };
  ["#since", "#until"].forEach((s) => { $(s).oninput = () => { $("#preset").value = "custom"; }; });
  $("#filters").onsubmit = (e) => { e.preventDefault(); cursors = [null]; load(); };
  $("#clear").onclick = () => { $$("#kinds input").forEach((c) => { c.checked = false; }); fields.forEach((f) => { if (!$("#" + f).readOnly) $("#" + f).value = ""; }); $("#preset").value = "all"; cursors = [null]; load(); };
  $("#csv").onclick = async () => {
    try { download(await api("/v1/anomalies.csv?" + apiQuery({dialect: "excel"}), {blob: true}), "anomalies.csv", "text/csv"); } catch (err) { showError("#result", err); }
  };
  load();
};
