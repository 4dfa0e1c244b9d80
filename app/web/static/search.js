// Search over the library: words in, shots out (thumbnail, video, times, score). A hit opens
// its video at its time.

import { request } from "./api.js";
import { el, percent, seconds } from "./dom.js";

const TOP_K = 12;

export async function search(words) {
  return request("POST", "/v1/search", { json: { query: words, top_k: TOP_K, thumbnails: true } });
}

export function renderHits(list, hits, names, { onOpen }) {
  list.replaceChildren(...hits.map((hit) => {
    const name = names.get(hit.video_id) || hit.video_id;
    const span = `${seconds(hit.start_s)} to ${seconds(hit.end_s)}`;
    const matched = (hit.matched || []).join(", ");
    return el("li", {}, el("button", {
      type: "button", class: "hit", onclick: () => onOpen(hit),
      "aria-label": `${name}, shot ${hit.shot_index + 1}, ${span}, score ${percent(hit.score)}`,
    },
    hit.thumbnail_jpeg_base64
      ? el("img", { src: `data:image/jpeg;base64,${hit.thumbnail_jpeg_base64}`,
        alt: `Shot ${hit.shot_index + 1} of ${name}` })
      : el("div", { class: "no-thumb", role: "img", "aria-label": "no thumbnail" }),
    el("span", { class: "hit-name" }, name),
    el("span", { class: "muted" }, `${span} · ${percent(hit.score)}`
      + (hit.source === "speech" ? " · said" : "")),
    matched ? el("span", { class: hit.source === "speech" ? "said" : "matched" },
      hit.source === "speech" ? `“${matched}”` : matched) : null));
  }));
}
