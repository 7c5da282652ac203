// The overview's charts: jobs finished per minute, and jobs waiting and
// running, over the last windowMinutes of this tab. They are drawn from
// the queue stats the overview already reads every two seconds (each
// read is one sample), with uPlot (static/vendor/uplot, MIT), which the
// page loads before its modules as the global uPlot.

import { byId } from './dom.js';

/** How far back the charts reach: samples older than this are dropped. */
export const windowMinutes = 30;

/** rateWindowS is the span the per-minute rates are averaged over. */
const rateWindowS = 60;

/** gapS is the longest pause between two samples a line bridges. */
const gapS = 10;

/** The samples, oldest first: t in seconds since the epoch, then the
 * counts of the stats. points() gives them with their rates, for the
 * charts and for the page's tests. */
const kept = [];

/** The charts once drawn, by the id of their box. */
const charts = new Map();

/** What each chart draws: its series (a label, the field of a point it
 * reads, a colour from the stylesheet's variables) and its y unit. */
const specs = {
  'chart-throughput': {
    unit: '/min',
    series: [
      { label: 'completed', field: 'completedRate', color: '--ok' },
      { label: 'failed', field: 'failedRate', color: '--bad' },
    ],
  },
  'chart-depth': {
    unit: '',
    series: [
      { label: 'pending', field: 'pending', color: '--muted' },
      { label: 'running', field: 'running', color: '--run' },
      { label: 'retrying', field: 'retrying', color: '--warn' },
    ],
  },
};

/** Records one read of GET /api/v1/jobs/queue/stats and redraws. */
export function addSample(stats, at = Date.now()) {
  kept.push({
    t: at / 1000,
    completed: stats.completed_jobs || 0,
    failed: stats.failed_jobs || 0,
    pending: stats.pending_jobs || 0,
    running: stats.running_jobs || 0,
    retrying: stats.retrying_jobs || 0,
  });
  const oldest = at / 1000 - windowMinutes * 60;
  while (kept.length > 0 && kept[0].t < oldest) kept.shift();
  draw();
}

/** points are the samples kept with the per-minute rates of finished jobs,
 * each over the last rateWindowS before it (or since the first sample).
 * The counts are of the jobs retained, which the janitor lowers when it
 * expires old ones: a drop is no negative throughput, so it counts 0.
 * Where the page stopped sampling for more than gapS (the overview was
 * hidden), a point of nulls leaves a gap in the lines rather than a line
 * that claims to know. */
export function points() {
  const out = [];
  let base = 0;
  kept.forEach((s, i) => {
    if (i > 0 && s.t - kept[i - 1].t > gapS) out.push({ t: (s.t + kept[i - 1].t) / 2, gap: true });
    while (base < i && s.t - kept[base].t > rateWindowS) base++;
    const b = kept[base];
    const span = s.t - b.t;
    const rate = (now, then) => (span > 0 ? Math.max(0, now - then) * 60 / span : 0);
    out.push({ ...s, completedRate: rate(s.completed, b.completed), failedRate: rate(s.failed, b.failed) });
  });
  return out;
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
    const data = [pts.map((p) => p.t), ...spec.series.map((s) => pts.map((p) => (p.gap ? null : p[s.field])))];
    let chart = charts.get(id);
    if (!chart) {
      chart = new uPlot(options(box, spec), data, box);
      charts.set(id, chart);
      new ResizeObserver(() => chart.setSize(size(box))).observe(box);
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
  const clock = (t) => (t === null || t === undefined ? '–' : new Date(t * 1000).toLocaleTimeString());
  return {
    ...size(box),
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [
      { stroke: color('--muted'), grid: { stroke: color('--line') }, space: 90, values: (u, ticks) => ticks.map(clock) },
      { stroke: color('--muted'), grid: { stroke: color('--line') }, size: 44 },
    ],
    series: [
      { label: 'time', value: (u, t) => clock(t) },
      ...spec.series.map((s) => ({ label: s.label, stroke: color(s.color), width: 2, value: (u, v) => fmt(v) })),
    ],
  };
}
