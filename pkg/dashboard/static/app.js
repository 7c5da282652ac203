// The dashboard's entry point: the API key form, the role badge, and the
// hash router that shows the overview (#/?filters) or a job (#/jobs/<id>).

import { apiKey, setAPIKey } from './api.js';
import { byId, explain, notify } from './dom.js';
import * as jobPage from './job.js';
import * as overview from './overview.js';
import * as pipelinePage from './pipeline.js';
import { learnRole, onRoleChange } from './session.js';

/** Shows the view the location's hash names. */
function route() {
  notify(''); // an action's message belongs to the view it was made on
  const [path, query] = (location.hash.replace(/^#/, '') || '/').split('?');
  const m = /^\/jobs\/([^/]+)$/.exec(path);
  const pm = /^\/pipelines\/([^/]+)$/.exec(path);
  if (m) {
    overview.hide();
    pipelinePage.hide();
    jobPage.show(decodeURIComponent(m[1]));
  } else if (pm) {
    overview.hide();
    jobPage.hide();
    pipelinePage.show(decodeURIComponent(pm[1]));
  } else {
    jobPage.hide();
    pipelinePage.hide();
    overview.show(new URLSearchParams(query || ''));
  }
}

/** Learns what the key in use may do, and says so when it is refused. */
async function checkKey() {
  const err = await learnRole();
  notify(err ? explain(err) : '', 'key');
}

onRoleChange((role, caller) => {
  const badge = byId('role');
  const open = caller !== null && caller.startsWith('ip:');
  badge.textContent = role === null ? 'no access' : open ? 'open API' : role;
  badge.className = 'badge role-' + (role || 'none');
  badge.title = role === null ? 'The API refused the key'
    : open ? 'The API has no keys: everything is allowed' : `${caller}: role ${role}`;
});

byId('api-key').value = apiKey();
byId('key-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  setAPIKey(byId('api-key').value.trim());
  await checkKey();
  overview.reload();
  jobPage.reload();
  pipelinePage.reload();
});
byId('key-clear').addEventListener('click', async () => {
  byId('api-key').value = '';
  setAPIKey('');
  await checkKey();
  overview.reload();
  jobPage.reload();
  pipelinePage.reload();
});

overview.init();
jobPage.init();
pipelinePage.init();
window.addEventListener('hashchange', route);
await checkKey();
route();
