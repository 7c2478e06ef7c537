/* console/ui.js: what every view shares: the one place API errors are shown (code, message,
 * plain words for the common refusals, trace id; never swallowed), the reason dialog, and calls
 * with the right token (a change asks for its reason first). */
import {call, q} from './api.js';
import {clear, field, fill, h, labelCells} from './dom.js';
import * as session from './session.js';

const errors = document.getElementById('errors');

/* Plain words for the refusals an operator meets most, after the server's own code and message. */
function explain(e) {
  const d = e.details || {};
  switch (e.code) {
  case 'QUOTA_POLICY_VIOLATION':
    return `${d.field} ${d.requested} is above the policy ceiling ${d.ceiling} for this job type; nothing was changed.`;
  case 'QUOTA_DECREASE_BELOW_USAGE':
    return 'More jobs are active now than the new maxActive; tick "Allow decrease below current usage" to lower it anyway (running work is not stopped).';
  case 'VERSION_MISMATCH':
    return 'Someone changed this since the page loaded it; nothing was changed. Look at the current values and try again.';
  case 'QUOTA_EXISTS':
    return 'This job type already has a quota: adjust that one instead.';
  case 'BACKFILL_DUPLICATE':
    return `An existing backfill already covers this window${d.existingBackfillId ? ` (${d.existingBackfillId})` : ''}.`;
  case 'BACKFILL_UNSAFE':
    return 'A safety check failed: see the checks of the preview.';
  case 'PLAN_CHANGED':
    return 'The plan changed since the preview (new events arrived?): preview again, then create.';
  case 'INVALID_STATE':
    return 'The backfill is no longer in a state that allows this; the list shows its state now.';
  case 'UNAUTHORIZED':
    return 'The token was refused: sign in again.';
  default:
    return null;
  }
}

export function showError(e) {
  const code = e.code || 'ERROR';
  const more = explain(e);
  const box = h('div', {class: 'error'},
    h('p', {}, h('strong', {}, `${code}: `), e.message || ''),
    more ? h('p', {class: 'explain'}, more) : null,
    e.details && e.details.field ? h('p', {class: 'meta'}, `field: ${e.details.field}`) : null,
    e.traceId ? h('p', {class: 'meta'}, `trace ${e.traceId}`) : null,
    h('button', {type: 'button', class: 'link', onclick: () => box.remove()}, 'Dismiss'));
  errors.append(box);
}

export function clearErrors() {
  clear(errors);
}

/* A short confirmation in the page's status line. */
export function notice(text) {
  const el = document.getElementById('notice');
  if (el) fill(el, text);
}

/* ---- the reason dialog ------------------------------------------------------------------- */

const SCOPE_WORDS = {'orch:quota': 'change quotas', 'orch:backfill': 'run backfills', 'orch:operate': 'operate jobs',
  'orch:governance': 'govern capacity pools'};

export function askReason(scope) {
  const j = session.JUSTIFY[scope];
  return new Promise((resolve) => {
    const reason = field('Reason', {required: true, maxlength: 256, autocomplete: 'off'},
      'Why: recorded with every change made with this token (1–256 characters).');
    const ticket = field(j.ticketRequired ? 'Ticket' : 'Ticket (optional)', {maxlength: 128, autocomplete: 'off', required: j.ticketRequired || undefined},
      'A change or incident reference, e.g. OPS-4411 (up to 128 characters).');
    const problem = h('p', {class: 'problem', role: 'alert'});
    const title = `Why do you need to ${SCOPE_WORDS[scope] || scope}?`;
    const dlg = h('dialog', {class: 'reason', 'aria-labelledby': 'reason-title'});
    const form = h('form', {method: 'dialog'},
      h('h2', {id: 'reason-title'}, title),
      h('p', {}, `The console asks the Authority for a token with ${scope}, carrying this reason. It stays on the page while that token lives.`),
      reason.row, ticket.row, problem,
      h('div', {class: 'actions'},
        h('button', {type: 'submit', value: 'ok', class: 'primary'}, 'Continue'),
        h('button', {type: 'button', onclick: () => done(null)}, 'Cancel')));
    dlg.append(form);
    let finished = false;
    function done(v) {
      if (finished) return;
      finished = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    }
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const r = reason.input.value.trim();
      const t = ticket.input.value.trim();
      if (!r) return fill(problem, 'A reason is required.');
      if ([...r].length > 256) return fill(problem, 'The reason is longer than 256 characters.');
      if ([...t].length > 128) return fill(problem, 'The ticket is longer than 128 characters.');
      if (j.ticketRequired && !t) return fill(problem, 'A ticket is required for this scope.');
      done({reason: r, ticket: t || null});
    });
    dlg.addEventListener('cancel', (ev) => {
      ev.preventDefault();
      done(null);
    });
    document.body.append(dlg);
    dlg.showModal();
    reason.input.focus();
  });
}

/* ---- what views use ----------------------------------------------------------------------- */

export async function get(path) {
  return (await call('GET', path, {token: await session.readToken()})).body;
}

export async function getRaw(path) {
  return call('GET', path, {token: await session.readToken(), raw: true});
}

/* A change needing scope: asks for the reason first when no elevated token lives. Resolves to
 * the reply, or null when the operator cancelled the reason dialog. */
export async function change(scope, method, path, body, headers) {
  const token = await session.changeToken(scope, askReason);
  if (!token) return null;
  return call(method, path, {token, body, headers});
}

/* Runs fn, showing any error; returns its result or undefined. */
export async function attempt(fn) {
  try {
    return await fn();
  } catch (e) {
    showError(e);
    return undefined;
  }
}

/* A button for an action needing scope. When the token cannot get that scope it is disabled
 * with the reason beside it, or, for the actions repeated on every row (rowAction), left out:
 * the page then says why once, with scopeNote(). */
export function actionButton(label, scope, onclick, attrs = {}, rowAction = false) {
  const c = session.can(scope);
  if (!c.ok && rowAction) return null;
  const b = h('button', {type: 'button', ...attrs, onclick, disabled: !c.ok || undefined,
    title: c.ok ? (c.asks ? `asks for a reason, then gets ${scope}` : undefined) : c.why});
  b.append(label);
  if (c.ok) return b;
  const id = `why-${Math.random().toString(36).slice(2)}`;
  b.setAttribute('aria-describedby', id);
  return h('span', {class: 'denied'}, b, h('small', {id, class: 'why'}, c.why));
}

/* One line saying why the row actions needing scope are not offered (null when they are). */
export function scopeNote(scope, what) {
  const c = session.can(scope);
  return c.ok ? null : h('p', {class: 'why scope-note'}, `Read-only here: ${what} ${c.why.startsWith('needs') ? c.why : `are not offered because ${c.why}`}.`);
}

/* A form card in a panel: its title, the children, a problem line, the submit button and Close.
 * onSubmit runs with the problem line and the page's errors cleared; a string it returns is
 * shown as the problem (the operator's mistake, caught before anything is sent). */
export function cardForm(panel, {id, title, submit}, children, onSubmit) {
  const problem = h('p', {class: 'problem', role: 'alert'});
  const form = h('form', {class: 'card', 'aria-labelledby': id}, h('h2', {id}, title), children, problem,
    h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, submit),
      h('button', {type: 'button', onclick: () => clear(panel)}, 'Close')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(problem);
    clearErrors();
    const bad = await onSubmit();
    if (typeof bad === 'string') fill(problem, bad);
  });
  return form;
}

/* A list read page by page (continuationToken) into a table in slot, with "Load more".
 * load(query, more): the first page for query (more false) or the next one. */
export function pagedTable(slot, {path, limit, caption, columns, row, empty, tableClass = 'grid', onReset}) {
  let next = null;
  let query = {};
  let latest = 0; /* the number of the last load asked for: only its answer may fill the table */
  return async function load(params, more = false) {
    if (!more) {
      /* New filters: the old page's "Load more" would continue the old query, so it goes now. */
      query = params || {};
      next = null;
      const old = slot.querySelector('.more');
      if (old) old.remove();
    }
    const mine = ++latest;
    slot.setAttribute('aria-busy', 'true');
    const page = await attempt(() => get(`${path}${q({...query, limit, continuationToken: more ? next : null})}`));
    /* A load asked for later owns the table: an earlier answer arriving after it (the first,
     * unfiltered page answering after the filtered one) would show entries the filters exclude. */
    if (mine !== latest) return;
    slot.setAttribute('aria-busy', 'false');
    if (!page) return;
    next = page.continuationToken;
    let body = slot.querySelector('tbody');
    if (!more || !body) {
      if (onReset) onReset();
      body = h('tbody');
      fill(slot, h('table', {class: tableClass}, h('caption', {}, caption),
        h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col'}, c)))), body));
    }
    for (const item of page.items) body.append(row(item));
    labelCells(slot.querySelector('table'));
    if (!page.items.length && !more) fill(slot, h('p', {class: 'empty'}, empty));
    const old = slot.querySelector('.more');
    if (old) old.remove();
    if (next) slot.append(h('button', {type: 'button', class: 'more', onclick: () => load(null, true)}, 'Load more'));
  };
}
