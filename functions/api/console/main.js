// The operator console: sign-in, then the list view (#/?filters) or one dispute (#/disputes/<id>),
// refreshed on their own. Everything it shows comes from /ops with the signed-in person's token;
// the page itself holds no data.

import { SignedOut, call } from "./api.js";
import { completeSignIn, loadSettings, signIn, signOut, token } from "./auth.js";
import { showDispute } from "./detail.js";
import { $, problem, show } from "./dom.js";
import { filtersFrom, refreshList, resetPages, setUpList } from "./list.js";

const REFRESH_MS = 30_000;
// While a dispute is on its way (received, submitting, or just retried), it is looked at more often.
const WATCH_MS = 3_000;
const MOVING = new Set(["received", "submitting"]);

let me = null;
let shownFilters = null;
let timer = null;
let watching = false;

async function start() {
  $("sign-in").addEventListener("click", () => signIn());
  $("sign-out").addEventListener("click", () => signOut());
  let settings;
  try {
    settings = await loadSettings();
  } catch (error) {
    return signedOut(error.message, false);
  }
  if (!settings.sign_in) return signedOut(settings.message, false);
  try {
    await completeSignIn();
  } catch (error) {
    return signedOut(error.message, true);
  }
  if (!token()) return signedOut("The console shows disputes to signed-in operators only.", true);
  try {
    me = await call("GET", "/ops/me");
  } catch (error) {
    return failed(error);
  }
  $("who-name").textContent = me.username;
  $("who-role").textContent = me.may_retry ? "operator" : me.may_read ? "viewer" : "no access";
  show($("who"));
  if (!me.may_read) {
    return signedOut(
      `${me.username} is in no group that may read disputes: ask an administrator to add you to dispute-viewers or dispute-operators.`,
      false,
    );
  }
  setUpList(me, render);
  window.addEventListener("hashchange", () => render(true));
  document.addEventListener("dispute-retried", () => {
    watching = true;
    render();
  });
  $("refresh-now").addEventListener("click", () => render());
  $("auto-refresh").addEventListener("change", schedule);
  document.addEventListener("visibilitychange", schedule);
  await render(true);
}

async function render(navigated = false) {
  // A refresh rebuilds what it shows: the keyboard focus goes back to the control it was on.
  const focused = navigated ? null : focusKey(document.activeElement);
  await showRoute(navigated);
  if (focused) document.querySelector(focused)?.focus();
  schedule();
}

function focusKey(element) {
  if (!element || element === document.body) return null;
  if (element.id) return `#${CSS.escape(element.id)}`;
  const label = element.getAttribute("aria-label");
  return label ? `[aria-label="${CSS.escape(label)}"]` : null;
}

async function showRoute(navigated) {
  const route = location.hash.replace(/^#/, "") || "/";
  const detail = route.match(/^\/disputes\/([^/?]+)$/);
  try {
    if (detail) {
      show($("list-view"), false);
      show($("signed-out"), false);
      show($("detail-view"));
      const shown = await showDispute(decodeURIComponent(detail[1]), me);
      watching = watching && shown !== null && shown.dispute.status === "failed" && !!shown.retried_by;
      watching = watching || (shown !== null && MOVING.has(shown.dispute.status));
      if (navigated) $("detail-title").focus();
    } else {
      watching = false;
      const filters = filtersFrom(route.split("?")[1] || "");
      const key = JSON.stringify(filters);
      if (key !== shownFilters) resetPages();
      shownFilters = key;
      show($("detail-view"), false);
      show($("signed-out"), false);
      show($("list-view"));
      await refreshList(filters);
      if (navigated && route !== "/") $("list-title").focus();
    }
  } catch (error) {
    failed(error);
  }
}

function schedule() {
  clearTimeout(timer);
  if (me === null || document.visibilityState !== "visible") return;
  const onList = !$("list-view").hidden;
  if (onList && !$("auto-refresh").checked) return;
  timer = setTimeout(() => render(), watching ? WATCH_MS : REFRESH_MS);
}

function failed(error) {
  if (error instanceof SignedOut) {
    me = null;
    clearTimeout(timer);
    return signedOut(error.message, true);
  }
  const onDetail = !$("detail-view").hidden;
  problem($(onDetail ? "detail-problem" : "list-problem"), error.message);
}

function signedOut(message, canSignIn) {
  show($("list-view"), false);
  show($("detail-view"), false);
  show($("signed-out"));
  $("signed-out-message").textContent = message;
  show($("sign-in"), canSignIn);
  if (canSignIn) $("sign-in").focus();
}

start();
