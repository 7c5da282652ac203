// The HTTP API of docs/api.md, as the dashboard calls it: every request
// carries the API key the user typed (kept in this tab's sessionStorage
// only), and every failure becomes an APIError with the API's stable code.

const keyItem = 'jobqueue.apiKey';

/** The API key in use, or "" for none (an open API). */
export function apiKey() {
  return sessionStorage.getItem(keyItem) || '';
}

/** Sets the API key ("" forgets it). */
export function setAPIKey(key) {
  if (key) sessionStorage.setItem(keyItem, key);
  else sessionStorage.removeItem(keyItem);
}

/** A failed API call: the HTTP status (0 when the server cannot be
 * reached), the error body's code and its human message. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the API and returns the decoded JSON body (null when empty). */
export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const key = apiKey();
  if (key) headers.Authorization = 'Bearer ' + key;
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch {
    throw new APIError(0, 'unreachable', 'The server cannot be reached.');
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: a proxy's error page. The status says enough.
  }
  if (!resp.ok) {
    const e = (data && data.error) || {};
    throw new APIError(resp.status, e.code || 'http_' + resp.status,
      e.message || `${resp.status} ${resp.statusText}`);
  }
  return data;
}

/** Builds a path with query parameters, leaving out empty ones. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? path + '?' + s : path;
}

/** The URL of a job's event stream. EventSource cannot send headers, and
 * the key must never go in a URL (URLs end up in proxy logs), so the URL
 * carries a stream token instead: it opens this job's stream only, for a
 * few minutes. An apiserver too old to mint one (404, mid rolling
 * deploy) gets the plain URL. */
export function streamURL(id) {
  return tokenStreamURL(`/api/v1/jobs/status/${encodeURIComponent(id)}`);
}

/** The URL of a pipeline's event stream, with a token that opens it
 * only, as streamURL's for a job. */
export function pipelineStreamURL(id) {
  return tokenStreamURL(`/api/v1/pipelines/${encodeURIComponent(id)}`);
}

/** The stream of the job or pipeline at path, with a token minted at
 * path/stream-token. */
async function tokenStreamURL(path) {
  try {
    return (await call('POST', path + '/stream-token')).stream_url;
  } catch (e) {
    if (e.status === 404 && e.code === 'not_found' && /route/.test(e.message)) return path + '/stream';
    throw e;
  }
}

/** The states after which a job changes no more (until a restart). */
export const terminal = new Set(['completed', 'failed', 'cancelled']);
