/* console/views/audit.js: the tenant's hash-chained audit trail with filters, each entry with
 * actor, reason, ticket, token id and its hash link; the chain's status from /audit/verify; the
 * export (NDJSON with its signed checkpoint) as a download. */
import {fill, field, h, num, when} from '../dom.js';
import * as session from '../session.js';
import {attempt, clearErrors, get, getRaw, notice, pagedTable} from '../ui.js';

const EVENT_TYPES = ['authority.client_credentials.grant', 'quota.created', 'quota.updated', 'quota.deleted', 'quota.paused',
  'quota.resumed', 'quota.change.denied', 'quota.elevation.expired', 'backfill.created', 'backfill.started', 'backfill.paused',
  'backfill.resumed', 'backfill.canceled', 'backfill.completed', 'backfill.failed', 'backfill.rejected',
  'pool.created', 'pool.updated', 'pool.deleted', 'pool.change.denied'];

function short(hash) {
  return hash ? `${hash.slice(0, 10)}…` : '—';
}

function tokenId(e) {
  const d = e.details || {};
  return (d.token && d.token.jti) || d.jti || null;
}

export async function renderAudit(root) {
  const chain = h('div', {class: 'chain', role: 'status'});
  const listSlot = h('div', {class: 'table-wrap'});
  const detail = h('div', {class: 'panel-slot'});
  let last = null; /* the last entry shown, to check the next one links to it */

  async function verify() {
    fill(chain, 'Verifying the chain…');
    const v = await attempt(() => get('/jobengine/audit/verify'));
    if (!v) return fill(chain, 'The chain could not be verified (see the error above).');
    if (v.valid)
      fill(chain, h('span', {class: 'ok'}, 'Chain valid'), `: ${num(v.entries)} entries, head #${v.headSequence} `,
        h('code', {title: v.headHash || ''}, short(v.headHash)));
    else
      fill(chain, h('span', {class: 'bad'}, 'Chain BROKEN'), ` at sequence ${v.firstBrokenSequence}: entries from there on do not hash as recorded.`);
  }

  function row(e) {
    const linked = last && last.sequence === e.sequence - 1 ? last.hash === e.previousHash : null;
    last = e;
    return h('tr', {'data-sequence': e.sequence, 'data-event-type': e.eventType},
      h('th', {scope: 'row', class: 'n'}, e.sequence),
      h('td', {}, when(e.occurredAt)),
      h('td', {}, h('code', {}, e.eventType)),
      h('td', {}, e.resourceType, h('br'), h('small', {class: 'meta mono'}, e.resourceId || '—')),
      h('td', {}, e.actorId, h('br'), h('small', {class: 'meta'}, e.actorType)),
      h('td', {class: 'reason-cell'}, e.reason || '—'),
      h('td', {class: 'ticket-cell'}, e.ticket || '—'),
      h('td', {}, h('small', {class: 'mono', title: tokenId(e) || ''}, tokenId(e) ? tokenId(e).slice(0, 13) : '—')),
      h('td', {}, h('small', {class: 'mono', title: `previous ${e.previousHash}\nhash ${e.hash}`}, `${short(e.previousHash)} → ${short(e.hash)}`),
        linked === null ? null : h('small', {class: linked ? 'ok' : 'bad'}, linked ? ' linked' : ' NOT LINKED')),
      h('td', {}, h('button', {type: 'button', class: 'link', 'aria-label': `Details of entry ${e.sequence}`, onclick: () => showDetails(e)}, 'Details')));
  }

  function showDetails(e) {
    fill(detail, h('section', {class: 'card', 'aria-labelledby': 'entry-title'},
      h('h2', {id: 'entry-title', tabindex: '-1'}, `Entry #${e.sequence}: ${e.eventType}`),
      h('pre', {class: 'payload'}, JSON.stringify(e, null, 2)),
      h('div', {class: 'actions'}, h('button', {type: 'button', onclick: () => fill(detail)}, 'Close'))));
    detail.querySelector('h2').focus();
  }

  const load = pagedTable(listSlot, {path: '/jobengine/audit', limit: 100, caption: 'Entries in chain order (ascending sequence)',
    columns: ['#', 'Occurred', 'Event', 'Resource', 'Actor', 'Reason', 'Ticket', 'Token id', 'Hash link', ''],
    row, empty: 'No entry matches.', tableClass: 'grid audit', onReset: () => { last = null; }});

  const eventType = field('Event type', {list: 'event-types', spellcheck: 'false', autocomplete: 'off'});
  const resourceType = field('Resource type', {type: 'select'});
  resourceType.input.append(h('option', {value: ''}, 'any'), ...['quota', 'backfill', 'pool', 'client'].map((x) => h('option', {value: x}, x)));
  const resourceId = field('Resource ID', {spellcheck: 'false', autocomplete: 'off'});
  const actor = field('Actor', {spellcheck: 'false', autocomplete: 'off'});
  const since = field('Since (UTC)', {spellcheck: 'false', placeholder: '2026-11-01T00:00:00Z'}, 'Inclusive, RFC 3339.');
  const until = field('Until (UTC)', {spellcheck: 'false', placeholder: '2026-11-02T00:00:00Z'}, 'Exclusive.');
  const form = h('form', {class: 'filters', 'aria-label': 'Filter the audit trail'},
    h('datalist', {id: 'event-types'}, EVENT_TYPES.map((t) => h('option', {value: t}))),
    eventType.row, resourceType.row, resourceId.row, actor.row, since.row, until.row,
    h('div', {class: 'actions'}, h('button', {type: 'submit'}, 'Apply filters')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors();
    load({eventType: eventType.input.value.trim(), resourceType: resourceType.input.value,
      resourceId: resourceId.input.value.trim(), actor: actor.input.value.trim(),
      since: since.input.value.trim(), until: until.input.value.trim()});
  });

  async function download() {
    clearErrors();
    const r = await attempt(() => getRaw('/jobengine/audit/export'));
    if (!r) return;
    const url = URL.createObjectURL(new Blob([r.body], {type: 'application/x-ndjson'}));
    const name = `audit-${session.who().tenant || 'tenant'}-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}Z.ndjson`;
    const a = h('a', {href: url, download: name});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    notice(`Export downloaded as ${name} (${num(r.body.split('\n').filter(Boolean).length - 1)} entries and the signed checkpoint). Verify it offline with: jobengine audit verify --file ${name} --jwks jwks.json`);
  }

  root.append(h('h1', {}, 'Audit'), chain,
    h('div', {class: 'toolbar'}, h('button', {type: 'button', onclick: () => { clearErrors(); verify(); }}, 'Verify chain'),
      h('button', {type: 'button', onclick: download}, 'Download export')),
    form, detail, listSlot);
  await Promise.all([verify(), load({})]);
  return {};
}
