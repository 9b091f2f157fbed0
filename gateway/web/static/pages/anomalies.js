// The anomaly queue as a work queue: incidents with facets, filters, page and open incident in the URL
// (Back, reload and links work), counts, case work.
"use strict";
const NOTE_MAX = 2000;  // gateway/query/anomaly_cases.py MAX_NOTE (the page test holds them equal)
PAGES.anomalies = async () => {
  const fields = ["tin", "store", "device", "gtin", "since", "until", "status"];
  const presets = {today: [0, 1], yesterday: [-1, 0], "7d": [-6, 1], "30d": [-29, 1]};
  let kinds = [], cursors = [null], current = null;
  const who = await whoami().catch(() => ({}));
  const staff = who.scope !== "retailer", me = who.label || who.token_id;
  if (!staff) { $("#status").closest("label").hidden = true; $("#tin").value = who.seller_tin || ""; $("#tin").readOnly = true; }

  // Values in the URL the form cannot hold (an unknown kind or status, a date that is no date, another
  // seller's TIN on a retailer's token) are still asked for, so the API says what is wrong instead of the
  // page silently dropping them; choosing filters on the page clears them.
  let unknownKinds = [], asked = {}, rendered = false;
  const chosenKinds = () => $$("#kinds input:checked").map((c) => c.value).concat(unknownKinds);
  // The filters as the form and the address say them (until: the last day, inclusive).
  const filters = () => {
    const p = {kind: chosenKinds().join(",")};
    fields.forEach((f) => { p[f] = $("#" + f).value.trim(); });
    if (!staff) { delete p.status; delete p.tin; }
    return Object.assign(p, asked);
  };
  const params = () => { const p = filters(); p.until = apiUntil(p.until); return p; };
  // The URL names the view: filters, period, page, open incident.
  const urlState = () => {
    const p = filters();
    p.preset = $("#preset").value;
    if (cursors.length > 1) { p.page = String(cursors.length); p.cursor = cursors[cursors.length - 1]; }
    if (current && !$("#incident").hidden) p.incident = current.id;
    return p;
  };
  const url = () => { const p = new URLSearchParams(); for (const [k, v] of Object.entries(urlState())) if (v) p.set(k, v); return location.pathname + (p.toString() ? "?" + p : ""); };
  // A step the reader takes (filter, page, open, close) is a history entry; the cursors behind the page
  // travel in its state, so "newer" works after Back and reload too.
  const remember = () => { if (url() !== location.pathname + location.search) history.pushState({cursors}, "", url()); };
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

  const capital = (s) => s.charAt(0).toUpperCase() + s.slice(1);  // "Open" in a cell, "Case open" in a sentence
  // One pill a kind of problem, counted when the incident has it more than once ("… ×3").
  function facetPills(i) {
    const kinds = new Map();
    i.facets.forEach((f) => { const k = kinds.get(f.title) || {texts: new Set(), n: 0}; k.n += 1; k.texts.add(f.text); kinds.set(f.title, k); });
    return [...kinds].map(([title, k]) => `<span class="pill bad-pill" title="${esc([...k.texts].join("; "))}">${esc(k.n > 1 ? `${title} ×${k.n}` : title)}</span>`).join(" ");
  }
  // A clone's "the same code was sold before by …" repeats the sold-twice facet's sentence: its name alone
  // (the queue's plain words drop it the same way, gateway/query/anomalies.py _plain_words).
  const saidOnce = (i, f) => (f.kind === "code_clone" && i.kinds.includes("code_sold_twice") ? f.title : f.text);
  // A receipt opens its receipt view; any other event (a Z-report, a gap notice, …) its register's reports.
  const eventLink = (i) => (i.event_kind === "receipt"
    ? `<a href="/ui/receipt?device=${encodeURIComponent(i.device_id)}&seq=${i.seq}">${esc(i.device_id)} · ${esc(t("common.event_no", {seq: i.seq}))}</a>`
    : `<a href="/ui/register?device=${encodeURIComponent(i.device_id)}" title="${esc(t("anomalies.event_on_register"))}">${esc(i.device_id)} · ${esc(t("common.event_no", {seq: i.seq}))}</a>`);

  async function load() {
    const c = cursors[cursors.length - 1];
    busy("#result");
    try {
      const page = await api("/v1/anomalies?" + apiQuery({limit: "50", cursor: c || ""}));
      renderKinds(page.counts || {});
      $("#total").textContent = t("anomalies.total", {n: page.total});
      if (!page.items.length) {
        $("#result").innerHTML = `<p class="empty" id="empty">${esc(t(page.total ? "anomalies.empty_page" : "anomalies.empty"))}</p>`;
      } else {
        $("#result").innerHTML = scroll(`<table id="queue"><caption class="sr">${esc(t("anomalies.caption"))}</caption><thead><tr><th>${esc(t("anomalies.col.time", {tz: TZ_LABEL}))}</th><th>${esc(t("anomalies.col.what"))}</th>` +
          `<th>${esc(t("anomalies.col.seller"))}</th><th>${esc(t("anomalies.col.store"))}</th><th>${esc(t("anomalies.col.device"))}</th><th>${esc(t("anomalies.col.code"))}</th><th>${esc(t("anomalies.col.detail"))}</th>` +
          (staff ? `<th>${esc(t("anomalies.col.case"))}</th>` : "") + `</tr></thead><tbody>` +
          page.items.map((i) => `<tr data-id="${esc(i.id)}"><td class="when"><button type="button" class="link open" data-id="${esc(i.id)}">${when(i.detected_ms)}</button></td><td>${facetPills(i)}</td>` +
            `<td>${esc(i.seller_tin)}</td><td>${esc(i.store_id)}</td><td>${eventLink(i)}</td>` +
            `<td class="code">${i.cis ? `<a href="/ui/trace?code=${encodeURIComponent(i.cis)}">${esc(i.cis)}</a>` : ""}</td><td class="detail">${esc(i.detail)}</td>` +
            (staff ? `<td>${esc(capital(t("case." + i.case.status)))}${i.case.assignee ? " · " + esc(i.case.assignee) : ""}</td>` : "") + `</tr>`).join("") + "</tbody></table>", "cards");
        $$("#queue button.open").forEach((b) => { b.onclick = () => openIncident(b.dataset.id, true); });
      }
      $("#page").textContent = t("anomalies.page", {page: cursors.length, rows: page.items.length});
      $("#next").disabled = !page.next_cursor; $("#next").onclick = () => { cursors = [...cursors, page.next_cursor]; closeIncident(); remember(); load(); };
      $("#prev").disabled = cursors.length < 2; $("#prev").onclick = () => { cursors = cursors.slice(0, -1); closeIncident(); remember(); load(); };
    } catch (err) {
      // No counts or page of an earlier answer beside an error.
      $("#total").textContent = ""; $("#page").textContent = ""; $("#next").disabled = true; $("#prev").disabled = cursors.length < 2;
      showError("#result", err);
    }
  }

  function closeIncident() { $("#incident").hidden = true; current = null; }

  async function openIncident(id, step = false) {
    try {
      current = await api("/v1/anomalies/" + encodeURIComponent(id));
      const i = current, panel = $("#incident");
      panel.hidden = false;
      if (step) remember();
      // A colleague's case is changed only by taking it over (the API refuses otherwise); notes are open.
      const theirs = staff && i.case.assignee && i.case.assignee !== me, off = theirs ? " disabled" : "";
      // Only the steps that make sense now are offered (the API still refuses the others): a case one
      // holds is not taken again, a resolved case is reopened before it is taken or handed back.
      const resolved = staff && i.case.status === "resolved", mine = staff && !!i.case.assignee && !theirs;
      const takeOff = theirs || mine || resolved ? " disabled" : "", backOff = mine && !resolved ? "" : " disabled";
      panel.innerHTML = `<h2 id="incident-title">${esc(t("family." + i.family))} · ${esc(i.device_id)} · ${esc(t("common.event_no", {seq: i.seq}))}${i.line ? " · " + esc(t("anomalies.line", {line: i.line})) : ""}</h2>
        <p>${esc(t("anomalies.when", {event: when(i.event_ms, true), detected: when(i.detected_ms, true), tz: TZ_LABEL}))}</p>
        <ul id="facets">${i.facets.map((f) => `<li>${findingHtml(f.title, saidOnce(i, f))}</li>`).join("")}</ul>
        <p>${eventLink(i)}${i.cis ? ` · <a href="/ui/trace?code=${encodeURIComponent(i.cis)}">${esc(t("anomalies.trace_code"))}</a>` : ""}</p>` +
        (staff ? `<div class="case"><p id="case-state">${esc(t("case.state", {status: t("case." + i.case.status), assignee: i.case.assignee || t("case.nobody")}))}</p>` +
          (theirs ? `<p class="notice" id="case-theirs">${esc(t("case.held_by", {holder: i.case.assignee}))} <button type="button" id="take-over">${esc(t("case.take_over"))}</button></p>` : "") +
          `<div class="actions"><button type="button" data-action="assign"${takeOff}>${esc(t("case.take"))}</button><button type="button" data-action="unassign"${backOff}>${esc(t("case.hand_back"))}</button>
          <button type="button" data-action="${i.case.status === "resolved" ? "reopen" : "resolve"}"${off}>${esc(t(i.case.status === "resolved" ? "case.reopen" : "case.resolve"))}</button></div>
          <label>${esc(t("case.note"))}<textarea id="note" rows="2" maxlength="${NOTE_MAX}" aria-describedby="note-count"></textarea><span id="note-count" class="muted"></span></label><button type="button" data-action="note" id="add-note">${esc(t("case.add_note"))}</button>
          <p id="case-message" role="status"></p>
          <h3>${esc(t("case.history"))}</h3><ol id="history">${i.history.map((h) => `<li>${when(h.at_ms, true)} · ${esc(h.actor_label || h.actor)}: ${esc(t("case.action." + h.action, {assignee: h.assignee, from: h.from || t("case.nobody")}))}${h.note ? ` — ${esc(h.note)}` : ""}</li>`).join("") || `<li class="muted">${esc(t("case.no_history"))}</li>`}</ol></div>` : "") +
        `<p><button type="button" class="secondary" id="close-incident">${esc(t("common.close"))}</button></p>`;
      $("#close-incident").onclick = () => { closeIncident(); remember(); };
      if (staff) {
        const count = () => { $("#note-count").textContent = t("case.note_limit", {used: $("#note").value.length, most: NOTE_MAX}); };
        $("#note").oninput = count; count();
      }
      $$("#incident button[data-action]").forEach((b) => { b.onclick = () => act(b.dataset.action); });
      if (theirs) $("#take-over").onclick = () => act("assign", true);
      panel.scrollIntoView({block: "nearest"}); $("#incident-title").setAttribute("tabindex", "-1"); $("#incident-title").focus();
    } catch (err) {
      // Said in the panel, not over the list: the list and its counts stay true (and its load cannot wipe it).
      current = null;
      const panel = $("#incident");
      panel.hidden = false;
      panel.innerHTML = `<p class="error" role="alert">${esc(err.message)}</p><p><button type="button" class="secondary" id="close-incident">${esc(t("common.close"))}</button></p>`;
      $("#close-incident").onclick = () => { closeIncident(); remember(); };
    }
  }

  async function act(action, takeOver = false) {
    const body = {action, note: action === "note" ? $("#note").value : "", take_over: takeOver};
    try {
      await api(`/v1/anomalies/${encodeURIComponent(current.id)}/actions`, {method: "POST", body: JSON.stringify(body), headers: {"Content-Type": "application/json"}});
      await openIncident(current.id); load();
    } catch (err) { $("#case-message").textContent = err.message; }
  }

  // The form from the URL (on arrival, Back/Forward).
  function fromUrl() {
    const q = query();
    asked = {};
    fields.forEach((f) => {
      const e = $("#" + f), v = (q.get(f) || "").trim();
      if (!e.readOnly) e.value = v;
      if (v && e.value !== v) asked[f] = v;  // a select, a date input or a locked TIN refused it
    });
    if (!staff && q.get("status")) asked.status = q.get("status");
    $("#preset").value = q.get("preset") || (q.get("since") || q.get("until") ? "custom" : "all");
    if (!$("#preset").value) $("#preset").value = "custom";
    unknownKinds = (q.get("kind") || "").split(",").filter((k) => k && !kinds.some((x) => x.kind === k));
    rendered = false; renderKinds({});
    const page = Number(q.get("page")) || 1, saved = history.state && history.state.cursors;
    cursors = saved && saved.length === page ? saved : (q.get("cursor") ? [null, q.get("cursor")] : [null]);
  }

  try { kinds = (await api("/v1/anomaly-kinds")).kinds; } catch (err) { showError("#result", err); return; }
  fromUrl();
  history.replaceState({cursors}, "", location.href);
  const incidentInUrl = () => query().get("incident");
  $("#kinds").onchange = () => { unknownKinds = []; };
  const changed = () => { asked = {}; unknownKinds = []; cursors = [null]; closeIncident(); remember(); load(); };
  $("#preset").onchange = () => { setPreset($("#preset").value); if ($("#preset").value !== "custom") changed(); };
  ["#since", "#until"].forEach((s) => { $(s).oninput = () => { $("#preset").value = "custom"; }; });
  $("#filters").onsubmit = (e) => { e.preventDefault(); changed(); };
  $("#clear").onclick = () => { $$("#kinds input").forEach((c) => { c.checked = false; }); fields.forEach((f) => { if (!$("#" + f).readOnly) $("#" + f).value = ""; }); $("#preset").value = "all"; changed(); };
  $("#csv").onclick = async () => {
    try { download(await api("/v1/anomalies.csv?" + apiQuery({dialect: "excel"}), {blob: true}), "anomalies.csv", "text/csv"); } catch (err) { showError("#result", err); }
  };
  window.addEventListener("popstate", () => {
    fromUrl(); load();
    if (incidentInUrl()) openIncident(incidentInUrl()); else closeIncident();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("#incident").hidden) { closeIncident(); remember(); }
  });
  load();
  if (incidentInUrl()) openIncident(incidentInUrl());
};
