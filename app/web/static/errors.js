// What an error means to a person. The API's own message says what happened and often what to
// do (a 415 lists the formats that work); the title here says it in a few words first.

const TITLES = {
  unsupported_container: "This file is not a video the service reads",
  unsupported_codec: "The video's codec is not supported",
  no_video_stream: "The file has no video in it",
  empty_upload: "The file is empty",
  payload_too_large: "The file is too large",
  video_too_large: "The video's picture is too large",
  resolution_too_large: "The video's picture is too large",
  video_too_long: "The video is too long",
  too_many_streams: "The file has too many streams",
  decode_failed: "The video could not be decoded",
  decode_timeout: "Decoding the video took too long",
  no_decodable_frames: "No frame of the video could be decoded",
  video_rejected: "The video was refused",
  body_timeout: "The upload took too long",
  body_too_slow: "The upload was too slow",
  deadline_exceeded: "The analysis took too long",
  invalid_option: "An option was not accepted",
  labels_not_supported: "This model cannot score your own labels",
  label_set_not_found: "No such label set",
  model_not_found: "No such model",
  model_cannot_classify: "This model cannot label videos",
  overloaded: "The service is busy",
  server_busy: "The service is busy",
  rate_limited: "Too many requests",
  not_ready: "The service is still starting",
  unauthorized: "An API key is needed",
  index_unavailable: "The library is not reachable",
  video_not_found: "That video is no longer in the library",
  shot_not_found: "That shot is no longer in the library",
  jobs_unavailable: "Background jobs are not available",
  no_job_workers: "No job worker is running",
  job_not_found: "The job's result has expired",
  network_error: "No answer from the service",
};

export function describe(error) {
  const title = TITLES[error.code]
    || (error.status >= 500 ? "The service failed" : "The request was refused");
  return { title, message: error.message, code: error.code, status: error.status };
}
