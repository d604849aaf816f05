// The list view: counts by status and resolution, the daily picture, and a page of disputes for
// the filters chosen (kept in the address, #/?status=failed..., so back and forward work).

import { call } from "./api.js";
import { charts, legend } from "./chart.js";
import { $, clear, el, problem, shortId, when } from "./dom.js";

export const STATUSES = ["received", "submitting", "submitted", "rejected", "failed"];
export const RESOLUTIONS = ["open", "won", "lost", "untracked"];
const DEFAULT_FILTERS = { status: "failed" };

let tokens = [null]; // the next_token of each page shown so far: page n is tokens[n - 1]
let page = 1;
let nextToken = null;

export function setUpList(me, onChange) {
  fill($("filter-status"), STATUSES);
  fill($("filter-resolution"), RESOLUTIONS);
  fill($("filter-provider"), me.providers);
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const chosen = Object.fromEntries([...form.entries()].filter(([, value]) => value !== ""));
    location.hash = `#/?${new URLSearchParams(chosen)}`;
  });
  $("first-page").addEventListener("click", () => turn(1, onChange));
  $("previous-page").addEventListener("click", () => turn(page - 1, onChange));
  $("next-page").addEventListener("click", () => {
    tokens[page] = nextToken;
    turn(page + 1, onChange);
  });
}

export function filtersFrom(query) {
  const given = Object.fromEntries(new URLSearchParams(query));
  const named = ["status", "resolution", "reference"].some((name) => given[name]);
  return named ? given : { ...DEFAULT_FILTERS, ...given };
}

// A new set of filters starts again from the first page.
export function resetPages() {
  tokens = [null];
  page = 1;
}

let shownInForm = null;

export async function refreshList(filters) {
  // The form shows the filters of the address, set again only when they change: a refresh must not
  // undo what someone is typing.
  const key = JSON.stringify(filters);
  if (key !== shownInForm) {
    for (const name of ["status", "resolution", "provider", "reference", "limit"]) {
      $(`filter-${name}`).value = filters[name] || (name === "limit" ? "20" : "");
    }
    shownInForm = key;
  }
  await Promise.all([refreshOverview(filters.provider), refreshPage(filters)]);
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function refreshOverview(provider) {
  const overview = await call("GET", "/ops/overview", { provider });
  clear($("status-counts"), ...STATUSES.map((status) => countItem("status", status, overview.status[status])));
  clear(
    $("resolution-counts"),
    ...RESOLUTIONS.map((resolution) => countItem("resolution", resolution, overview.resolution[resolution])),
  );
  clear($("legend"), ...legend(overview.outcomes));
  clear($("charts"), ...charts(overview));
}

function countItem(kind, value, count) {
  const link = el(
    "a",
    { class: `count badge-${value}`, href: `#/?${kind}=${value}`, "aria-label": `${count} ${value}: list them` },
    el("span", { class: "count-number", text: String(count) }),
    el("span", { class: "count-label", text: value }),
  );
  return el("li", {}, link);
}

async function refreshPage(filters) {
  problem($("list-problem"), "");
  const query = { ...filters, limit: filters.limit || "20", next_token: tokens[page - 1] };
  let answer;
  try {
    answer = await call("GET", "/ops/disputes", query);
  } catch (error) {
    if (error.status === 404 || error.status === 422) {
      clear($("disputes-body"));
      problem($("list-problem"), error.message);
      return;
    }
    throw error;
  }
  nextToken = answer.next_token || null;
  $("list-caption").textContent = caption(filters);
  const rows = answer.items.map(row);
  clear(
    $("disputes-body"),
    ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "7", class: "note", text: "No dispute on this page." }))]),
  );
  $("page-number").textContent = `Page ${page}`;
  $("first-page").disabled = page === 1;
  $("previous-page").disabled = page === 1;
  $("next-page").disabled = nextToken === null;
}

function row(dispute) {
  return el(
    "tr",
    {},
    el(
      "td",
      {},
      el("a", { href: `#/disputes/${dispute.dispute_id}`, class: "mono", "aria-label": `Dispute ${dispute.dispute_id}` }, shortId(dispute.dispute_id)),
    ),
    el("td", { text: dispute.provider }),
    el("td", { class: "mono", text: dispute.reference }),
    el("td", {}, el("span", { class: `badge badge-${dispute.status}`, text: dispute.status })),
    el("td", {}, dispute.resolution ? el("span", { class: `badge badge-${dispute.resolution}`, text: dispute.resolution }) : ""),
    el("td", { class: "number", text: String(dispute.attempts) }),
    el("td", { text: when(dispute.updated_at) }),
  );
}

function caption(filters) {
  const parts = ["status", "resolution", "provider", "reference"]
    .filter((name) => filters[name])
    .map((name) => `${name} ${filters[name]}`);
  const order = filters.reference ? "oldest first" : "most recently updated first";
  return `Disputes with ${parts.join(", ")}, ${order}`;
}

async function turn(to, onChange) {
  page = Math.max(1, to);
  await onChange();
}

function fill(select, values) {
  select.append(...values.map((value) => el("option", { value, text: value })));
}
