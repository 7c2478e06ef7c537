/* console/views/signin.js: sign in with a client id and secret (a client of several tenants
 * picks one), or use a pasted access token. The secret and the token stay in memory only. */
import {field, fill, h} from '../dom.js';
import * as session from '../session.js';

export function renderSignIn(root) {
  const problem = h('div', {class: 'problem', role: 'alert'});
  const id = field('Client ID', {autocomplete: 'username', required: true, spellcheck: 'false'});
  const secret = field('Client secret', {type: 'password', autocomplete: 'current-password', required: true});
  const tenant = field('Tenant', {autocomplete: 'off', spellcheck: 'false'},
    'Only for a client that acts for several tenants.');
  const tenantSlot = h('div', {}, tenant.row);
  let tenantInput = tenant.input;
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Sign in');

  const form = h('form', {class: 'card', 'aria-labelledby': 'signin-title'},
    h('h2', {id: 'signin-title'}, 'Sign in'),
    id.row, secret.row, tenantSlot,
    h('div', {class: 'actions'}, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(problem);
    submit.disabled = true;
    try {
      await session.signIn(id.input.value.trim(), secret.input.value, tenantInput.value.trim() || undefined);
      if (!location.hash || location.hash === '#/') location.hash = '#/quotas';
    } catch (e) {
      fill(problem, h('strong', {}, `${e.code}: `), e.message);
      const tenants = e.details && Array.isArray(e.details.tenants) ? e.details.tenants : null;
      if (tenants && tenants.length) { /* the Authority named the tenants this client may act for */
        const pick = field('Tenant', {type: 'select', required: true}, 'This client acts for several tenants: pick one.');
        for (const t of tenants) pick.input.append(h('option', {value: t}, t));
        fill(tenantSlot, pick.row);
        tenantInput = pick.input;
        pick.input.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });

  const token = field('Access token', {type: 'textarea', rows: 4, spellcheck: 'false', required: true},
    'A JWT from `jobengine token` or POST /token. The console can then do what its scopes allow, and no more.');
  const useForm = h('form', {class: 'card', 'aria-labelledby': 'token-title'},
    h('h2', {id: 'token-title'}, 'Use a token'),
    token.row,
    h('div', {class: 'actions'}, h('button', {type: 'submit'}, 'Use token')));
  useForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    fill(problem);
    try {
      session.useToken(token.input.value);
      if (!location.hash || location.hash === '#/') location.hash = '#/quotas';
    } catch (e) {
      fill(problem, h('strong', {}, `${e.code}: `), e.message);
    }
  });

  root.append(h('h1', {}, 'JobEngine console'),
    h('p', {class: 'lead'}, 'Quotas, backfills, jobs and the audit trail of one tenant. Changes ask for a reason, which the audit trail keeps.'),
    problem,
    h('div', {class: 'cards'}, form, useForm),
    h('p', {class: 'meta'}, 'Nothing is stored in the browser: reloading the page signs out.'));
  id.input.focus();
}
