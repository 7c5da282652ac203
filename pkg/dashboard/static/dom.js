// Small DOM helpers. Text from the API only ever reaches the page as text
// nodes (never as HTML), so a job's payload or error cannot inject markup.

import { APIError } from './api.js';

/** Returns the element with the given id. */
export function byId(id) {
  return document.getElementById(id);
}

/** Makes an element: el('td', {class: 'num'}, 'text', childNode, ...).
 * Attributes whose value is null or false are left out. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** Replaces the children of parent with rows. */
export function fill(parent, rows) {
  parent.replaceChildren(...rows);
}

/** A time as the local wall clock, with the date when not today. */
export function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

/** A duration in seconds, short: "4.2 s", "3 min", "2 h". */
export function fmtAge(seconds) {
  if (!seconds) return '–';
  if (seconds < 60) return seconds.toFixed(1) + ' s';
  if (seconds < 3600) return Math.round(seconds / 60) + ' min';
  return Math.round(seconds / 3600) + ' h';
}

/** A progress value as a percentage with at most one decimal. */
export function fmtPercent(p) {
  return (Math.round((p || 0) * 10) / 10) + '%';
}

/** A status badge. */
export function statusBadge(status) {
  return el('span', { class: 'badge state-' + status }, status);
}

/** The messages shown above the page, by what they are about: "key"
 * (the key was refused), "load" (reading the page's data failed), "action"
 * (the last thing the user did failed). */
const notices = new Map();

/** Shows message about source above the page; "" takes it away. */
export function notify(message, source = 'action') {
  if (message) notices.set(source, message);
  else notices.delete(source);
  const n = byId('notice');
  const lines = [...new Set(notices.values())];
  n.replaceChildren(...lines.map((m) => el('div', {}, m)));
  n.hidden = lines.length === 0;
}

/** The message to show for a failed call, telling what to do about it. */
export function explain(err) {
  if (!(err instanceof APIError)) return String(err);
  switch (err.status) {
    case 0:
      return 'The server cannot be reached; retrying.';
    case 401:
      return err.code === 'unauthenticated' && /not valid/.test(err.message)
        ? 'The API key is not valid: enter another one above.'
        : 'This server needs an API key: enter one above.';
    case 403:
      return 'Your API key may not do that: ' + err.message;
    case 429:
      return 'Rate limited: ' + err.message;
    default:
      return err.message;
  }
}
