/* console/views/pool_form.js: the platform's form to create or replace a capacity pool (PUT
 * /jobengine/pools/{jobType}): job type, strategy, maxActive, optional maxPerHour, and the
 * tenants' shares as rows that can be added and removed. A replacement sends If-Match with the
 * version the page showed; every change goes through change('orch:governance', ...), so the
 * reason dialog comes first. The server validates (its VALIDATION_FAILED names the field, e.g.
 * shares[1].reserved); the form only checks that numbers are numbers. */
import {clear, field, fill, h} from '../dom.js';
import {attempt, cardForm, change, notice} from '../ui.js';

export const STRATEGIES = {
  'unlimited': 'no cap: the pool only counts use (maxActive is kept but not enforced).',
  'proportional': 'the tenants asking share maxActive by weight; an idle share is lent.',
  'priority': 'higher tiers first; lower tiers get what is left.',
  'reserved': 'each listed tenant a guaranteed minimum (reserved), lent while idle and reclaimed as its work returns; running work is never preempted.',
  'max-limit': 'each listed tenant capped at its own maxActive; all together at the pool\'s.',
};

/* Which share member each strategy reads (the others are kept but do nothing under it). */
const USES = {'unlimited': [], 'proportional': ['weight'], 'priority': ['tier'], 'reserved': ['reserved'], 'max-limit': ['maxActive']};

const SHARE_FIELDS = [
  {name: 'weight', label: 'Weight', attrs: {type: 'number', step: 'any', inputmode: 'decimal', placeholder: '1'}},
  {name: 'tier', label: 'Tier', attrs: {type: 'number', min: -1000, max: 1000, step: 1, inputmode: 'numeric', placeholder: '0'}},
  {name: 'reserved', label: 'Reserved', attrs: {type: 'number', min: 0, step: 1, inputmode: 'numeric', placeholder: '0'}},
  {name: 'maxActive', label: 'Share maxActive', attrs: {type: 'number', min: 1, step: 1, inputmode: 'numeric', placeholder: 'none'}},
];

/* A number from an input: undefined when empty, NaN when not a number of the kind asked. */
function numberOf(input, int) {
  const raw = input.value.trim();
  if (raw === '') return undefined;
  const v = Number(raw);
  return Number.isFinite(v) && (!int || Number.isInteger(v)) ? v : NaN;
}

/* Opens the form in panel. pool: the pool to replace (null: a new one); known: the job types
 * that have a pool now (a new one of those is refused here: a PUT without If-Match would
 * replace it); done(): called after a change. */
export function openPoolForm(panel, pool, known, done) {
  const replacing = pool !== null;
  const jobType = field('Job type', {required: true, spellcheck: 'false', autocomplete: 'off', maxlength: 128,
    value: replacing ? pool.jobType : '', readonly: replacing || undefined}, 'Letters, digits and . _ : - (one pool per job type).');
  const strategy = field('Strategy', {type: 'select'}, ' ');
  strategy.input.append(...Object.keys(STRATEGIES).map((s) => h('option', {value: s}, s)));
  strategy.input.value = replacing ? pool.strategy : 'reserved';
  const maxActive = field('maxActive', {type: 'number', min: 1, step: 1, inputmode: 'numeric', required: true,
    value: replacing ? pool.maxActive : ''}, 'Jobs of this type running at once, all tenants together.');
  const maxPerHour = field('maxPerHour (optional)', {type: 'number', min: 1, step: 1, inputmode: 'numeric',
    value: replacing && pool.maxPerHour !== null ? pool.maxPerHour : ''}, 'Grants per UTC hour, all tenants together; empty: no hourly cap.');

  const rowsEl = h('div', {class: 'share-rows'});
  const empty = h('p', {class: 'meta share-empty'}, 'No tenant listed: every tenant draws with the defaults (weight 1, tier 0, nothing reserved, no cap of its own).');
  const rows = []; /* {el, legend, remove, inputs: {tenantId, weight, ...}} */

  function renumber() {
    rows.forEach((r, i) => {
      fill(r.legend, `Share ${i + 1}`);
      r.remove.setAttribute('aria-label', `Remove share ${i + 1}`);
    });
    empty.hidden = rows.length > 0;
    markUsed();
  }

  /* Dims the members the chosen strategy does not read, and says so. */
  function markUsed() {
    const used = USES[strategy.input.value] || [];
    fill(strategy.hint, STRATEGIES[strategy.input.value] || '',
      used.length ? ` Shares: ${used.join(', ')} applies.` : ' Shares do not apply.');
    for (const r of rows)
      for (const f of SHARE_FIELDS) r.inputs[f.name].closest('.field').classList.toggle('unused', !used.includes(f.name));
  }

  function addShare(s = {}) {
    const tenant = field('Tenant', {required: true, spellcheck: 'false', autocomplete: 'off', maxlength: 64, value: s.tenantId || ''});
    const inputs = {tenantId: tenant.input};
    const cells = [tenant.row];
    for (const f of SHARE_FIELDS) {
      const v = s[f.name];
      const x = field(f.label, {...f.attrs, value: v === undefined || v === null ? '' : v});
      inputs[f.name] = x.input;
      cells.push(x.row);
    }
    const legend = h('legend');
    const row = {legend, inputs, el: null, remove: null};
    row.remove = h('button', {type: 'button', class: 'link', onclick: () => {
      const i = rows.indexOf(row);
      rows.splice(i, 1);
      row.el.remove();
      renumber();
      (rows[Math.min(i, rows.length - 1)]?.inputs.tenantId || addButton).focus();
    }}, 'Remove');
    row.el = h('fieldset', {class: 'share-row'}, legend, h('div', {class: 'share-fields'}, cells, h('div', {class: 'field remove'}, row.remove)));
    rows.push(row);
    rowsEl.append(row.el);
    renumber();
    return row;
  }

  const addButton = h('button', {type: 'button', onclick: () => addShare().inputs.tenantId.focus()}, 'Add share');
  for (const s of replacing ? pool.shares || [] : []) addShare(s);
  renumber();
  strategy.input.addEventListener('change', markUsed);

  /* The body, or a string naming the operator's mistake. */
  function read() {
    const jt = jobType.input.value.trim();
    if (!jt) return 'The job type is required.';
    if (!replacing && known.includes(jt)) return `A pool for ${jt} exists already: use Replace on it.`;
    const body = {strategy: strategy.input.value, shares: []};
    const ma = numberOf(maxActive.input, true);
    if (ma === undefined || Number.isNaN(ma)) return 'maxActive must be a whole number.';
    body.maxActive = ma;
    const mph = numberOf(maxPerHour.input, true);
    if (Number.isNaN(mph)) return 'maxPerHour must be a whole number or empty.';
    if (mph !== undefined) body.maxPerHour = mph;
    for (const [i, r] of rows.entries()) {
      const s = {tenantId: r.inputs.tenantId.value.trim()};
      if (!s.tenantId) return `Share ${i + 1}: the tenant is required.`;
      for (const f of SHARE_FIELDS) {
        const v = numberOf(r.inputs[f.name], f.name !== 'weight');
        if (Number.isNaN(v)) return `Share ${i + 1}: ${f.label} must be a ${f.name === 'weight' ? 'number' : 'whole number'}.`;
        if (v !== undefined) s[f.name] = v;
      }
      body.shares.push(s);
    }
    return {jt, body};
  }

  const title = replacing ? `Replace pool ${pool.jobType}` : 'New pool';
  const form = cardForm(panel, {id: 'pool-form-title', title, submit: replacing ? 'Replace pool' : 'Create pool'}, [
    replacing ? h('p', {class: 'meta'}, `Version ${pool.version}; the change is refused if someone changes the pool first.`) : null,
    h('div', {class: 'limits'}, jobType.row, strategy.row, maxActive.row, maxPerHour.row),
    h('fieldset', {class: 'shares'}, h('legend', {}, 'Shares (the tenants\' terms)'), empty, rowsEl, h('div', {class: 'actions'}, addButton)),
  ], async () => {
    const got = read();
    if (typeof got === 'string') return got;
    const headers = replacing ? {'If-Match': `"${pool.version}"`} : undefined;
    const r = await attempt(() => change('orch:governance', 'PUT', `/jobengine/pools/${encodeURIComponent(got.jt)}`, got.body, headers));
    if (!r) return null;
    const v = r.body.version;
    notice(r.status === 201 ? `Pool ${got.jt} created (version ${v}).`
      : replacing && v === pool.version ? `Pool ${got.jt} unchanged: it already had these settings (version ${v}).`
        : `Pool ${got.jt} replaced (version ${v}).`);
    clear(panel);
    done();
    return null;
  });
  fill(panel, form);
  (replacing ? strategy.input : jobType.input).focus();
}
