// Sign-in through the user pool's managed login: OAuth 2.0 authorization code with PKCE, a public
// client. The tokens live in this module's memory only: never in storage, a cookie or a URL. What
// must survive the round trip to the sign-in page (the PKCE verifier and the state) waits in
// sessionStorage and is removed as soon as the page is back.

const PENDING = "dispute-console-pending-sign-in";
let settings = null;
let accessToken = null;
let expiresAt = 0;

export async function loadSettings() {
  const answer = await fetch("/console/config.json", { cache: "no-store" });
  if (!answer.ok) throw new Error("The console's settings could not be read: reload the page.");
  settings = await answer.json();
  return settings;
}

export function token() {
  return accessToken !== null && Date.now() < expiresAt ? accessToken : null;
}

export function forget() {
  accessToken = null;
  expiresAt = 0;
}

export async function signIn() {
  const verifier = randomString(64);
  const state = randomString(32);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  const url = new URL(settings.sign_in.authorize_url);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: settings.sign_in.client_id,
    redirect_uri: pageUrl(),
    scope: settings.sign_in.scope,
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

// Back from the sign-in page with ?code=...&state=...: exchange the code for tokens. False when the
// page was not opened by a sign-in.
export async function completeSignIn() {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  // The code leaves the address bar (and the history) at once.
  history.replaceState(null, "", pageUrl() + location.hash);
  if (params.has("error")) {
    throw new Error(`The sign-in was refused (${params.get("error_description") || params.get("error")}). Sign in again.`);
  }
  if (!pending || pending.state !== params.get("state")) {
    throw new Error("This sign-in was not started from this page, so it was not completed. Sign in again.");
  }
  const answer = await fetch(settings.sign_in.token_url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: settings.sign_in.client_id,
      code: params.get("code"),
      redirect_uri: pageUrl(),
      code_verifier: pending.verifier,
    }),
  });
  if (!answer.ok) throw new Error("The sign-in could not be completed (its code was refused). Sign in again.");
  const tokens = await answer.json();
  accessToken = tokens.access_token;
  // A little early, so that no call leaves with a token about to expire.
  expiresAt = Date.now() + Math.max(0, Number(tokens.expires_in || 0) - 30) * 1000;
  return true;
}

export function signOut() {
  forget();
  const url = new URL(settings.sign_in.logout_url);
  url.search = new URLSearchParams({ client_id: settings.sign_in.client_id, logout_uri: pageUrl() }).toString();
  location.assign(url.toString());
}

function pageUrl() {
  return location.origin + location.pathname;
}

function randomString(length) {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return base64url(bytes).slice(0, length);
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
