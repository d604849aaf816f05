// The console's calls to its own API (/ops/...), each with the signed-in person's access token.

import { forget, token } from "./auth.js";

export class SignedOut extends Error {}

export class Refused extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export async function call(method, path, query = {}) {
  const bearer = token();
  if (bearer === null) throw new SignedOut("Your session has ended. Sign in again to go on.");
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  let answer;
  try {
    answer = await fetch(url, { method, headers: { Authorization: `Bearer ${bearer}` }, cache: "no-store" });
  } catch {
    throw new Refused(0, "The API could not be reached. Check the connection; the page tries again on its next refresh.");
  }
  const body = await answer.json().catch(() => null);
  if (answer.status === 401) {
    forget();
    throw new SignedOut("Your session has ended. Sign in again to go on.");
  }
  if (!answer.ok) {
    const details = (body?.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    const message = body?.message ? body.message + (details ? ` (${details})` : "") : `The API answered ${answer.status}.`;
    throw new Refused(answer.status, message, body);
  }
  return body;
}
