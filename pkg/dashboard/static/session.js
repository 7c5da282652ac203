// Who the API takes us for. The role comes from GET /api/v1/whoami; the
// page disables every control marked data-needs="<role>" that the role
// does not allow, and shows why in the notice when the key is refused.

import { APIError, call } from './api.js';

const rank = { read: 1, submit: 2, admin: 3 };

/** The caller's role ("read", "submit", "admin"), or null while unknown
 * or refused. */
let role = null;
/** Who the API takes us for: "key:<name>", or "ip:<address>" when the
 * API has no keys. */
let caller = null;
const listeners = [];

/** Calls fn(role, caller) each time the role is learnt. */
export function onRoleChange(fn) {
  listeners.push(fn);
}

/** Whether the caller's role allows what needs the given role. While the
 * role is unknown, nothing is allowed. */
export function may(needed) {
  return role !== null && rank[role] >= rank[needed];
}

/** Asks the API who we are; returns the APIError, if any. */
export async function learnRole() {
  let err = null;
  try {
    const me = await call('GET', '/api/v1/whoami');
    role = me.role;
    caller = me.caller;
  } catch (e) {
    err = e;
    role = null;
    caller = null;
    if (e instanceof APIError && e.status === 404) {
      // An apiserver from before whoami: assume the most, and let the API
      // refuse what the key may not do (403 is handled where it happens).
      role = 'admin';
      err = null;
    }
  }
  applyRole();
  for (const fn of listeners) fn(role, caller);
  return err;
}

/** Marks every control that needs more than the role disabled, with a
 * tooltip saying why. */
export function applyRole(root = document) {
  for (const el of root.querySelectorAll('[data-needs]')) {
    const ok = may(el.dataset.needs);
    el.classList.toggle('forbidden', !ok);
    if (ok) {
      if (el.dataset.whyDisabled) el.removeAttribute('title');
      delete el.dataset.whyDisabled;
    } else {
      el.dataset.whyDisabled = 'role';
      el.title = `Needs a key with the ${el.dataset.needs} role`;
    }
    el.disabled = !ok;
  }
}
