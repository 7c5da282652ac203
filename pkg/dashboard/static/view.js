// A job's JSON (its payload, its result) as a person reads it: rendered as
// tables (a list of records is one table with a column per field, an
// object a table of its fields), or as the raw JSON; with buttons to copy
// it and to download it as a file. Text reaches the page only as text
// nodes, never as HTML.

import { byId, el } from './dom.js';

/** The most rows of a list shown rendered; the JSON view has them all. */
const maxRows = 200;
/** A list of records is a table when its records have at most this many
 * fields between them. */
const maxColumns = 12;

/** Renders a JSON value as DOM: null, numbers, booleans and strings as
 * text; an object as a table of its fields; a list of records as a table
 * with a column per field; any other list as a numbered list. */
export function renderJSON(value) {
  if (value === null || value === undefined) return el('span', { class: 'json-null' }, 'null');
  if (Array.isArray(value)) return renderList(value);
  switch (typeof value) {
    case 'object': {
      const fields = Object.entries(value);
      if (fields.length === 0) return el('span', { class: 'muted' }, 'no fields');
      return el('table', { class: 'json-object' }, el('tbody', {},
        ...fields.map(([k, v]) => el('tr', {}, el('th', { scope: 'row' }, k), cell(v)))));
    }
    case 'number':
      return el('span', { class: 'json-number' }, String(value));
    case 'boolean':
      return el('span', { class: 'json-bool' }, String(value));
    default:
      return el('span', { class: 'json-string' }, String(value));
  }
}

/** A table cell for a value: numbers aligned right, like their header. */
function cell(v) {
  return el('td', { class: typeof v === 'number' ? 'num' : null }, renderJSON(v));
}

function renderList(list) {
  if (list.length === 0) return el('span', { class: 'muted' }, 'empty list');
  const shown = list.slice(0, maxRows);
  const more = list.length > maxRows
    ? el('p', { class: 'muted small' }, `… and ${list.length - maxRows} more (the JSON view has them all)`) : null;
  const columns = recordColumns(list);
  if (columns === null) {
    return el('div', {}, el('ol', { class: 'json-list' }, ...shown.map((v) => el('li', {}, renderJSON(v)))), more);
  }
  const numeric = columns.map((c) => list.every((r) => !(c in r) || typeof r[c] === 'number'));
  return el('div', {},
    el('table', { class: 'json-records' },
      el('thead', {}, el('tr', {}, ...columns.map((c, i) => el('th', { class: numeric[i] ? 'num' : null }, c)))),
      el('tbody', {}, ...shown.map((r) => el('tr', {}, ...columns.map((c) => (c in r ? cell(r[c]) : el('td', {}))))))),
    more);
}

/** The columns of a list of records (objects), in order of first
 * appearance, or null when the list is not one or has too many. */
function recordColumns(list) {
  const columns = [];
  for (const r of list) {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return null;
    for (const k of Object.keys(r)) {
      if (!columns.includes(k)) columns.push(k);
    }
    if (columns.length > maxColumns) return null;
  }
  return columns;
}

/** One box of JSON on the job page (payload or result): its rendered
 * view, its raw text, and its buttons. */
export class JSONBox {
  /** prefix names the elements: <prefix>-box, -view and the <pre> itself. */
  constructor(prefix, what) {
    this.box = byId(prefix + '-box');
    this.view = byId(prefix + '-view');
    this.pre = byId(prefix);
    this.what = what;
    this.text = '';
    this.name = what + '.json';
    this.mode = 'table';
    for (const b of this.box.querySelectorAll('[data-act]')) {
      b.addEventListener('click', () => this.act(b.dataset.act, b));
    }
  }

  /** Shows value; name is the file a download is saved as. */
  show(value, name) {
    this.text = JSON.stringify(value, null, 2);
    this.name = name;
    this.pre.textContent = this.text;
    this.view.replaceChildren(renderJSON(value));
    this.setMode(this.mode);
  }

  /** Empties the box. */
  clear() {
    this.text = '';
    this.pre.textContent = '';
    this.view.replaceChildren();
  }

  setMode(mode) {
    this.mode = mode;
    this.view.hidden = mode !== 'table';
    this.pre.hidden = mode !== 'json';
    for (const b of this.box.querySelectorAll('[data-act=table], [data-act=json]')) {
      b.setAttribute('aria-pressed', String(b.dataset.act === mode));
    }
  }

  async act(action, button) {
    switch (action) {
      case 'table':
      case 'json':
        this.setMode(action);
        return;
      case 'download':
        download(this.text, this.name);
        return;
      case 'copy':
        try {
          await copyText(this.text);
          flash(button, 'Copied');
        } catch {
          flash(button, 'Copy failed');
        }
    }
  }
}

/** Shows a word on a button for a moment, then its own label again. */
function flash(button, word) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = word;
  setTimeout(() => { button.textContent = label; }, 1500);
}

/** Puts text on the clipboard: through the Clipboard API where the page
 * may use it, else through a selected, hidden text area. */
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = el('textarea', { class: 'offscreen', readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('the browser refused to copy');
}

/** Saves text as a file named name. */
function download(text, name) {
  const url = URL.createObjectURL(new Blob([text + '\n'], { type: 'application/json' }));
  const a = el('a', { href: url, download: name, class: 'offscreen' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
