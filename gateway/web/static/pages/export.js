// Audit export: the signed history of registers (a retailer's own only) as one file, checked offline.
"use strict";
PAGES.export = () => {
  lockTin($("#tin"));
  // The key to pin, as the PEM file `tracegate verify --export-key` reads (the API answers JSON).
  $("#key").onclick = async () => {
    try { download((await api("/v1/export/key")).public_key_pem, "export-key.pem", "application/x-pem-file"); } catch (err) { showError("#result", err); }
  };
  $("#export").onsubmit = async (e) => {
    e.preventDefault();
    const p = new URLSearchParams(), devices = $("#device").value.split(/[\s,;]+/).filter(Boolean);
    devices.forEach((d) => p.append("device", d));
    if (!devices.length && $("#tin").value.trim()) p.set("tin", $("#tin").value.trim());
    if ($("#since").value) p.set("since", $("#since").value);
    if ($("#until").value) p.set("until", apiUntil($("#until").value));
    busy("#result");
    try {
      let events = "";
      const file = await api("/v1/export?" + p, {blob: true, onHeaders: (h) => { events = h.get("X-Export-Events") || ""; }});
      const what = (devices.length ? devices.join("+") : $("#tin").value.trim()).replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80);
      download(file, `tracegate-export-${what || "export"}-${today().replaceAll("-", "")}.jsonl`, "application/x-ndjson");
      $("#result").innerHTML = `<p id="exported" role="status">${esc(t("export.done", {events, bytes: file.size}))}</p>`;
    } catch (err) { showError("#result", err); }
  };
};
