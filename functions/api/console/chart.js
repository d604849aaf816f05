// Disputes filed per day by outcome, one stacked bar chart per provider: plain SVG, drawn here. Each
// chart carries a text summary for screen readers, and its numbers as a table a click away.

import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 180;
const LEFT = 34;
const BOTTOM = 22;
const TOP = 8;

export const OUTCOME_LABELS = {
  won: "won",
  lost: "lost",
  open: "open (provider deciding)",
  untracked: "untracked",
  rejected: "rejected",
  failed: "failed",
  received: "received",
  submitting: "submitting",
};

export function legend(outcomes) {
  return outcomes.map((outcome) =>
    el("li", {}, el("span", { class: `swatch o-${outcome}`, "aria-hidden": "true" }), OUTCOME_LABELS[outcome] || outcome),
  );
}

export function charts(overview) {
  const providers = Object.keys(overview.filed).sort();
  if (providers.length === 0) {
    return [el("p", { class: "note", text: "No dispute was filed in the last 30 days." })];
  }
  return providers.map((provider) => chart(provider, overview.days, overview.outcomes, overview.filed[provider]));
}

function chart(provider, days, outcomes, series) {
  const totals = days.map((_, day) => outcomes.reduce((sum, outcome) => sum + (series[outcome]?.[day] || 0), 0));
  const top = Math.max(1, ...totals);
  const plotWidth = WIDTH - LEFT - 4;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = plotWidth / days.length;
  const titleId = `chart-${provider}-title`;
  const descriptionId = `chart-${provider}-desc`;
  const svg = svgNode("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: "chart",
    role: "img",
    "aria-labelledby": `${titleId} ${descriptionId}`,
  });
  svg.append(svgNode("title", { id: titleId }, `${provider}: disputes filed per day`));
  svg.append(svgNode("desc", { id: descriptionId }, summary(outcomes, series)));
  for (const fraction of [0, 0.5, 1]) {
    const y = TOP + plotHeight * (1 - fraction);
    svg.append(svgNode("line", { x1: LEFT, x2: WIDTH - 4, y1: y, y2: y, class: "grid" }));
    svg.append(svgNode("text", { x: LEFT - 6, y: y + 4, class: "axis end" }, String(Math.round(top * fraction))));
  }
  days.forEach((day, index) => {
    let y = TOP + plotHeight;
    for (const outcome of outcomes) {
      const count = series[outcome]?.[index] || 0;
      if (!count) continue;
      const height = (count / top) * plotHeight;
      y -= height;
      const bar = svgNode("rect", {
        x: LEFT + index * slot + 1,
        y,
        width: Math.max(1, slot - 2),
        height,
        class: `o-${outcome}`,
      });
      bar.append(svgNode("title", {}, `${day}: ${count} ${OUTCOME_LABELS[outcome] || outcome}`));
      svg.append(bar);
    }
  });
  for (const index of [0, Math.floor(days.length / 2), days.length - 1]) {
    const x = LEFT + index * slot + slot / 2;
    svg.append(svgNode("text", { x, y: HEIGHT - 6, class: "axis middle" }, days[index].slice(5)));
  }
  return el(
    "figure",
    { class: "chart-figure" },
    el("figcaption", { text: `${provider} · ${totals.reduce((a, b) => a + b, 0)} disputes in 30 days` }),
    svg,
    numbers(days, outcomes, series, provider),
  );
}

function summary(outcomes, series) {
  const parts = outcomes
    .map((outcome) => [outcome, (series[outcome] || []).reduce((a, b) => a + b, 0)])
    .filter(([, count]) => count > 0)
    .map(([outcome, count]) => `${count} ${OUTCOME_LABELS[outcome] || outcome}`);
  return parts.length ? `Over 30 days: ${parts.join(", ")}.` : "None over 30 days.";
}

function numbers(days, outcomes, series, provider) {
  const shown = days.map((day, index) => [day, index]).filter(([, index]) => outcomes.some((o) => series[o]?.[index]));
  const table = el(
    "table",
    { class: "numbers" },
    el("caption", { text: `${provider}: disputes filed per day, by outcome` }),
    el(
      "thead",
      {},
      el("tr", {}, el("th", { scope: "col", text: "Day" }), ...outcomes.map((o) => el("th", { scope: "col", text: o }))),
    ),
    el(
      "tbody",
      {},
      ...shown.map(([day, index]) =>
        el(
          "tr",
          {},
          el("th", { scope: "row", text: day }),
          ...outcomes.map((o) => el("td", { class: "number", text: String(series[o]?.[index] || 0) })),
        ),
      ),
    ),
  );
  return el("details", {}, el("summary", { text: "Show the numbers" }), table);
}

function svgNode(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}
