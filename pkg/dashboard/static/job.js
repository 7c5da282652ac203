// A job's page: its record, a progress bar that follows the job's SSE
// stream until the job finishes, and its log (joblog.js). The stream's URL carries a short-lived
// stream token, never the key. EventSource reconnects by itself, with
// Last-Event-ID, when a stream drops (an apiserver shutting down sends
// "retry: 1000"), so the page resumes without a gap or a duplicate; once
// the token has expired a reconnection is refused, and the page opens the
// stream again with a new one.

import { call, streamURL, terminal } from './api.js';
import { byId, el, explain, fmtPercent, fmtTime, notify } from './dom.js';
import { pipelineLink } from './pipeline.js';
import { applyRole, learnRole } from './session.js';
import { JSONBox } from './view.js';
import { hideLog, showLog } from './joblog.js';

/** The id of the job shown, or null when the view is hidden. */
let current = null;
/** The last full record read of it. */
let job = null;
/** The open EventSource, if any. */
let source = null;
/** A pending retry of a stream the server refused. */
let retryTimer = null;

/** How long to wait before opening a stream again after the server
 * refused one (EventSource gives up on any answer but a 200 stream). */
const streamRetryMs = 3000;

/** The payload's and the result's boxes (rendered view, JSON, copy,
 * download). */
let payloadBox = null;
let resultBox = null;

/** Wires the page's buttons; called once. */
export function init() {
  byId('job-cancel').addEventListener('click', () => act('cancel'));
  byId('job-restart').addEventListener('click', () => act('restart'));
  payloadBox = new JSONBox('job-payload', 'payload');
  resultBox = new JSONBox('job-result', 'result');
}

/** Shows job id and follows it live until it finishes. */
export async function show(id) {
  hide();
  current = id;
  byId('job-view').hidden = false;
  byId('job-id').textContent = id;
  byId('job-fields').replaceChildren();
  for (const box of ['job-result-box', 'job-error-box']) byId(box).hidden = true;
  payloadBox.clear();
  resultBox.clear();
  setState('…', 0, '');
  setLive('');
  await load();
  if (current === id && job) showLog(id, terminal.has(job.status));
  if (current === id && job && !terminal.has(job.status)) follow(id);
}

/** Stops following the job; the view is hidden. */
export function hide() {
  stopStream();
  hideLog();
  current = null;
  job = null;
  byId('job-view').hidden = true;
}

/** Reads the job again after the key changed. */
export async function reload() {
  if (current === null) return;
  const id = current;
  await load();
  if (current === id && job) showLog(id, terminal.has(job.status));
  if (current === id && job && !terminal.has(job.status)) follow(id);
}

/** Reads the whole record and shows it. */
async function load() {
  const id = current;
  try {
    const j = await call('GET', '/api/v1/jobs/' + encodeURIComponent(id));
    if (id !== current) return;
    job = j;
    render();
    notify('', 'load');
  } catch (e) {
    if (id !== current) return;
    job = null;
    notify(explain(e), 'load');
  }
}

function render() {
  setState(job.status, job.progress, job.current_step);
  const fields = [
    ['type', job.type], ['queue', job.queue], ['priority', job.priority],
    ['attempts', `${job.attempts} of ${job.max_retries + 1}`], ['restarts', job.restarts],
    ['worker', job.worker_id || '–'], ['created', fmtTime(job.created_at)],
    ['run at', fmtTime(job.run_at)], ['started', fmtTime(job.started_at)],
    ['finished', fmtTime(job.completed_at)], ['updated', fmtTime(job.updated_at)],
    ['timeout', job.timeout_seconds ? job.timeout_seconds + ' s' : 'none'],
    ['deadline', job.deadline ? fmtTime(job.deadline) : 'none'],
    ['unique key', job.unique_key || '–'],
    ['pipeline', job.pipeline_id ? pipelineLink(job.pipeline_id) : '–'],
  ];
  byId('job-fields').replaceChildren(...fields.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))));
  payloadBox.show(job.payload, `job-${job.job_id}-payload.json`);
  byId('job-result-box').hidden = job.result === null;
  if (job.result === null) resultBox.clear();
  else resultBox.show(job.result, `job-${job.job_id}-result.json`);
  byId('job-error-box').hidden = job.error === null;
  byId('job-error').textContent = job.error || '';
}

/** Shows a state: the badge, the bar, the step, and which actions the
 * state allows (cancel an unfinished job; restart a failed or cancelled
 * one). Whether the key's role allows them is session.js's to say. */
function setState(status, progress, step) {
  const badge = byId('job-status');
  badge.textContent = status;
  badge.className = 'badge state-' + status;
  const bar = byId('job-progress');
  bar.value = progress || 0;
  bar.dataset.status = status;
  byId('job-percent').textContent = fmtPercent(progress);
  byId('job-step').textContent = step || '';
  byId('job-cancel').hidden = status === '…' || terminal.has(status);
  byId('job-restart').hidden = status !== 'failed' && status !== 'cancelled';
}

function setLive(text) {
  byId('job-live').textContent = text;
}

/** Opens the job's stream and shows each event as it comes. */
async function follow(id) {
  stopStream();
  setLive('connecting…');
  let url;
  try {
    url = await streamURL(id);
  } catch (e) {
    if (current !== id) return;
    // No token (the key was refused, the job is gone, the server is
    // away): say why and try again while the job is unfinished.
    setLive('not live');
    notify(explain(e), 'load');
    retryTimer = setTimeout(() => {
      if (current === id) follow(id);
    }, streamRetryMs);
    return;
  }
  if (current !== id || source) return; // the view moved on meanwhile
  const es = new EventSource(url);
  source = es;
  es.onopen = () => setLive('● live');
  es.onmessage = (ev) => {
    let d;
    try {
      d = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (source !== es || d.job_id !== current) return;
    setState(d.status, d.progress, d.current_step);
    if (terminal.has(d.status)) {
      // The server ends the stream after a terminal event; close it
      // first, or EventSource would reconnect to a stream with no more
      // to say. Then read the record for the result or error.
      stopStream();
      setLive('finished');
      load();
    }
  };
  es.onerror = async () => {
    if (source !== es) return;
    if (es.readyState !== EventSource.CLOSED) {
      setLive('reconnecting…'); // EventSource retries by itself
      return;
    }
    // The server answered with an error (401, 404, 503...), and
    // EventSource gives up on those: a plain read says why, and the
    // stream is tried again while the job is still unfinished.
    source = null;
    setLive('not live');
    await load();
    if (current === id && job && !terminal.has(job.status)) {
      retryTimer = setTimeout(() => {
        if (current === id) follow(id);
      }, streamRetryMs);
    }
  };
}

function stopStream() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  source = null;
}

/** Cancels or restarts the job shown. */
async function act(action) {
  const id = current;
  const button = byId('job-' + action);
  button.disabled = true;
  try {
    await call('POST', `/api/v1/jobs/${action}/${encodeURIComponent(id)}`);
    notify('');
    await load();
    if (action === 'restart' && current === id) {
      showLog(id, false);
      follow(id);
    }
  } catch (e) {
    notify(explain(e));
    if (e.status === 401 || e.status === 403) await learnRole();
    else await load();
  } finally {
    applyRole();
  }
}
