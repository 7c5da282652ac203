// A job's log on its page: the kept lines of a finished job, or the lines
// of a running one live (GET /api/v1/jobs/{id}/logs?follow=1, with the
// job's stream token, never the key), until the server's "end" event.
// EventSource resumes after the last line by itself when a stream drops.

import { call, streamURL } from './api.js';
import { byId, el } from './dom.js';

/** The lines kept on the page: older ones leave it. */
const maxLines = 2000;

/** The job whose log is shown, or null. */
let shown = null;
/** The open EventSource, if any. */
let source = null;

/** Shows job id's log: live unless finished. */
export async function showLog(id, finished) {
  stopLog();
  shown = id;
  byId('job-log').replaceChildren();
  note('');
  if (finished) {
    await loadLog(id);
    return;
  }
  let url;
  try {
    url = await streamURL(id);
  } catch {
    if (shown === id) await loadLog(id);
    return;
  }
  if (shown !== id || source) return;
  // The stream token opens any stream of its job: the log's too.
  const u = new URL(url, location.href);
  u.pathname = `/api/v1/jobs/${encodeURIComponent(id)}/logs`;
  u.searchParams.set('follow', '1');
  const es = new EventSource(u.pathname + u.search);
  source = es;
  es.onmessage = (ev) => {
    if (source !== es) return;
    try {
      addLines([JSON.parse(ev.data)]);
    } catch {
      // not a line: ignore it
    }
  };
  es.addEventListener('end', (ev) => {
    if (source !== es) return;
    stopLog();
    try {
      noteDropped(JSON.parse(ev.data).dropped);
    } catch {
      // no count: nothing to say
    }
  });
  es.onerror = () => {
    // Refused (token expired, job gone): show what is kept instead.
    if (source === es && es.readyState === EventSource.CLOSED) {
      source = null;
      loadLog(id);
    }
  };
}

/** Stops following; the page moved on. */
export function hideLog() {
  stopLog();
  shown = null;
}

function stopLog() {
  if (source) source.close();
  source = null;
}

/** Reads the kept lines once. */
async function loadLog(id) {
  try {
    const d = await call('GET', `/api/v1/jobs/${encodeURIComponent(id)}/logs`);
    if (shown !== id) return;
    byId('job-log').replaceChildren();
    addLines(d.lines);
    noteDropped(d.dropped);
  } catch {
    if (shown === id) note('not loaded');
  }
}

function addLines(lines) {
  const box = byId('job-log');
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  for (const l of lines) {
    const t = new Date(l.timestamp);
    const hms = isNaN(t) ? '' : t.toLocaleTimeString([], { hour12: false }) + '.' + String(t.getMilliseconds()).padStart(3, '0');
    box.append(el('div', { class: 'log-line level-' + l.level, 'data-id': String(l.id) },
      el('time', {}, hms), el('span', { class: 'level' }, l.level), ' ', l.message));
  }
  while (box.childElementCount > maxLines) box.firstElementChild.remove();
  if (atEnd) box.scrollTop = box.scrollHeight;
}

function noteDropped(n) {
  note(n > 0 ? `(${n} earlier lines dropped)` : '');
}

function note(text) {
  byId('job-log-note').textContent = text;
}
