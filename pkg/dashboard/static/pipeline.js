// A pipeline's page: its jobs drawn as a graph (each job a box in the
// colour of its state, an arrow from each parent to its children, a job
// in the column after its deepest parent), its status and progress, and
// its cancel and restart. While the pipeline runs the page follows its
// SSE stream (GET /api/v1/pipelines/{id}/stream, opened with a stream
// token, never the key), so the colours follow the jobs live; only when
// the stream cannot be had does it read the pipeline again every second
// instead. A box links to its job's page.

import { call, pipelineStreamURL } from './api.js';
import { byId, el, explain, fmtPercent, fmtTime, notify } from './dom.js';
import { applyRole, learnRole } from './session.js';

/** The id of the pipeline shown, or null when the view is hidden. */
let current = null;
/** The pipeline as last drawn. */
let pipe = null;
/** The pending next read, when polling. */
let timer = null;
/** The open EventSource, if any. */
let source = null;
/** Whether the stream failed, and the page reads the pipeline instead. */
let polling = false;
/** The streams refused in a row (a token expired: one more is minted). */
let refused = 0;

/** How often a running pipeline is read again when there is no stream. */
const refreshMs = 1000;

/** The size of a job's box, and the gaps between them. */
const boxW = 150, boxH = 44, gapX = 56, gapY = 18;

const svgNS = 'http://www.w3.org/2000/svg';

/** Makes an SVG element with attributes and children. */
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/** Wires the page's buttons; called once. */
export function init() {
  byId('pipeline-cancel').addEventListener('click', () => act('cancel'));
  byId('pipeline-restart').addEventListener('click', () => act('restart'));
}

/** Shows pipeline id and follows it while it runs. */
export async function show(id) {
  hide();
  current = id;
  byId('pipeline-view').hidden = false;
  byId('pipeline-id').textContent = id;
  byId('pipeline-graph').replaceChildren();
  await load();
}

/** Stops following the pipeline; the view is hidden. */
export function hide() {
  stopFollowing();
  current = null;
  pipe = null;
  byId('pipeline-view').hidden = true;
}

/** Reads the pipeline again after the key changed (a new token too). */
export async function reload() {
  if (current === null) return;
  stopFollowing();
  await load();
}

function stopFollowing() {
  clearTimeout(timer);
  timer = null;
  polling = false;
  refused = 0;
  if (source) source.close();
  source = null;
}

/** Reads the pipeline and draws it; while it runs, follows its stream,
 * or, once the stream failed, reads it again soon. */
async function load() {
  const id = current;
  clearTimeout(timer);
  timer = null;
  try {
    const p = await call('GET', '/api/v1/pipelines/' + encodeURIComponent(id));
    if (id !== current) return;
    pipe = p;
    render(p);
    notify('', 'load');
    if (p.status !== 'running') return;
    if (polling) timer = setTimeout(load, refreshMs);
    else if (!source) follow(id);
  } catch (e) {
    if (id !== current) return;
    notify(explain(e), 'load');
    timer = setTimeout(load, refreshMs * 3);
  }
}

/** Opens the pipeline's stream: every event redraws the job (or the
 * pipeline) it names. The stream ends after the pipeline's end; a read
 * then gets its end time. A stream the server refuses (EventSource gives
 * up on any answer but a 200 stream; a reconnection with an expired
 * token is refused) is opened again with a new token, once; one that
 * cannot be had leaves the page polling. */
async function follow(id) {
  let url;
  try {
    url = await pipelineStreamURL(id);
  } catch {
    if (current === id) fallBack();
    return;
  }
  if (current !== id || source || polling) return; // the view moved on meanwhile
  const es = new EventSource(url);
  source = es;
  es.onopen = () => {
    refused = 0;
    if (source === es && pipe) render(pipe);
  };
  es.onmessage = (ev) => {
    let d;
    try {
      d = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (source !== es || !pipe) return;
    if (d.pipeline_id === current && !d.job_id) {
      pipe.status = d.status;
      if (d.status !== 'running') {
        // Close first, or EventSource would reconnect to a stream with
        // no more to say.
        es.close();
        source = null;
        load();
        return;
      }
    } else {
      const j = pipe.jobs.find((x) => x.job_id === d.job_id);
      if (!j) return;
      j.status = d.status;
      j.progress = d.progress;
    }
    pipe.progress = pipe.jobs.reduce((sum, x) => sum + x.progress, 0) / pipe.jobs.length;
    render(pipe);
  };
  es.onerror = () => {
    if (source !== es || es.readyState !== EventSource.CLOSED) return; // EventSource retries by itself
    source = null;
    if (++refused < 2) follow(id);
    else fallBack();
  };
}

/** Reads the pipeline every refreshMs instead of following its stream. */
function fallBack() {
  polling = true;
  if (!timer) timer = setTimeout(load, refreshMs);
}

function render(p) {
  const badge = byId('pipeline-status');
  badge.textContent = p.status;
  badge.className = 'badge state-' + p.status;
  const bar = byId('pipeline-progress');
  bar.value = p.progress;
  bar.dataset.status = p.status;
  byId('pipeline-percent').textContent = fmtPercent(p.progress);
  byId('pipeline-live').textContent = p.status !== 'running' ? 'ended ' + fmtTime(p.completed_at)
    : source ? '● live' : polling ? '↻ read every second' : '';
  byId('pipeline-cancel').hidden = p.status !== 'running';
  byId('pipeline-restart').hidden = p.status !== 'failed' && p.status !== 'cancelled';
  byId('pipeline-graph').replaceChildren(graph(p.jobs));
}

/** The graph of jobs: columns by depth, rows in submission order. */
function graph(jobs) {
  const byKey = new Map(jobs.map((j) => [j.key, j]));
  const depth = new Map();
  const depthOf = (j) => {
    if (!depth.has(j.key)) {
      depth.set(j.key, 0); // a cycle cannot be: the server refuses them
      depth.set(j.key, Math.max(0, ...j.depends_on.map((d) => depthOf(byKey.get(d)) + 1)));
    }
    return depth.get(j.key);
  };
  const rows = [];
  const at = new Map();
  for (const j of jobs) {
    const d = depthOf(j);
    rows[d] = (rows[d] || 0) + 1;
    at.set(j.key, { x: d * (boxW + gapX), y: (rows[d] - 1) * (boxH + gapY) });
  }
  const width = rows.length * (boxW + gapX) - gapX;
  const height = Math.max(...rows) * (boxH + gapY) - gapY;
  const root = svg('svg', { viewBox: `-2 -2 ${width + 4} ${height + 4}`, width: width + 4, height: height + 4,
    role: 'img', 'aria-label': 'The jobs of the pipeline and what each waits for' });
  root.append(svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4,
    markerWidth: 8, markerHeight: 8, orient: 'auto' }, svg('path', { d: 'M0,0 L8,4 L0,8 z', class: 'edge-head' }))));
  for (const j of jobs) {
    const to = at.get(j.key);
    for (const d of j.depends_on) {
      const from = at.get(d);
      root.append(svg('line', { x1: from.x + boxW, y1: from.y + boxH / 2, x2: to.x, y2: to.y + boxH / 2,
        class: 'edge', 'marker-end': 'url(#arrow)' }));
    }
  }
  for (const j of jobs) {
    const { x, y } = at.get(j.key);
    const title = svg('title', {}, `${j.key} (${j.type}): ${j.status}, ${fmtPercent(j.progress)}`);
    root.append(svg('a', { href: '#/jobs/' + encodeURIComponent(j.job_id), class: 'node', 'data-key': j.key,
      'data-status': j.status }, title,
    svg('rect', { x, y, width: boxW, height: boxH, rx: 6, class: 'node-box state-' + j.status }),
    svg('text', { x: x + 8, y: y + 18, class: 'node-key' }, j.key.length > 18 ? j.key.slice(0, 17) + '…' : j.key),
    svg('text', { x: x + 8, y: y + 35, class: 'node-state' }, `${j.status} · ${fmtPercent(j.progress)}`)));
  }
  return root;
}

/** Cancels or restarts the pipeline shown. */
async function act(action) {
  const id = current;
  const button = byId('pipeline-' + action);
  button.disabled = true;
  try {
    await call('POST', `/api/v1/pipelines/${encodeURIComponent(id)}/${action}`);
    notify('');
  } catch (e) {
    notify(explain(e));
    if (e.status === 401 || e.status === 403) await learnRole();
  } finally {
    applyRole();
    if (current === id) await load(); // a restarted pipeline is followed again
  }
}

/** A link to a pipeline's page, for a job of one. */
export function pipelineLink(id) {
  return el('a', { href: '#/pipelines/' + encodeURIComponent(id) }, id);
}
