// The overview: queue stats and workers, the charts (charts.js), the
// schedules (schedules.js), the jobs table with its filters and cursor
// paging, and the submit form. While it
// is shown it refreshes every refreshMs; a hidden tab does not poll.

import { call, withQuery } from './api.js';
import * as charts from './charts.js';
import * as schedules from './schedules.js';
import { applyRole } from './session.js';
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

/** Whether the stats and the workers were shown once; the page of jobs
 * shown (pageKey), null while none is. */
let statsShown = false;
let workersShown = false;
let shownPage = null;

const examplePayloads = {
  document_parsing: { documents: ['Annual report\nRevenue grew by 12 percent.', 'Meeting notes\nShip the dashboard.'] },
  chunking: { documents: ['A long text to cut into chunks of words. '.repeat(8)], chunk_size: 16, overlap: 4 },
  taxonomy_generation: { documents: ['Redis queues jobs.', 'Workers run jobs from Redis queues.'] },
  dataset_generation: { documents: ['Redis is an in-memory data store. Workers read jobs from it.'] },
};

/** Wires the overview's forms and buttons; called once. */
export function init() {
  charts.init();
  schedules.init();
  byId('queues').addEventListener('click', async (ev) => {
    const b = ev.target.closest('button[data-act]');
    if (!b) return;
    await queueAct(b.dataset.act, b.closest('tr').dataset.queue);
  });
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
    showJobsLoading();
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
    await Promise.all([loadStats(), loadWorkers(), loadJobs(), schedules.load()]);
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
    if (!statsShown) {
      byId('health').textContent = 'not loaded';
      fill(byId('queues'), [notLoaded(6, e)]);
    }
    return;
  }
  statsShown = true;
  for (const dd of byId('stats').querySelectorAll('[data-stat]')) {
    dd.textContent = String(s[dd.dataset.stat] ?? '–');
  }
  showHealth(s.queue_health || {}, s.health_reasons || {});
  fillQueues(s.queues || []);
  fillRates(s.rate_limits || []);
  charts.addSample(s);
  byId('stats-updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  notify('', 'load');
}

/** Shows the queue's health and, in words beside it, why: the jobs'
 * health, then what the workers' hosts and limits are like. */
function showHealth(health, why) {
  const badge = byId('health');
  badge.textContent = health.status || '?';
  badge.className = 'badge health-' + (health.status || 'unknown');
  badge.title = '';
  byId('health-reason').textContent = why.status || '';
  const details = [];
  if (health.resource_utilization) {
    details.push(`resources ${health.resource_utilization}` + (why.resource_utilization ? ': ' + why.resource_utilization : ''));
  }
  if (health.limit_enforcement) {
    details.push(`limits ${health.limit_enforcement}` + (why.limit_enforcement ? ': ' + why.limit_enforcement : ''));
  }
  const p = byId('health-details');
  p.replaceChildren(...details.map((d) => el('span', {}, d)));
  p.dataset.level = health.resource_utilization || '';
}

function fillQueues(queues) {
  fill(byId('queues'), queues.map((q) => el('tr', { 'data-queue': q.name },
    el('td', {}, q.name), el('td', { class: 'num' }, q.pending), el('td', { class: 'num' }, q.scheduled),
    el('td', { class: 'num' }, q.retrying), el('td', { class: 'num' }, fmtAge(q.oldest_pending_age_seconds)),
    el('td', { class: 'row-actions' },
      q.paused ? el('span', { class: 'badge warn' }, 'paused') : null,
      q.paused
        ? el('button', { type: 'button', class: 'quiet small', 'data-act': 'resume', 'data-needs': 'admin' }, 'Resume')
        : el('button', { type: 'button', class: 'quiet small', 'data-act': 'pause', 'data-needs': 'admin' }, 'Pause')))));
  if (queues.length === 0) {
    fill(byId('queues'), [el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'no queue has waiting jobs'))]);
  }
  applyRole(byId('queues'));
}

/** Shows each rate-limited type, and whether its jobs wait on the limit. */
function fillRates(rates) {
  byId('rate-limits-table').hidden = rates.length === 0;
  fill(byId('rate-limits'), rates.map((r) => el('tr', { 'data-type': r.type },
    el('td', {}, r.type), el('td', { class: 'num' }, `${r.rate} per ${r.per_seconds} s`),
    el('td', { class: 'num' }, r.started), el('td', { class: 'num' }, r.pending),
    el('td', {}, r.waiting ? el('span', { class: 'badge warn', title: 'its period\'s starts are used up: jobs wait for the window to slide' }, 'jobs wait') : 'open'))));
}

/** Pauses or resumes the queue name, then reads the stats again. */
async function queueAct(what, name) {
  try {
    await call('POST', '/api/v1/queues/' + encodeURIComponent(name) + '/' + what);
    notify('');
  } catch (e) {
    notify(explain(e));
  }
  await loadStats();
}

async function loadWorkers() {
  let out;
  try {
    out = await call('GET', '/api/v1/workers');
  } catch (e) {
    // loadStats reports the failure above the page; a table that never
    // loaded says so too rather than stay empty.
    if (!workersShown) fill(byId('workers'), [notLoaded(7, e)]);
    return;
  }
  workersShown = true;
  const rows = (out.workers || []).map((w) => el('tr', { class: w.throttled ? 'throttled' : null },
    el('td', { title: `${w.host} pid ${w.pid}, types: ${(w.types || []).join(', ')}` },
      w.id, w.throttled ? el('span', { class: 'badge warn' }, 'throttled') : null),
    el('td', {}, (w.queues || []).join(', ')),
    el('td', { class: 'num' }, `${w.running_jobs}/${w.concurrency}`),
    el('td', { class: 'num' }, Number(w.cpu_percent || 0).toFixed(1)),
    el('td', { class: 'num' }, Number(w.process_cpu_percent || 0).toFixed(1)),
    el('td', { class: 'num' }, Number(w.rss_mb || 0).toFixed(1)),
    el('td', {}, fmtTime(w.last_seen))));
  fill(byId('workers'), rows.length ? rows
    : [el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'no live worker'))]);
}

async function loadJobs() {
  const want = pageKey();
  let out;
  try {
    out = await call('GET', withQuery('/api/v1/jobs', { ...filters, cursor: cursors[page] }));
  } catch (e) {
    if (e.code === 'invalid_argument') notify('Filters: ' + explain(e));
    // Anything else, loadStats reports. A page never shown says why it
    // is not, and offers no next page it does not know.
    if (shownPage !== want) {
      fill(byId('jobs'), [notLoaded(7, e)]);
      byId('page-next').disabled = true;
    }
    return;
  }
  if (want !== pageKey()) return; // the filters or the page changed meanwhile
  shownPage = want;
  next = out.next_cursor || null;
  const rows = out.jobs.map((j) => el('tr', { 'data-job': j.job_id },
    el('td', {}, el('a', { href: '#/jobs/' + j.job_id, title: j.job_id }, j.job_id.slice(0, 8))),
    el('td', {}, j.type),
    el('td', {}, j.queue),
    el('td', {}, statusBadge(j.status)),
    el('td', { class: 'num progress-cell' }, el('progress', { max: 100, value: j.progress }), ' ', fmtPercent(j.progress)),
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
  showJobsLoading();
  loadJobs();
}

/** Names the page of jobs asked for: the filters and the page's cursor. */
function pageKey() {
  return JSON.stringify([filters, cursors[page]]);
}

/** Empties the jobs table until its page comes: a loading row, and no
 * page to turn to yet. */
function showJobsLoading() {
  fill(byId('jobs'), [el('tr', {}, el('td', { colspan: 7, class: 'muted loading' }, 'loading…'))]);
  for (const id of ['page-first', 'page-prev', 'page-next']) byId(id).disabled = true;
  shownPage = null;
}

/** A table row saying the table could not be loaded, and why. */
function notLoaded(columns, err) {
  return el('tr', {}, el('td', { colspan: columns, class: 'muted not-loaded' }, 'not loaded: ' + explain(err)));
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
