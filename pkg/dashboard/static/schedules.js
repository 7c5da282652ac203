// The schedules panel of the overview: every schedule with its cadence,
// job, next and last run, and per row the buttons to pause, resume or
// delete it (admin keys only), with a form to create one.

import { call, withQuery } from './api.js';
import { byId, el, explain, fill, fmtTime, notify } from './dom.js';
import { applyRole } from './session.js';

/** Whether the table was filled once. */
let shown = false;

/** Wires the create form; called once. */
export function init() {
  byId('schedule-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await create(ev.target);
  });
  byId('schedules').addEventListener('click', async (ev) => {
    const b = ev.target.closest('button[data-act]');
    if (!b) return;
    await act(b.dataset.act, b.closest('tr').dataset.schedule);
  });
}

/** Reads every schedule (page after page) and fills the table. */
export async function load() {
  const all = [];
  try {
    let cursor = '';
    do {
      const out = await call('GET', withQuery('/api/v1/schedules', { cursor, limit: 500 }));
      all.push(...out.schedules);
      cursor = out.next_cursor || '';
    } while (cursor);
  } catch (e) {
    if (!shown) {
      fill(byId('schedules'), [el('tr', {}, el('td', { colspan: 7, class: 'muted not-loaded' }, 'not loaded: ' + explain(e)))]);
    }
    return;
  }
  shown = true;
  const rows = all.map((s) => el('tr', { 'data-schedule': s.name },
    el('td', {}, s.name),
    el('td', {}, s.every_seconds ? `every ${s.every_seconds} s` : `${s.cron} (${s.timezone})`),
    el('td', {}, `${s.job.type} on ${s.job.queue}`),
    el('td', { class: 'next-run' }, s.paused ? el('span', { class: 'badge warn' }, 'paused') : fmtTime(s.next_run_at)),
    el('td', { title: s.last_error || '' }, fmtTime(s.last_run_at),
      s.last_job_id ? el('span', {}, ' ', el('a', { href: '#/jobs/' + s.last_job_id, title: s.last_job_id }, s.last_job_id.slice(0, 8))) : null,
      s.last_error ? el('span', { class: 'badge warn' }, 'no job') : null),
    el('td', { class: 'num', title: `${s.caught_up} caught up after ticks were missed` }, s.fired),
    el('td', { class: 'row-actions' },
      s.paused
        ? el('button', { type: 'button', class: 'quiet small', 'data-act': 'resume', 'data-needs': 'admin' }, 'Resume')
        : el('button', { type: 'button', class: 'quiet small', 'data-act': 'pause', 'data-needs': 'admin' }, 'Pause'),
      el('button', { type: 'button', class: 'quiet small danger-text', 'data-act': 'delete', 'data-needs': 'admin' }, 'Delete'))));
  fill(byId('schedules'), rows.length ? rows
    : [el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'no schedule'))]);
  applyRole(byId('schedules'));
}

/** Pauses, resumes or deletes the schedule name, then reads the table again. */
async function act(what, name) {
  const path = '/api/v1/schedules/' + encodeURIComponent(name);
  try {
    if (what === 'delete') {
      if (!confirm(`Delete the schedule ${name}? The jobs it made stay.`)) return;
      await call('DELETE', path);
    } else {
      await call('POST', path + '/' + what);
    }
    notify('');
  } catch (e) {
    notify(explain(e));
  }
  await load();
}

/** Creates a schedule from the form. */
async function create(form) {
  const f = form.elements;
  const body = { name: f.name.value.trim(), job: { type: f.type.value.trim(), queue: f.queue.value.trim() || undefined } };
  const when = f.when.value.trim();
  if (/^\d+$/.test(when)) {
    body.every_seconds = Number(when);
  } else {
    body.cron = when;
    if (f.timezone.value.trim()) body.timezone = f.timezone.value.trim();
  }
  if (f.payload.value.trim()) {
    try {
      body.job.payload = JSON.parse(f.payload.value);
    } catch (e) {
      notify('The payload is not JSON: ' + e.message);
      return;
    }
  }
  try {
    await call('POST', '/api/v1/schedules', body);
    notify('');
    form.reset();
  } catch (e) {
    notify(explain(e));
  }
  await load();
}
