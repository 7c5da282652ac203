// The overview: queue stats and workers, the jobs table with its filters
// and cursor paging, and the submit form. While it is shown it refreshes
// every refreshMs; a hidden tab does not poll.

import { call, withQuery } from './api.js';
import { byId, el, explain, fill, fmtAge, fmtPercent, fmtTime, notify, statusBadge } from './dom.js';

/** How often the stats, workers and the jobs page are read again. */
const refreshMs = 2000;

/** The filters of the jobs list, as in the page's hash (#/?status=...). */
let filters = { status: '', type: '', queue: '', limit: '25' };
/** cursors[i] is the cursor of page i ("" for the first); next is the
 * cursor of the page after the one shown, or null on the last page. */
let cursors = [''];
let page = 0;
let next = null;

let timer = null;
let running = false;

const examplePayloads = {
  document_parsing: { documents: ['Annual report\nRevenue grew by 12 percent.', 'Meeting notes\nShip the dashboard.'] },
  chunking: { documents: ['A long text to cut into chunks of words. '.repeat(8)], chunk_size: 16, overlap: 4 },
  taxonomy_generation: { documents: ['Redis queues jobs.', 'Workers run jobs from Redis queues.'] },
  dataset_generation: { documents: ['Redis is an in-memory data store. Workers read jobs from it.'] },
};

/** Wires the overview's forms and buttons; called once. */
export function init() {
  byId('filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    location.hash = withQuery('#/', {
      status: f.get('status'), type: f.get('type').trim(), queue: f.get('queue').trim(),
      limit: f.get('limit') === '25' ? '' : f.get('limit'),
    });
  });
  byId('page-first').addEventListener('click', () => turnTo(0));
  byId('page-prev').addEventListener('click', () => turnTo(page - 1));
  byId('page-next').addEventListener('click', () => {
    if (next === null) return;
    cursors = cursors.slice(0, page + 1).concat([next]);
    turnTo(page + 1);
  });

  const form = byId('submit-form');
  form.elements.type.addEventListener('change', () => showPayloadFields(form));
  showPayloadFields(form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await submitJob(form);
  });
}

/** Shows the overview with the filters of the hash's query. */
export function show(query) {
  const want = {
    status: query.get('status') || '', type: query.get('type') || '',
    queue: query.get('queue') || '', limit: query.get('limit') || '25',
  };
  if (JSON.stringify(want) !== JSON.stringify(filters)) {
    filters = want;
    cursors = [''];
    page = 0;
  }
  const form = byId('filters');
  for (const [k, v] of Object.entries(filters)) {
    const input = form.elements[k];
    if (k === 'limit' && ![...input.options].some((o) => o.value === v)) {
      input.append(el('option', {}, v)); // a limit typed into the URL
    }
    input.value = v;
  }
  byId('overview-view').hidden = false;
  start();
}

/** Stops refreshing; the view is hidden. */
export function hide() {
  byId('overview-view').hidden = true;
  clearTimeout(timer);
  timer = null;
  running = false;
}

function start() {
  clearTimeout(timer);
  running = true;
  refresh();
}

/** Reads everything once, then again in refreshMs (never overlapping). */
async function refresh() {
  clearTimeout(timer);
  if (!document.hidden) {
    await Promise.all([loadStats(), loadWorkers(), loadJobs()]);
  }
  if (running) timer = setTimeout(refresh, refreshMs);
}

/** Reads again now, e.g. after the key changed. */
export function reload() {
  if (running) refresh();
}

document.addEventListener('visibilitychange', () => {
  if (running && !document.hidden) refresh();
});

async function loadStats() {
  let s;
  try {
    s = await call('GET', '/api/v1/jobs/queue/stats');
  } catch (e) {
    notify(explain(e), 'load');
    return;
  }
  for (const dd of byId('stats').querySelectorAll('[data-stat]')) {
    dd.textContent = String(s[dd.dataset.stat] ?? '–');
  }
  const health = s.queue_health || {};
  const badge = byId('health');
  badge.textContent = health.status || '?';
  badge.title = `resources ${health.resource_utilization}, limits ${health.limit_enforcement}`;
  badge.className = 'badge health-' + (health.status || 'unknown');
  fill(byId('queues'), (s.queues || []).map((q) => el('tr', {},
    el('td', {}, q.name), el('td', { class: 'num' }, q.pending), el('td', { class: 'num' }, q.scheduled),
    el('td', { class: 'num' }, q.retrying), el('td', { class: 'num' }, fmtAge(q.oldest_pending_age_seconds)))));
  if (!s.queues || s.queues.length === 0) {
    fill(byId('queues'), [el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'no queue has waiting jobs'))]);
  }
  byId('stats-updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  notify('', 'load');
}

async function loadWorkers() {
  let out;
  try {
    out = await call('GET', '/api/v1/workers');
  } catch {
    return; // loadStats reports the same failure
  }
  const rows = (out.workers || []).map((w) => el('tr', { class: w.throttled ? 'throttled' : null },
    el('td', { title: `${w.host} pid ${w.pid}, types: ${(w.types || []).join(', ')}` },
      w.id, w.throttled ? el('span', { class: 'badge warn' }, 'throttled') : null),
    el('td', {}, (w.queues || []).join(', ')),
    el('td', { class: 'num' }, `${w.running_jobs}/${w.concurrency}`),
    el('td', { class: 'num' }, Number(w.cpu_percent || 0).toFixed(1)),
    el('td', { class: 'num' }, Number(w.rss_mb || 0).toFixed(1)),
    el('td', {}, fmtTime(w.last_seen))));
  fill(byId('workers'), rows.length ? rows
    : [el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'no live worker'))]);
}

async function loadJobs() {
  let out;
  try {
    out = await call('GET', withQuery('/api/v1/jobs', { ...filters, cursor: cursors[page] }));
  } catch (e) {
    if (e.code === 'invalid_argument') notify('Filters: ' + explain(e));
    return; // anything else, loadStats reports
  }
  next = out.next_cursor || null;
  const rows = out.jobs.map((j) => el('tr', { 'data-job': j.job_id },
    el('td', {}, el('a', { href: '#/jobs/' + j.job_id, title: j.job_id }, j.job_id.slice(0, 8))),
    el('td', {}, j.type),
    el('td', {}, j.queue),
    el('td', {}, statusBadge(j.status)),
    el('td', { class: 'progress-cell' }, el('progress', { max: 100, value: j.progress }), ' ', fmtPercent(j.progress)),
    el('td', { class: 'step' }, j.current_step || ''),
    el('td', {}, fmtTime(j.created_at))));
  fill(byId('jobs'), rows.length ? rows
    : [el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'no job matches'))]);
  byId('page-first').disabled = page === 0;
  byId('page-prev').disabled = page === 0;
  byId('page-next').disabled = next === null;
  byId('page-number').textContent = 'page ' + (page + 1);
  byId('jobs-updated').textContent = 'updated ' + new Date().toLocaleTimeString();
}

function turnTo(p) {
  page = Math.max(0, Math.min(p, cursors.length - 1));
  loadJobs();
}

/** Shows the demo type's fields or the JSON payload box. */
function showPayloadFields(form) {
  const type = form.elements.type.value;
  const demo = type === 'demo';
  for (const label of form.querySelectorAll('[data-for]')) {
    label.hidden = (label.dataset.for === 'demo') !== demo;
    for (const input of label.querySelectorAll('input, textarea')) input.disabled = label.hidden;
  }
  if (!demo) form.elements.payload.value = JSON.stringify(examplePayloads[type] || {}, null, 1);
}

async function submitJob(form) {
  const f = form.elements;
  const body = { type: f.type.value, queue: f.queue.value.trim(), priority: Number(f.priority.value || 0) };
  if (body.type === 'demo') {
    body.payload = { steps: Number(f.steps.value), step_ms: Number(f.step_ms.value) };
  } else {
    try {
      body.payload = JSON.parse(f.payload.value || '{}');
    } catch (e) {
      notify('The payload is not JSON: ' + e.message);
      return;
    }
  }
  try {
    const out = await call('POST', '/api/v1/jobs', body);
    notify('');
    location.hash = '#/jobs/' + out.job_id;
  } catch (e) {
    notify(explain(e));
  }
}
