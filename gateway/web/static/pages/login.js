// Sign in: the token is checked against /v1/whoami; a wrong one says so (never a silent reload).
"use strict";
PAGES.login = () => {
  $("#login").onsubmit = async (e) => {
    e.preventDefault();
    const value = $("#token").value.trim();
    // Blank or only spaces: said here, not sent to the server to come back as "not valid".
    if (!value) { showError("#result", new Error(t("login.empty_token"))); $("#token").focus(); return; }
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      await api("/v1/whoami");
      location.href = "/ui/dashboard";
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      showError("#result", err.status === 401 ? new Error(t("login.wrong_token")) : err);
      $("#token").focus();
    }
  };
};
