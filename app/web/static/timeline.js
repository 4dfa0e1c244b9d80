// The shot timeline: a block per shot (keyframe thumbnail and top labels), the importance curve
// drawn over the blocks and the highlights marked. Blocks are options of a listbox: one tab
// stop, arrow keys move between shots, Enter or a click seeks the player.

import { el, percent, seconds, svg } from "./dom.js";

const CURVE_HEIGHT = 36;

export function renderTimeline(container, analysis, { onSeek }) {
  const duration = analysis.duration || lastEnd(analysis.shots);
  const highlighted = new Set(analysis.highlights.map((h) => h.shot_index));
  container.replaceChildren();
  const blocks = analysis.shots.map((shot, position) => {
    const labels = (analysis.shotLabels.get(shot.index) || []).slice(0, 2);
    const words = labels.map((l) => l.label).join(", ");
    const span = `${seconds(shot.start_s)} to ${seconds(shot.end_s)}`;
    const thumb = analysis.thumbnails.get(shot.index);
    const block = el("div", {
      class: `shot${highlighted.has(shot.index) ? " highlight" : ""}`,
      role: "option", id: `shot-${shot.index}`, tabindex: position === 0 ? "0" : "-1",
      "aria-selected": "false", "data-index": shot.index,
      "data-start": shot.start_s, "data-end": shot.end_s,
      "aria-label": `Shot ${shot.index + 1}, ${span}${words ? `: ${words}` : ""}`
        + `${highlighted.has(shot.index) ? ", a highlight" : ""}`,
      onclick: () => choose(position, true),
    },
    thumb ? el("img", { src: thumb, alt: `Shot ${shot.index + 1} at ${seconds(shot.start_s)}`
      + (words ? `: ${words}` : "") })
      : el("div", { class: "no-thumb", role: "img", "aria-label": `Shot ${shot.index + 1}` }),
    el("span", { class: "shot-time" }, seconds(shot.start_s),
      highlighted.has(shot.index) ? el("span", { class: "hl-mark" }, " ★ highlight") : null),
    el("span", { class: "shot-labels" }, labels.map((l) => el("span", { class: "tag",
      title: percent(l.score) }, l.label))));
    // Width in proportion to the shot's length, with a floor so a short shot stays clickable.
    block.style.flexGrow = String(Math.max(shot.end_s - shot.start_s, 0.05));
    return block;
  });
  const strip = el("div", { class: "strip" }, blocks);
  container.append(strip, importanceCurve(analysis.importance, duration));

  function choose(position, seek) {
    blocks.forEach((block, i) => {
      block.tabIndex = i === position ? 0 : -1;
      block.setAttribute("aria-selected", String(i === position));
    });
    container.setAttribute("aria-activedescendant", blocks[position].id);
    if (seek) onSeek(analysis.shots[position].start_s);
  }

  container.onkeydown = (event) => {
    const current = blocks.findIndex((b) => b.tabIndex === 0);
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    let next = current;
    if (event.key in moves) next = current + moves[event.key];
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = blocks.length - 1;
    else if (event.key === "Enter" || event.key === " ") {
      choose(current, true);
      event.preventDefault();
      return;
    } else return;
    event.preventDefault();
    next = Math.min(blocks.length - 1, Math.max(0, next));
    choose(next, false);
    blocks[next].focus();
  };

  // Follow the player: the shot being played is the selected one.
  return function markTime(time) {
    const position = analysis.shots.findIndex((s) => time >= s.start_s && time < s.end_s);
    if (position < 0) return;
    blocks.forEach((block, i) => block.classList.toggle("playing", i === position));
  };
}

function importanceCurve(points, duration) {
  const width = 1000;
  const box = svg("svg", { class: "curve", viewBox: `0 0 ${width} ${CURVE_HEIGHT}`,
    preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false" });
  if (!points.length || !duration) return box;
  const coords = points.map((p) => [
    (p.time_s / duration) * width, CURVE_HEIGHT - 2 - p.score * (CURVE_HEIGHT - 4)]);
  const line = coords.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  box.append(svg("polyline", { points: line, class: "curve-line" }));
  return box;
}

function lastEnd(shots) {
  return shots.length ? shots[shots.length - 1].end_s : 0;
}
