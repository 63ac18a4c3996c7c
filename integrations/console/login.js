// integrations/console/login.js -- the login page: shows why the user is here (a wrong token, a
// logout) and passes on the page to return to. The form itself works without this script.
import { withBase } from "./base.js";

const q = new URLSearchParams(location.search);
const next = q.get("next");
if (next && next.startsWith(withBase("/console/")) && !next.startsWith("//")) document.getElementById("next").value = next;
if (q.get("error")) {
  document.getElementById("login-error").hidden = false;
  document.getElementById("token").setAttribute("aria-invalid", "true");
  document.getElementById("token").setAttribute("aria-describedby", "login-error");
}
if (q.get("logged_out")) {
  const m = document.getElementById("login-message");
  m.textContent = "You have logged out.";
  m.hidden = false;
}
document.getElementById("token").focus();
