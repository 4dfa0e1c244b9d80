// The page: pick or drop a video, watch it upload and be analysed, then see its shots, labels
// and highlights beside the player; search the library. Everything goes through the public
// API (api.js); everything shown from the API is inserted as text (dom.js).

import { ApiError, apiKey, onKeyNeeded, query, request, sleep, videoForm } from "./api.js";
import { $, el, seconds, show } from "./dom.js";
import { describe } from "./errors.js";
import { renderCustomLabels, renderVideoLabels, splitLabels } from "./labels.js";
import { Player } from "./player.js";
import { renderHits, search } from "./search.js";
import { renderTimeline } from "./timeline.js";

// Longer videos go through /v1/jobs, whose progress can be shown while the service works.
const JOB_ABOVE_S = 60;
const JOB_POLL_MS = 1000;
const MAX_NAME_CHARS = 200;

const state = {
  file: null,          // the file open in the player
  videoId: null,       // its library id, once indexed
  analysis: null,      // what the timeline shows
  files: new Map(),    // video_id -> File, for the videos analysed in this tab
  names: new Map(),    // video_id -> file name, for search hits
  textLabels: true,    // whether the model scores labels typed in words
  busy: false,
};

const player = new Player($("player"), {
  onTime: (time) => markTime(time),
  onHighlightsEnd: () => { $("highlights-button").textContent = "Play highlights"; },
});
let markTime = () => {};

// ---- status line, progress and errors

function progress(label, value = null, detail = "") {
  show($("progress"), label !== null);
  if (label === null) return;
  $("progress-label").textContent = label;
  const bar = $("progress-bar");
  if (value === null) bar.removeAttribute("value");  // indeterminate: still working
  else bar.value = value;
  $("progress-value").textContent = detail || (value === null ? "" : `${Math.round(value * 100)}%`);
}

function showError(error) {
  const box = $("error");
  if (!error) {
    box.replaceChildren();
    show(box, false);
    return;
  }
  const apiError = error instanceof ApiError ? error
    : new ApiError(0, "page_error", String(error && error.message ? error.message : error));
  const { title, message, code, status } = describe(apiError);
  box.replaceChildren(el("strong", {}, title), el("p", {}, message),
    el("p", { class: "muted" }, `${code}${status ? ` · HTTP ${status}` : ""}`));
  show(box, true);
}

function waiting(left, error) {
  progress(`${describe(error).title}. Trying again in ${left} s`, null, "");
}

// ---- the API key, asked for when the service answers 401

onKeyNeeded((message) => new Promise((resolve) => {
  const dialog = $("key-dialog");
  $("key-title").textContent = message || "This service needs an API key";
  $("key-form").onsubmit = () => {
    apiKey.set($("key-input").value.trim());
    show($("key-button"), true);
    resolve();
  };
  dialog.showModal();
}));
$("key-button").addEventListener("click", () => {
  apiKey.clear();
  $("key-input").value = "";
  loadModel();
});

// ---- choosing a video

const dropZone = $("drop-zone");
$("file-input").addEventListener("change", (event) => {
  const [file] = event.target.files;
  if (file) analyse(file);
  event.target.value = "";  // the same file again is a new choice
});
for (const name of ["dragenter", "dragover"]) {
  dropZone.addEventListener(name, (event) => {
    event.preventDefault();
    dropZone.classList.add("over");
  });
}
for (const name of ["dragleave", "drop"]) {
  dropZone.addEventListener(name, () => dropZone.classList.remove("over"));
}
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  const [file] = event.dataTransfer.files;
  if (file) analyse(file);
});

// Every feature with the keyframe thumbnails the timeline shows (a job's analyze task
// computes every feature without being asked).
function analysisQuery(labels, extra = {}) {
  return query({
    thumbnails: "true", labels: labels.length ? JSON.stringify(labels) : null, ...extra,
  });
}

async function analyse(file) {
  if (state.busy) return;
  state.busy = true;
  showError(null);
  state.file = file;
  state.videoId = null;
  player.open(file);
  show($("player-missing"), false);
  const labels = state.textLabels ? splitLabels($("labels-input").value) : [];
  try {
    const duration = await player.duration();
    const long = duration !== null && duration > JOB_ABOVE_S;
    // Into the library under its file name (the API takes 200 characters), when asked: a
    // search hit then names it.
    const library = $("index-check").checked
      ? { index: "true", name: file.name.slice(0, MAX_NAME_CHARS) } : {};
    const body = long ? await analyseAsJob(file, labels, library)
      : await analyseNow(file, labels, library);
    state.videoId = body.video_id || null;
    if (state.videoId) {
      state.files.set(state.videoId, file);
      state.names.set(state.videoId, file.name);
    }
    progress(null);
    showAnalysis(fromAnswer(body, file.name, duration));
    if (body.index_error) showError(new ApiError(503, body.index_error.code,
      `The analysis is below, but the video was not added to the library: ${body.index_error.message}`));
  } catch (error) {
    progress(null);
    showError(error);
  } finally {
    state.busy = false;
    $("score-button").disabled = !state.textLabels || !state.analysis;
  }
}

async function analyseNow(file, labels, library) {
  const started = performance.now();
  let timer = null;
  const onUploadProgress = (share) => {
    if (share < 1) return progress(`Uploading ${file.name}`, share);
    if (timer) return;
    // The body is in: the service decodes and runs the model. Count the seconds.
    timer = setInterval(() => progress("Analysing", null,
      `${Math.round((performance.now() - started) / 1000)} s`), 500);
    progress("Analysing", null);
  };
  try {
    const features = "labels,shots,summary";
    return await request("POST", `/v1/analyze?${analysisQuery(labels, { features, ...library })}`,
      { form: videoForm(file), onUploadProgress, onWait: waiting });
  } finally {
    clearInterval(timer);
  }
}

async function analyseAsJob(file, labels, library) {
  const created = await request("POST",
    `/v1/jobs?${analysisQuery(labels, { task: "analyze", ...library })}`,
    { form: videoForm(file), onWait: waiting,
      onUploadProgress: (share) => progress(`Uploading ${file.name}`, share) });
  progress("Queued", 0);
  for (;;) {
    await sleep(JOB_POLL_MS);
    const job = await request("GET", created.status_url, { onWait: waiting });
    if (job.status === "succeeded") return job.result;
    if (job.status === "failed" || job.status === "cancelled") {
      const error = job.error || { code: job.status, message: `The job was ${job.status}.` };
      throw new ApiError(422, error.code, error.message);
    }
    progress(job.status === "queued" ? "Queued" : "Analysing (a background job)", job.progress);
  }
}

// ---- what the timeline and the lists show, from an analysis or a library record

function fromAnswer(body, name, duration) {
  const thumbnails = new Map();
  for (const keyframe of body.keyframes || []) {
    if (keyframe.thumbnail_jpeg_base64 && !thumbnails.has(keyframe.shot_index)) {
      thumbnails.set(keyframe.shot_index, `data:image/jpeg;base64,${keyframe.thumbnail_jpeg_base64}`);
    }
  }
  return {
    name,
    video: body.video,
    duration: body.video ? body.video.duration_s : duration,
    shots: body.shots || [],
    shotLabels: new Map((body.shot_labels || []).map((s) => [s.index, s.labels])),
    thumbnails,
    importance: body.importance || [],
    highlights: body.highlights || [],
    videoLabels: body.video_labels || [],
    labelsReason: body.video_labels_reason || null,
    customLabels: body.custom_labels || null,
    subtitles: body.subtitles || [],
  };
}

function fromRecord(record) {
  const shots = record.shots.map((s) => ({ index: s.index, start_s: s.start_s, end_s: s.end_s }));
  const thumbnails = new Map(record.shots.filter((s) => s.thumbnail_jpeg_base64)
    .map((s) => [s.index, `data:image/jpeg;base64,${s.thumbnail_jpeg_base64}`]));
  return {
    name: record.filename || record.video_id,
    video: record.video,
    duration: record.video.duration_s,
    shots,
    shotLabels: new Map(record.shots.map((s) => [s.index, s.labels])),
    thumbnails,
    importance: [],
    highlights: record.highlights || [],
    videoLabels: record.video_labels || [],
    labelsReason: null,
    customLabels: null,
    subtitles: [],
  };
}

function showAnalysis(analysis) {
  state.analysis = analysis;
  show($("result"), true);
  $("result-title").textContent = analysis.name;
  const v = analysis.video;
  $("result-meta").textContent = v
    ? `${seconds(v.duration_s)} · ${v.width}×${v.height} · ${v.codec} in ${v.container} · `
      + `${analysis.shots.length} shots` : `${analysis.shots.length} shots`;
  markTime = renderTimeline($("timeline"), analysis, {
    onSeek: (time) => player.seek(time),
  });
  const total = analysis.highlights.reduce((sum, h) => sum + (h.end_s - h.start_s), 0);
  $("highlights-info").textContent = analysis.highlights.length
    ? `${analysis.highlights.length} ${analysis.highlights.length === 1 ? "segment" : "segments"}`
      + `, ${seconds(total)}` : "no highlights";
  $("highlights-button").disabled = !analysis.highlights.length;
  renderVideoLabels($("video-labels"), analysis.videoLabels);
  const reason = !analysis.videoLabels.length && analysis.labelsReason;
  $("labels-reason").textContent = reason || "";
  show($("labels-reason"), Boolean(reason));
  showCustomLabels(analysis.customLabels);
  renderSubtitles(analysis.subtitles);
}

function showCustomLabels(labels) {
  renderCustomLabels($("custom-labels"), labels || []);
  show($("custom-empty"), !(labels && labels.length));
}

function renderSubtitles(cues) {
  $("subtitles").replaceChildren(...cues.map((cue) => el("li", {}, el("button", {
    type: "button", class: "cue", onclick: () => player.seek(cue.start_s, true),
  }, el("span", { class: "muted" }, seconds(cue.start_s)), " ", cue.text))));
  show($("subtitles-box"), cues.length > 0);
}

// ---- highlights, custom labels

$("highlights-button").addEventListener("click", async () => {
  if (player.playingHighlight !== null) {
    player.video.pause();
    return;
  }
  if (!state.analysis) return;
  $("highlights-button").textContent = "Stop highlights";
  await player.playHighlights(state.analysis.highlights);
});

// Scoring new labels sends the file again: the service keeps no copy of an upload. The shots
// and summary of the same bytes come from its cache; only the labels are computed.
$("score-button").addEventListener("click", async () => {
  const labels = splitLabels($("labels-input").value);
  if (!labels.length || !state.file || state.busy) return;
  state.busy = true;
  showError(null);
  try {
    const body = await request("POST", `/v1/analyze?${query({ features: "labels",
      labels: JSON.stringify(labels) })}`, { form: videoForm(state.file), onWait: waiting,
      onUploadProgress: (share) => progress(share < 1 ? "Uploading" : "Scoring your labels",
        share < 1 ? share : null) });
    progress(null);
    showCustomLabels(body.custom_labels);
  } catch (error) {
    progress(null);
    showError(error);
  } finally {
    state.busy = false;
  }
});

// ---- search

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const words = $("search-input").value.trim();
  if (!words) return;
  $("search-status").textContent = "Searching…";
  try {
    const page = await search(words);
    await nameVideos(page.hits);
    $("search-status").textContent = page.hits.length
      ? `${page.page_info.total} shots match; the best ${page.hits.length} are shown.`
      : "Nothing in the library matches. Analyse videos with “Add the video to the library”.";
    renderHits($("hits"), page.hits, state.names, { onOpen: openHit });
  } catch (error) {
    $("search-status").textContent = "";
    showError(error);
  }
});

async function nameVideos(hits) {
  const unknown = [...new Set(hits.map((h) => h.video_id))].filter((id) => !state.names.has(id));
  await Promise.all(unknown.map(async (id) => {
    try {
      const record = await request("GET", `/v1/videos/${encodeURIComponent(id)}`);
      state.names.set(id, record.filename || id);
    } catch {
      // A video deleted since: the hit keeps its id as its name.
    }
  }));
}

async function openHit(hit) {
  showError(null);
  try {
    if (hit.video_id !== state.videoId) {
      const record = await request("GET", `/v1/videos/${encodeURIComponent(hit.video_id)}`);
      const file = state.files.get(hit.video_id) || null;
      state.file = file;
      state.videoId = hit.video_id;
      player.open(file);
      show($("player-missing"), !file);
      showAnalysis(fromRecord(record));
    }
    $("result").scrollIntoView({ behavior: "smooth" });
    await player.seek(hit.start_s, true);
  } catch (error) {
    showError(error);
  }
}

$("reopen-input").addEventListener("change", (event) => {
  const [file] = event.target.files;
  if (!file) return;
  state.file = file;
  if (state.videoId) state.files.set(state.videoId, file);
  player.open(file);
  show($("player-missing"), false);
});

// ---- the model: its name, and whether it scores labels typed in words

async function loadModel() {
  try {
    const { models } = await request("GET", "/v1/models", { onWait: waiting });
    progress(null);
    const model = models.find((m) => m.default) || models[0];
    if (!model) return;
    $("model-name").textContent = `${model.name} ${model.version}`;
    // Labels in words, the library and its search all need the model's text encoder.
    state.textLabels = model.text_encoder;
    for (const id of ["labels-input", "index-check", "search-input"]) {
      $(id).disabled = !model.text_encoder;
    }
    if (!model.text_encoder) {
      $("index-check").checked = false;
      $("labels-input").placeholder = "this model scores only its own classes";
      $("search-status").textContent = `${model.name} has no text encoder: it cannot build `
        + "or search a library.";
    }
  } catch (error) {
    progress(null);
    showError(error);
  }
}

loadModel();
