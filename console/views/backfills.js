/* console/views/backfills.js: plan a backfill with a dry-run preview (plan, estimated jobs,
 * every safety check with its verdict, the plan hash), create it bound to that hash, start,
 * pause, resume, cancel, and watch each one's progress live. */
import {q} from '../api.js';
import * as session from '../session.js';
import {actionsCell, clear, field, fill, h, labelCells, num, when} from '../dom.js';
import {actionButton, attempt, change, clearErrors, get, notice, scopeNote} from '../ui.js';

const MOVES = {
  pending: ['start', 'cancel'],
  running: ['pause', 'cancel'],
  paused: ['resume', 'cancel'],
};
const LABEL = {start: 'Start', pause: 'Pause', resume: 'Resume', cancel: 'Cancel'};
const CHECK_WORDS = {
  window_order: 'the window starts before it ends',
  window_not_future: 'the window is not in the future',
  window_within_limit: 'the window is within the longest allowed',
  batch_count_within_limit: 'the number of batches is within the limit',
  quota_exists: 'the job type has a quota',
  quota_not_paused: 'that quota is not paused',
  no_overlap: 'no other live backfill covers this source, job type and window',
};

/* An RFC 3339 time from what the operator typed; a time without a zone is taken as UTC. */
function rfc3339(text) {
  const t = text.trim();
  if (!t) return null;
  const zoned = /([zZ]|[+-]\d\d:?\d\d)$/.test(t) ? t : `${t}Z`;
  const ms = Date.parse(zoned);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function dayStart(offsetDays) {
  const d = new Date();
  d.setUTCHours(0, 0, 0, 0);
  return new Date(d.getTime() + offsetDays * 86400000).toISOString();
}

export async function renderBackfills(root) {
  const listSlot = h('div', {class: 'table-wrap'});
  const previewSlot = h('div', {class: 'preview-slot', 'aria-live': 'polite'});
  let timer = null;
  let stopped = false;
  let items = [];

  const source = field('Source ID', {required: true, spellcheck: 'false', autocomplete: 'off', maxlength: 128});
  const jobType = field('Job type', {required: true, spellcheck: 'false', autocomplete: 'off', maxlength: 128});
  const start = field('Window start (UTC)', {required: true, value: dayStart(-1), spellcheck: 'false'}, 'RFC 3339, e.g. 2026-11-01T00:00:00Z; inclusive.');
  const end = field('Window end (UTC)', {required: true, value: dayStart(0), spellcheck: 'false'}, 'Exclusive; not in the future.');
  const batch = field('Batch seconds', {type: 'number', min: 1, step: 1, value: 3600, inputmode: 'numeric'}, 'One job per batch of event time.');
  const force = field('Force reprocess', {type: 'checkbox'}, 'Process events again even when the ledger says they were.');
  const problem = h('p', {class: 'problem', role: 'alert'});
  const form = h('form', {class: 'card', 'aria-labelledby': 'plan-title'},
    h('h2', {id: 'plan-title'}, 'Plan a backfill'),
    h('div', {class: 'limits'}, source.row, jobType.row, start.row, end.row, batch.row), force.row, problem,
    h('div', {class: 'actions'}));
  const formActions = form.querySelector('.actions');
  const drawFormActions = () => {
    const c = session.can('orch:backfill');
    fill(formActions, h('button', {type: 'submit', class: 'primary', disabled: !c.ok || undefined}, 'Preview'),
      c.ok ? h('small', {class: 'hint'}, 'A dry run: creates nothing. It needs orch:backfill, so the console asks why first.') : h('small', {class: 'why'}, c.why));
  };
  drawFormActions();

  function readForm() {
    const ws = rfc3339(start.input.value);
    const we = rfc3339(end.input.value);
    if (!source.input.value.trim() || !jobType.input.value.trim()) return {bad: 'Source ID and job type are required.'};
    if (!ws || !we) return {bad: 'Window start and end must be RFC 3339 times, e.g. 2026-11-01T00:00:00Z.'};
    const bs = Number(batch.input.value);
    if (!Number.isInteger(bs) || bs < 1) return {bad: 'Batch seconds must be a positive whole number.'};
    return {body: {sourceId: source.input.value.trim(), jobType: jobType.input.value.trim(), windowStart: ws, windowEnd: we,
      batchSeconds: bs, forceReprocess: force.input.checked}};
  }

  /* A preview is for exactly the form it was made from: editing the form drops it. */
  form.addEventListener('input', () => clear(previewSlot));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(problem);
    clearErrors();
    const {body, bad} = readForm();
    if (bad) return fill(problem, bad);
    const r = await attempt(() => change('orch:backfill', 'POST', '/jobengine/backfills/preview', body));
    if (r) showPreview(body, r.body);
  });

  function showPreview(body, p) {
    const failed = p.safetyChecks.filter((c) => !c.passed);
    const create = failed.length
      ? h('span', {class: 'denied'}, h('button', {type: 'button', disabled: true, 'aria-describedby': 'create-why'}, 'Create backfill'),
        h('small', {id: 'create-why', class: 'why'}, `Refused until every check passes (${failed.map((c) => c.check).join(', ')}).`))
      : actionButton('Create backfill', 'orch:backfill', async () => {
        clearErrors();
        const r = await attempt(() => change('orch:backfill', 'POST', '/jobengine/backfills', {...body, planHash: p.plan.planHash}));
        if (!r) return;
        notice(`Backfill ${r.body.backfillId} created (pending): start it from the list.`);
        clear(previewSlot);
        refresh();
      }, {class: 'primary'});
    fill(previewSlot, h('section', {class: 'card preview', 'aria-labelledby': 'preview-title'},
      h('h2', {id: 'preview-title'}, 'Preview'),
      h('p', {class: 'meta'}, `${body.sourceId} → ${body.jobType}, ${when(body.windowStart)} to ${when(body.windowEnd)}, batches of ${num(body.batchSeconds)} s${body.forceReprocess ? ', reprocessing everything' : ''}. Nothing was created.`),
      h('dl', {class: 'plan'},
        h('dt', {}, 'Batches (jobs to run)'), h('dd', {'data-k': 'batches'}, num(p.plan.batches)),
        h('dt', {}, 'Known events in the window'), h('dd', {'data-k': 'knownEvents'}, num(p.plan.knownEvents)),
        h('dt', {}, 'Already processed'), h('dd', {'data-k': 'alreadyProcessed'}, num(p.plan.alreadyProcessed)),
        h('dt', {}, 'Plan hash'), h('dd', {}, h('code', {class: 'hash'}, p.plan.planHash))),
      h('h3', {}, `Safety checks: ${failed.length ? `${failed.length} failed` : 'all passed'}`),
      h('ul', {class: 'checks'}, p.safetyChecks.map((c) => h('li', {class: c.passed ? 'pass' : 'fail'},
        h('span', {class: 'verdict'}, c.passed ? 'passed' : 'FAILED'), ' ', h('code', {}, c.check), ' — ', CHECK_WORDS[c.check] || ''))),
      h('div', {class: 'actions'}, create)));
  }

  async function refresh() {
    const all = [];
    let token = null;
    do {
      const page = await attempt(() => get(`/jobengine/backfills${q({limit: 100, continuationToken: token})}`));
      if (!page || stopped) return;
      all.push(...page.items);
      token = all.length < 300 ? page.continuationToken : null;
    } while (token);
    items = all;
    drawList();
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (stopped) return;
    const busy = items.some((b) => b.status === 'running' || b.status === 'pending');
    timer = setTimeout(() => (document.hidden ? schedule() : refresh()), busy ? 2000 : 10000);
  }

  async function move(b, what) {
    clearErrors();
    const r = await attempt(() => change('orch:backfill', 'POST', `/jobengine/backfills/${b.backfillId}/${what}`, {}));
    if (r) notice(`Backfill ${b.backfillId.slice(0, 8)}: ${r.body.status}.`);
    refresh();
  }

  function drawList() {
    const focused = listSlot.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
    if (!items.length) {
      fill(listSlot, h('p', {class: 'empty'}, 'No backfill yet.'));
      return;
    }
    const rows = items.map((b) => {
      const p = b.progress;
      const total = b.plan.batches;
      const id8 = b.backfillId.slice(0, 8);
      return h('tr', {'data-backfill-id': b.backfillId, 'data-status': b.status},
        h('th', {scope: 'row'}, `${b.sourceId} → ${b.jobType}`, h('br'), h('small', {class: 'meta', title: b.backfillId}, id8)),
        h('td', {}, when(b.windowStart), h('br'), when(b.windowEnd)),
        h('td', {}, h('span', {class: `state ${b.status}`}, b.status), b.error ? h('small', {class: 'why'}, ` ${b.error}`) : null),
        h('td', {},
          h('meter', {class: 'bar', min: 0, max: total || 1, value: p.batchesDone, 'aria-label': `batches done: ${p.batchesDone} of ${total}`}),
          h('span', {class: 'bar-text'}, `${num(p.batchesDone)} of ${num(total)} batches done`),
          h('br'), h('small', {class: 'meta'}, `${num(p.batchesSubmitted)} submitted · ${num(Math.max(0, p.batchesSubmitted - p.batchesDone))} in flight · ${num(Math.max(0, total - p.batchesSubmitted))} waiting`)),
        h('td', {class: 'n', 'data-k': 'eventsProcessed'}, num(p.eventsProcessed)),
        h('td', {class: 'n', 'data-k': 'duplicatesSkipped'}, num(p.duplicatesSkipped)),
        h('td', {class: 'n', 'data-k': 'eventsFailed'}, num(p.eventsFailed)),
        h('td', {}, h('small', {}, b.reason || '—'), b.ticket ? h('small', {class: 'meta'}, ` ${b.ticket}`) : null,
          h('br'), h('small', {class: 'meta'}, `${b.createdBy} · ${when(b.createdAt)}`)),
        actionsCell(...(MOVES[b.status] || []).map((m) =>
          actionButton(LABEL[m], 'orch:backfill', () => move(b, m), {'aria-label': `${LABEL[m]} backfill ${id8}`, class: m === 'cancel' ? 'danger' : undefined}, true))));
    });
    fill(listSlot, labelCells(h('table', {class: 'grid backfills'},
      h('caption', {}, 'Backfills, newest first (refreshed every 2 s while one runs)'),
      h('thead', {}, h('tr', {}, ['Backfill', 'Window', 'Status', 'Progress', 'Events processed', 'Duplicates skipped', 'Events failed', 'Reason', 'Actions']
        .map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, rows))));
    if (focused) {
      const again = [...listSlot.querySelectorAll('button')].find((x) => x.getAttribute('aria-label') === focused);
      if (again) again.focus();
    }
  }

  const noteSlot = h('div', {}, scopeNote('orch:backfill', 'start, pause, resume and cancel'));
  root.append(h('h1', {}, 'Backfills'), form, previewSlot, h('h2', {}, 'All backfills'), noteSlot, listSlot);
  await refresh();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    rescope() {
      drawList();
      drawFormActions();
      fill(noteSlot, scopeNote('orch:backfill', 'start, pause, resume and cancel'));
    },
  };
}
