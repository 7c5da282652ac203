// The overview's charts, drawn from the queue's history
// (GET /api/v1/jobs/queue/history, kept by the engine itself, so they show
// what happened before this page was opened): jobs completed and failed
// per step, the queue depth, and the 95th percentiles of wait and run
// times, over the last hour, day or 30 days, for every job or one queue
// and type. Drawn with uPlot (static/vendor/uplot, MIT), which the page
// loads before its modules as the global uPlot.

import { call, withQuery } from './api.js';
import { byId } from './dom.js';

/** The ranges offered: the history asked for, and how often it is read
 * again while the overview is shown. */
export const ranges = {
  hour: { query: { minutes: '60' }, refreshMs: 5000, label: 'per minute' },
  day: { query: { minutes: '1440' }, refreshMs: 30000, label: 'per minute' },
  month: { query: { hours: '720' }, refreshMs: 120000, label: 'per hour' },
};

/** What is shown: a key of ranges, and the queue and type filters ("": all). */
const view = { range: 'hour', queue: '', type: '' };

/** The last history read (null before the first), when it was read, and
 * the last live depths from the stats (null when unknown). */
let history = null;
let loadedAt = 0;
let loading = false;
let live = null;

/** The charts once drawn, by the id of their box; the boxes watched for
 * their size (once each, whichever chart they hold). */
const charts = new Map();
const watched = new Set();

/** What each chart draws: its series (a label, the field of a point it
 * reads, a colour from the stylesheet's variables) and its y unit. */
const specs = {
  'chart-throughput': {
    unit: '',
    series: [
      { label: 'completed', field: 'completed', color: '--ok' },
      { label: 'failed', field: 'failed', color: '--bad' },
    ],
  },
  'chart-depth': {
    unit: '',
    series: [
      { label: 'pending', field: 'pending', color: '--muted' },
      { label: 'running', field: 'running', color: '--run' },
    ],
  },
  'chart-latency': {
    unit: ' ms',
    series: [
      { label: 'wait p95', field: 'waitP95', color: '--warn' },
      { label: 'run p95', field: 'runP95', color: '--run' },
    ],
  },
};

/** Wires the range and filter controls; called once. */
export function init() {
  byId('chart-filters').addEventListener('change', (ev) => {
    const f = new FormData(ev.currentTarget);
    view.range = ranges[f.get('range')] ? f.get('range') : 'hour';
    view.queue = String(f.get('queue') || '').trim();
    view.type = String(f.get('type') || '').trim();
    byId('chart-step').textContent = ranges[view.range].label;
    history = null;
    draw();
    load();
  });
  byId('chart-filters').addEventListener('submit', (ev) => ev.preventDefault());
}

/** Takes the stats the overview just read: their depths stand for the
 * current step's (when no filter is set: the stats count every queue and
 * type), and the history is read again when it is due. */
export function addSample(stats) {
  live = { pending: stats.pending_jobs || 0, running: stats.running_jobs || 0 };
  if (!loading && Date.now() - loadedAt >= ranges[view.range].refreshMs) load();
  else draw();
}

/** Reads the history of the view, then draws it. */
async function load() {
  loading = true;
  const asked = { ...view };
  try {
    const h = await call('GET', withQuery('/api/v1/jobs/queue/history',
      { ...ranges[asked.range].query, queue: asked.queue, type: asked.type }));
    if (asked.range === view.range && asked.queue === view.queue && asked.type === view.type) {
      history = h;
      byId('charts-note').textContent = '';
    }
  } catch (e) {
    byId('charts-note').textContent = 'history not loaded: ' + e.message;
  } finally {
    loading = false;
    loadedAt = Date.now();
  }
  draw();
}

/** points are the steps of a history answer as the charts draw them:
 * t in seconds since the epoch, the counts, the depths (the last step's
 * replaced by depth when given) and the p95s in ms. */
export function points(h = history, depth = view.queue || view.type ? null : live) {
  const pts = ((h && h.points) || []).map((p) => ({
    t: Date.parse(p.at) / 1000,
    completed: p.completed,
    failed: p.failed,
    pending: p.pending,
    running: p.running,
    waitP95: p.wait_ms.p95,
    runP95: p.run_ms.p95,
  }));
  if (depth && pts.length > 0) Object.assign(pts[pts.length - 1], depth);
  return pts;
}

/** Draws every chart whose box is on the page (and shown). */
function draw() {
  if (typeof uPlot === 'undefined') {
    byId('charts-note').textContent = 'charts unavailable: the charting library did not load';
    return;
  }
  const pts = points();
  for (const [id, spec] of Object.entries(specs)) {
    const box = byId(id);
    if (!box || box.offsetParent === null) continue; // hidden: drawn when shown again
    const data = [pts.map((p) => p.t), ...spec.series.map((s) => pts.map((p) => p[s.field]))];
    let chart = charts.get(id);
    if (chart && chart.range !== view.range) { // the time axis changes its labels
      chart.destroy();
      chart = null;
    }
    if (!chart) {
      chart = new uPlot(options(box, spec), data, box);
      chart.range = view.range;
      charts.set(id, chart);
      if (!watched.has(id)) {
        watched.add(id);
        new ResizeObserver(() => charts.get(id)?.setSize(size(box))).observe(box);
      }
    } else {
      chart.setData(data);
    }
  }
}

/** The chart's size: its box's width, a fixed height. */
function size(box) {
  return { width: Math.max(box.clientWidth, 200), height: 180 };
}

function options(box, spec) {
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim() || '#333';
  const fmt = (v) => (v === null || v === undefined ? '–' : (Math.round(v * 10) / 10) + spec.unit);
  const days = view.range === 'month';
  const clock = (t) => {
    if (t === null || t === undefined) return '–';
    const d = new Date(t * 1000);
    return days ? d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) + ' ' +
      d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }) : d.toLocaleTimeString();
  };
  return {
    ...size(box),
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [
      { stroke: color('--muted'), grid: { stroke: color('--line') }, space: days ? 110 : 90, values: (u, ticks) => ticks.map(clock) },
      { stroke: color('--muted'), grid: { stroke: color('--line') }, size: 50 },
    ],
    series: [
      { label: 'time', value: (u, t) => clock(t) },
      ...spec.series.map((s) => ({ label: s.label, stroke: color(s.color), width: 2, value: (u, v) => fmt(v) })),
    ],
  };
}
