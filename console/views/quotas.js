/* console/views/quotas.js: the tenant's quotas with their usage (active of maxActive, this hour
 * of maxPerHour, tokens of burst), pause state and reason, pending and throttled jobs, a running
 * elevation with a live countdown to its revert; create, adjust (showing the policy ceilings,
 * optionally temporary), pause, resume, delete. Changes send If-Match with the version shown. */
import {q} from '../api.js';
import {actionsCell, bar, clear, countdown, field, fill, h, labelCells, num, when} from '../dom.js';
import {actionButton, attempt, cardForm, change, clearErrors, get, notice} from '../ui.js';

const LIMITS = [
  {name: 'maxActive', label: 'maxActive', what: 'jobs running at once', int: true},
  {name: 'maxPerHour', label: 'maxPerHour', what: 'grants per UTC hour', int: true},
  {name: 'burstCapacity', label: 'burstCapacity', what: 'token bucket size', int: true},
  {name: 'refillPerSecond', label: 'refillPerSecond', what: 'tokens added per second', int: false},
];
const POLL_MS = 5000;

/* "maxActive 50 (was 10), ..." for the limits a running elevation raised. */
function elevated(x) {
  const prev = x.elevation.previous || {};
  const parts = LIMITS.filter((l) => prev[l.name] !== undefined && prev[l.name] !== x[l.name])
    .map((l) => `${l.name} ${num(x[l.name])} (was ${num(prev[l.name])})`);
  return parts.length ? parts.join(', ') : 'temporary';
}

async function allQuotas() {
  const items = [];
  let token = null;
  do {
    const page = await get(`/jobengine/quotas${q({limit: 500, continuationToken: token})}`);
    items.push(...page.items);
    token = page.continuationToken;
  } while (token);
  return items;
}

/* The ceilings that apply to jobType in this tenant (GET /jobengine/quotas/ceilings). */
async function ceilingsFor(jobType) {
  return get(`/jobengine/quotas/ceilings${q({jobType})}`);
}

/* Reads the limit inputs: {body} with the values that differ from base (all when base is null),
 * or {bad} naming a field that is not a positive number. */
function readLimits(inputs, base) {
  const body = {};
  for (const l of LIMITS) {
    const raw = inputs[l.name].value.trim();
    if (raw === '') {
      if (!base) return {bad: `${l.name} is required`};
      continue;
    }
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0 || (l.int && !Number.isInteger(v)))
      return {bad: `${l.name} must be a positive ${l.int ? 'integer' : 'number'}`};
    if (!base || base[l.name] !== v) body[l.name] = v;
  }
  return {body};
}

function limitInputs(values, ceilings) {
  const inputs = {};
  const hints = {};
  const rows = LIMITS.map((l) => {
    const f = field(l.label, {type: 'number', min: l.int ? 1 : 'any', step: l.int ? 1 : 'any', inputmode: l.int ? 'numeric' : 'decimal',
      value: values ? values[l.name] : '', required: values ? undefined : true}, l.what);
    inputs[l.name] = f.input;
    hints[l.name] = f.hint;
    return f.row;
  });
  /* The ceilings are shown, and a value above one is flagged as it is typed, but not blocked:
   * the server decides (its configuration may have changed) and its 422 is shown in words. */
  let known = null;
  const hintFor = (l) => {
    const now = values ? ` · now ${num(values[l.name])}` : '';
    const ceiling = known ? num(known[l.name]) : 'unknown';
    const v = Number(inputs[l.name].value);
    const over = known && inputs[l.name].value !== '' && v > known[l.name];
    fill(hints[l.name], `${l.what}${now} · policy ceiling ${ceiling}`,
      over ? h('strong', {class: 'why'}, ' · above the ceiling: the server will refuse it') : null);
  };
  const showCeilings = (c) => {
    known = c;
    for (const l of LIMITS) hintFor(l);
  };
  for (const l of LIMITS) inputs[l.name].addEventListener('input', () => hintFor(l));
  showCeilings(ceilings);
  return {rows, inputs, showCeilings};
}

export async function renderQuotas(root) {
  const tableSlot = h('div', {class: 'table-wrap'});
  const panel = h('div', {class: 'panel-slot'});
  let quotas = [];
  let timer = null;
  let stopped = false;

  async function refresh() {
    const list = await attempt(allQuotas);
    if (!list || stopped) return;
    quotas = list;
    drawTable();
  }

  function drawTable() {
    const focused = tableSlot.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
    drawRows();
    if (focused) {
      const again = [...tableSlot.querySelectorAll('button')].find((b) => b.getAttribute('aria-label') === focused);
      if (again) again.focus();
    }
  }

  function drawRows() {
    if (!quotas.length) {
      fill(tableSlot, h('p', {class: 'empty'}, 'This tenant has no quota yet. Jobs of a job type without one lease unthrottled (unless the server denies them).'));
      return;
    }
    const rows = quotas.map((x) => {
      const u = x.usage;
      const el = x.elevation;
      return h('tr', {'data-job-type': x.jobType},
        h('th', {scope: 'row'}, x.jobType),
        h('td', {}, bar(`${x.jobType} active`, u.active, x.maxActive)),
        h('td', {}, bar(`${x.jobType} this hour`, u.hourCount, x.maxPerHour)),
        h('td', {}, bar(`${x.jobType} tokens`, Math.floor(u.availableTokens), x.burstCapacity, true), h('small', {class: 'meta'}, ` +${num(x.refillPerSecond)}/s`)),
        h('td', {class: 'n'}, num(u.pending)),
        h('td', {class: 'n'}, num(u.throttled)),
        h('td', {}, x.paused
          ? h('span', {class: 'state paused'}, 'paused', h('br'), h('small', {}, x.pauseReason || ''), x.pauseTicket ? h('small', {}, ` (${x.pauseTicket})`) : null)
          : h('span', {class: 'state running'}, 'granting')),
        h('td', {}, el
          ? h('span', {class: 'elev'}, `${elevated(x)} · reverts in `,
            h('span', {class: 'countdown', 'data-until': Date.parse(el.expiresAt), 'aria-label': `reverts at ${when(el.expiresAt)}`}, countdown(Date.parse(el.expiresAt))))
          : '—'),
        h('td', {}, h('small', {}, x.lastReason || '—'), x.lastTicket ? h('small', {class: 'meta'}, ` ${x.lastTicket}`) : null,
          h('br'), h('small', {class: 'meta'}, `v${x.version} · ${x.updatedBy} · ${when(x.updatedAt)}`)),
        actionsCell(
          actionButton('Adjust', 'orch:quota', () => openAdjust(x), {'aria-label': `Adjust ${x.jobType}`}, true),
          x.paused
            ? actionButton('Resume', 'orch:quota', () => pauseResume(x, 'resume'), {'aria-label': `Resume ${x.jobType}`}, true)
            : actionButton('Pause', 'orch:quota', () => pauseResume(x, 'pause'), {'aria-label': `Pause ${x.jobType}`}, true),
          deleteButton(x)));
    });
    fill(tableSlot, labelCells(h('table', {class: 'grid quotas'},
      h('caption', {}, 'Quotas by job type (usage as of the last refresh, every 5 s)'),
      h('thead', {}, h('tr', {}, ['Job type', 'Active', 'This hour', 'Tokens', 'Pending', 'Throttled', 'State', 'Elevation', 'Last change', 'Actions']
        .map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, rows))));
  }

  function deleteButton(x) {
    let armed = null;
    const b = actionButton('Delete', 'orch:quota', async () => {
      if (!armed) {
        b.textContent = 'Confirm delete';
        b.setAttribute('aria-label', `Confirm delete ${x.jobType}`);
        armed = setTimeout(() => {
          armed = null;
          b.textContent = 'Delete';
          b.setAttribute('aria-label', `Delete ${x.jobType}`);
        }, 5000);
        return;
      }
      clearTimeout(armed);
      clearErrors();
      const r = await attempt(() => change('orch:quota', 'DELETE', `/jobengine/quotas/${x.quotaId}`, undefined, {'If-Match': `"${x.version}"`}));
      if (r) notice(`Quota ${x.jobType} deleted.`);
      refresh();
    }, {'aria-label': `Delete ${x.jobType}`, class: 'danger'}, true);
    return b;
  }

  async function pauseResume(x, what) {
    clearErrors();
    const r = await attempt(() => change('orch:quota', 'POST', `/jobengine/quotas/${x.quotaId}/${what}`, {}, {'If-Match': `"${x.version}"`}));
    if (r) notice(`Quota ${x.jobType} ${what === 'pause' ? 'paused' : 'resumed'} (version ${r.body.version}).`);
    refresh();
  }

  async function openAdjust(x) {
    clearErrors();
    const c = await attempt(() => ceilingsFor(x.jobType));
    const lim = limitInputs(x, c);
    const minutes = field('Revert after (minutes)', {type: 'number', min: 1, max: 10080, step: 1, inputmode: 'numeric'},
      'Optional: makes this a temporary elevation that goes back to the current limits by itself.');
    const allow = field('Allow decrease below current usage', {type: 'checkbox'});
    const form = cardForm(panel, {id: 'adjust-title', title: `Adjust quota ${x.jobType}`, submit: 'Apply change'}, [
      h('p', {class: 'meta'}, `Version ${x.version}; the change is refused if someone changes it first.`),
      h('div', {class: 'limits'}, lim.rows), minutes.row, allow.row,
    ], async () => {
      const {body, bad} = readLimits(lim.inputs, x);
      if (bad) return bad;
      const m = minutes.input.value.trim();
      if (m) {
        const n = Number(m);
        if (!Number.isInteger(n) || n < 1) return 'Revert after must be a whole number of minutes.';
        body.expiresAt = new Date(Date.now() + n * 60000).toISOString();
      }
      if (allow.input.checked) body.allowDecreaseBelowUsage = true;
      if (!Object.keys(body).some((k) => k !== 'allowDecreaseBelowUsage')) return 'Nothing to change: every limit is as it is now.';
      const r = await attempt(() => change('orch:quota', 'PUT', `/jobengine/quotas/${x.quotaId}`, body, {'If-Match': `"${x.version}"`}));
      if (!r) return null;
      notice(`Quota ${x.jobType} adjusted (version ${r.body.version})${r.body.elevation ? `; reverts at ${when(r.body.elevation.expiresAt)}` : ''}.`);
      clear(panel);
      refresh();
      return null;
    });
    fill(panel, form);
    lim.inputs.maxActive.focus();
  }

  function openCreate() {
    clearErrors();
    const jobType = field('Job type', {required: true, spellcheck: 'false', autocomplete: 'off', maxlength: 128},
      'Letters, digits and . _ : - (or * for the tenant-wide default).');
    const lim = limitInputs(null, null);
    let asked = '';
    jobType.input.addEventListener('change', async () => {
      const jt = jobType.input.value.trim();
      if (!jt || jt === asked) return;
      asked = jt;
      const c = await attempt(() => ceilingsFor(jt));
      if (c && jobType.input.value.trim() === jt) lim.showCeilings(c);
    });
    const form = cardForm(panel, {id: 'create-title', title: 'New quota', submit: 'Create quota'},
      [jobType.row, h('div', {class: 'limits'}, lim.rows)], async () => {
        const jt = jobType.input.value.trim();
        const {body, bad} = readLimits(lim.inputs, null);
        if (bad) return bad;
        const r = await attempt(() => change('orch:quota', 'POST', '/jobengine/quotas', {jobType: jt, ...body}));
        if (!r) return null;
        notice(`Quota ${jt} created.`);
        clear(panel);
        refresh();
        return null;
      });
    fill(panel, form);
    jobType.input.focus();
  }

  const toolbar = h('div', {class: 'toolbar'});
  const drawToolbar = () => fill(toolbar, actionButton('New quota', 'orch:quota', openCreate),
    h('button', {type: 'button', onclick: () => { clearErrors(); refresh(); }}, 'Refresh'));
  drawToolbar();
  root.append(h('h1', {}, 'Quotas'), toolbar, panel, tableSlot);
  await refresh();
  timer = setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);

  const revertSeen = new Set();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
    /* a revert is due: read again a moment after it (the engine reverts within a second) */
    tick(now) {
      for (const x of quotas) {
        if (!x.elevation) continue;
        const at = Date.parse(x.elevation.expiresAt);
        if (now > at + 1200 && !revertSeen.has(x.quotaId + at)) {
          revertSeen.add(x.quotaId + at);
          refresh();
        }
      }
    },
    rescope() {
      drawTable();
      drawToolbar();
    },
  };
}
