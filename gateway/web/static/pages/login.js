// Sign in: the token is checked against /v1/whoami; a wrong one says so (never a silent reload); then back
// to the page the reader had opened.
"use strict";
PAGES.login = () => {
  if (query().get("reason") === "ended") $("#result").innerHTML = `<p class="notice" role="status" id="ended">${esc(t("login.session_ended"))}</p>`;
  $("#login").onsubmit = async (e) => {
    e.preventDefault();
    const value = $("#token").value.trim();
    // Blank or only spaces: said here, not sent to the server to come back as "not valid".
    if (!value) { showError("#result", new Error(t("login.empty_token"))); $("#token").focus(); return; }
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      await api("/v1/whoami");
      location.href = afterLogin(query().get("next"));
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      showError("#result", err.status === 401 ? new Error(t("login.wrong_token")) : err);
      $("#token").focus();
    }
  };
};
