// One dispute: every field of its record, its history as a timeline, the provider's answer, links to
// its transaction's evidence; and, for an operator, retrying it when it has failed.

import { call } from "./api.js";
import { $, announce, bytes, clear, copyButton, el, problem, when } from "./dom.js";

const FIELDS = [
  ["dispute_id", "Dispute id"],
  ["provider", "Provider"],
  ["reference", "Reference"],
  ["source", "Filed through"],
  ["status", "Status"],
  ["resolution", "Resolution"],
  ["attempts", "Submissions sent"],
  ["created_at", "Created (UTC)"],
  ["updated_at", "Updated (UTC)"],
  ["provider_http_status", "Provider's last HTTP status"],
  ["provider_message", "Provider's message"],
  ["provider_case_id", "Provider's case id"],
  ["provider_state", "Provider's state of the transaction"],
  ["resolved_amount", "Amount settled"],
  ["resolved_at", "Resolved (UTC)"],
  ["error", "Why it stopped"],
];
const COPYABLE = { dispute_id: "dispute id", reference: "reference", provider_case_id: "provider's case id" };

export async function showDispute(disputeId, me) {
  problem($("detail-problem"), "");
  let detail;
  try {
    detail = await call("GET", `/ops/disputes/${encodeURIComponent(disputeId)}`);
  } catch (error) {
    if (error.status === 404 || error.status === 422) {
      $("detail-title").textContent = "Dispute not found";
      clear($("detail-fields"));
      clear($("timeline"));
      clear($("evidence"));
      clear($("detail-actions"));
      $("provider-answer").textContent = "";
      problem($("detail-problem"), error.status === 404 ? `No dispute has the id ${disputeId}.` : error.message);
      return null;
    }
    throw error;
  }
  const dispute = detail.dispute;
  $("detail-title").textContent = `Dispute ${dispute.dispute_id}`;
  clear($("detail-fields"), ...FIELDS.filter(([name]) => dispute[name] !== undefined).flatMap(([name, label]) => field(dispute, name, label)));
  clear($("timeline"), ...dispute.history.map(entry).reverse());
  evidence(detail.evidence);
  $("provider-answer").textContent =
    dispute.provider_response === undefined ? "No answer yet." : JSON.stringify(dispute.provider_response, null, 2);
  const note = $("retried-note");
  note.textContent = detail.retried_by ? `Retried by ${detail.retried_by} at ${when(detail.retried_at)} UTC.` : "";
  note.hidden = !detail.retried_by;
  actions(detail, me);
  return detail;
}

function field(dispute, name, label) {
  const value = name.endsWith("_at") ? when(dispute[name]) : String(dispute[name]);
  const shown = ["status", "resolution"].includes(name)
    ? el("span", { class: `badge badge-${dispute[name]}`, text: value })
    : el("span", { class: COPYABLE[name] ? "mono" : "", text: value });
  return [el("dt", { text: label }), el("dd", {}, shown, COPYABLE[name] ? copyButton(dispute[name], COPYABLE[name]) : null)];
}

function entry(change) {
  const headline = change.resolution ? `${change.status} · ${change.resolution}` : change.status;
  const facts = [`${change.attempts} sent`];
  if (change.provider_http_status) facts.push(`provider answered HTTP ${change.provider_http_status}`);
  return el(
    "li",
    {},
    el("time", { datetime: change.at, text: `${when(change.at)} UTC` }),
    el("p", { class: "change" }, el("span", { class: `badge badge-${change.resolution || change.status}`, text: headline }), ` ${facts.join(", ")}`),
    change.message ? el("p", { class: "message", text: change.message }) : null,
  );
}

function evidence(links) {
  const note = $("evidence-note");
  if (!links.length) {
    note.textContent = "No evidence file is kept for this transaction.";
    clear($("evidence"));
    return;
  }
  const minutes = Math.round(links[0].expires_in / 60);
  note.textContent = `Every file of this transaction, by upload folder. Each link opens in a new tab and works for ${minutes} minutes: reload the page for fresh ones.`;
  clear(
    $("evidence"),
    ...links.map((link) =>
      el(
        "li",
        {},
        el("a", { href: link.url, target: "_blank", rel: "noopener noreferrer", class: "evidence-link" }, link.filename),
        el("span", { class: "note", text: ` ${link.folder || "(no folder)"} · ${link.content_type} · ${bytes(link.size)}` }),
      ),
    ),
  );
}

function actions(detail, me) {
  const place = clear($("detail-actions"));
  if (!me.may_retry || !detail.retryable) return;
  place.append(el("button", { type: "button", id: "retry", text: "Retry…", onclick: () => confirmRetry(detail.dispute) }));
}

function confirmRetry(dispute) {
  const dialog = $("retry-dialog");
  $("retry-dialog-text").textContent =
    `Dispute ${dispute.dispute_id} (${dispute.provider}, ${dispute.reference}) failed after ${dispute.attempts} submissions. ` +
    `Retrying moves its message from the ${dispute.provider} dead-letter queue back to its queue, and its worker submits it again. ` +
    "The dispute's history will say you did it.";
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    () => {
      if (dialog.returnValue === "retry") retry(dispute.dispute_id);
      else $("retry")?.focus();
    },
    { once: true },
  );
  dialog.showModal();
  $("cancel-retry").focus();
}

async function retry(disputeId) {
  try {
    const answer = await call("POST", `/ops/disputes/${encodeURIComponent(disputeId)}/retry`);
    announce(`Retry started: ${answer.message}.`);
    document.dispatchEvent(new CustomEvent("dispute-retried", { detail: disputeId }));
  } catch (error) {
    problem($("detail-problem"), error.message);
  }
}
