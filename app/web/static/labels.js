// Labels as score bars: the video's labels (with the broader category each belongs to) and the
// labels the person typed, scored by the model.

import { el, percent } from "./dom.js";

function bar(score) {
  const fill = el("span", { class: "fill" });
  fill.style.width = percent(Math.max(0, Math.min(1, score)));
  return el("span", { class: "bar", "aria-hidden": "true" }, fill);
}

export function renderVideoLabels(list, labels) {
  list.replaceChildren(...labels.map((label) => el("li", {},
    el("span", { class: "name" }, label.label,
      label.parent ? el("span", { class: "muted" }, ` (${label.parent.label})`) : null),
    bar(label.score),
    el("span", { class: "score" }, percent(label.score)))));
}

// probability: which of the typed labels fits best (they sum to 1); similarity: whether it
// fits at all. The bar is the probability; a label that fits nowhere says so.
export function renderCustomLabels(list, labels) {
  const sorted = [...labels].sort((a, b) => b.probability - a.probability);
  list.replaceChildren(...sorted.map((label) => el("li", {},
    el("span", { class: "name custom-label" }, label.label),
    bar(label.probability),
    el("span", { class: "score", title: `similarity ${label.similarity.toFixed(2)}` },
      percent(label.probability)))));
}

export function splitLabels(text) {
  const seen = new Set();
  return text.split(",").map((part) => part.trim().replace(/\s+/g, " "))
    .filter((part) => part && !seen.has(part) && seen.add(part));
}
