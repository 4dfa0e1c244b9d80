// The public API, and nothing else: requests, uploads with progress, errors as the API states
// them, the API key (this tab only) and the retries the API asks for (429/503 + Retry-After).

const KEY_STORAGE = "videobert-api-key";
const MAX_RETRIES = 5;

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_STORAGE),
  set: (key) => sessionStorage.setItem(KEY_STORAGE, key),
  clear: () => sessionStorage.removeItem(KEY_STORAGE),
};

// Set by the page: asked for a key when the API answers 401; resolves once one is entered.
let askForKey = async () => { throw new ApiError(401, "unauthorized", "An API key is needed."); };
export function onKeyNeeded(handler) {
  askForKey = handler;
}

function headers(extra = {}) {
  const key = apiKey.get();
  return key ? { ...extra, "X-API-Key": key } : extra;
}

function errorFrom(status, text, retryAfterHeader) {
  let code = `http_${status}`;
  let message = `The service answered ${status}.`;
  try {
    const body = JSON.parse(text);
    if (body && body.error) ({ code, message } = body.error);
  } catch {
    // Not JSON (a proxy's page, say): keep the status line.
  }
  const retryAfter = Number.parseInt(retryAfterHeader || "", 10);
  return new ApiError(status, code, message, Number.isFinite(retryAfter) ? retryAfter : null);
}

// One attempt: XMLHttpRequest, because fetch reports no upload progress.
function attempt(method, url, body, contentType, onUploadProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers())) xhr.setRequestHeader(name, value);
    if (contentType) xhr.setRequestHeader("Content-Type", contentType);
    if (onUploadProgress && xhr.upload) {
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onUploadProgress(event.loaded / event.total);
      });
      xhr.upload.addEventListener("load", () => onUploadProgress(1));
    }
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, "bad_response", "The service's answer was not JSON."));
        }
      } else {
        reject(errorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader("Retry-After")));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error",
      "The service could not be reached. Is it running?")));
    xhr.send(body);
  });
}

// A request with the API's retry rules: 401 asks for a key and tries again; 429 and 503 wait
// for Retry-After (onWait(secondsLeft) counts down) and try again, up to MAX_RETRIES times.
export async function request(method, url, { json, form, onUploadProgress, onWait } = {}) {
  const body = json !== undefined ? JSON.stringify(json) : form;
  const contentType = json !== undefined ? "application/json" : null;
  for (let retries = 0; ; retries += 1) {
    try {
      return await attempt(method, url, body, contentType, onUploadProgress);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 401 && retries < MAX_RETRIES) {
        apiKey.clear();
        await askForKey(error.message);
        continue;
      }
      const busy = error.status === 429 || error.status === 503;
      if (!busy || error.retryAfter === null || retries >= MAX_RETRIES) throw error;
      await countdown(error.retryAfter, (left) => onWait && onWait(left, error));
    }
  }
}

async function countdown(seconds, tick) {
  for (let left = seconds; left > 0; left -= 1) {
    tick(left);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  tick(0);
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(name, item);
  }
  return search.toString();
}

export function videoForm(file) {
  const form = new FormData();
  form.append("video", file, file.name);
  return form;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
