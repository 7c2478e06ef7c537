/* console/views/pools.js: capacity pools (issue 15), one per job type and platform-wide.
 * The platform (a client of tenant _system) sees every pool with its strategy, total use of
 * maxActive, this hour's grants of maxPerHour, throttled count and last change, and each tenant's
 * use and entitlement; it creates, replaces and deletes pools (orch:governance, with a reason).
 * Any other tenant sees, per pool, the strategy, the pool's maxActive and its own entitlement and
 * use: the API gives it nothing about other tenants, so nothing of them can be shown. */
import {actionsCell, bar, clear, fill, h, labelCells, num, uid, when} from '../dom.js';
import * as session from '../session.js';
import {actionButton, attempt, change, clearErrors, get, notice, scopeNote} from '../ui.js';
import {STRATEGIES, openPoolForm} from './pool_form.js';

const POLL_MS = 5000;
export const PLATFORM_TENANT = '_system';

/* Use of an entitlement as a bar; under unlimited (entitled null) the count alone. */
function useOf(label, active, entitled) {
  if (entitled === null || entitled === undefined) return h('span', {}, `${num(active)} `, h('small', {class: 'meta'}, '(no limit)'));
  return bar(label, active, entitled);
}

const limit = (v) => (v === null || v === undefined ? 'none' : num(v));

/* A share's terms in words, for the tenant table: only what the strategy reads, then the rest. */
function terms(share) {
  if (!share) return h('small', {class: 'meta'}, 'not listed: defaults');
  return h('small', {}, `weight ${num(share.weight)} · tier ${num(share.tier)} · reserved ${num(share.reserved)} · cap ${limit(share.maxActive)}`);
}

export async function renderPools(root) {
  const platform = session.who().tenant === PLATFORM_TENANT;
  const listSlot = h('div', {class: 'pools'});
  const panel = h('div', {class: 'panel-slot'});
  let pools = [];
  let timer = null;
  let stopped = false;

  async function refresh() {
    const r = await attempt(() => get('/jobengine/pools'));
    if (!r || stopped) return;
    pools = r.items;
    draw();
  }

  /* Redraws the list, keeping the focus on the same button (by its label) when it was there. */
  function draw() {
    const focused = listSlot.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
    if (!pools.length)
      fill(listSlot, h('p', {class: 'empty card'}, 'No capacity pool: each job type is limited only by each tenant\'s own quota.'));
    else if (platform) fill(listSlot, h('div', {class: 'pool-list'}, pools.map(poolCard)));
    else fill(listSlot, h('div', {class: 'table-wrap'}, tenantTable()));
    if (focused) {
      const again = [...listSlot.querySelectorAll('button')].find((b) => b.getAttribute('aria-label') === focused);
      if (again) again.focus();
    }
  }

  /* ---- the platform's view ---------------------------------------------------------------- */

  function poolCard(p) {
    const u = p.usage || {tenants: []};
    const titleId = uid('pool');
    const unlimited = p.strategy === 'unlimited';
    const shares = new Map((p.shares || []).map((s) => [s.tenantId, s]));
    const seen = new Set(u.tenants.map((t) => t.tenantId));
    /* the tenants drawing now, then the listed ones idle now */
    const rows = u.tenants.map((t) => tenantRow(p, t, shares.get(t.tenantId)))
      .concat((p.shares || []).filter((s) => !seen.has(s.tenantId)).map((s) => idleRow(p, s)));
    const table = rows.length
      ? labelCells(h('table', {class: 'grid pool-tenants'},
        h('caption', {}, `Tenants of ${p.jobType}: use and entitlement now`),
        h('thead', {}, h('tr', {}, ['Tenant', 'Active of entitled', 'Demand', 'Entitled', 'Guaranteed', 'Cap', 'Terms']
          .map((c) => h('th', {scope: 'col'}, c)))),
        h('tbody', {}, rows)))
      : h('p', {class: 'empty'}, 'No tenant is listed, running or waiting in this pool.');
    return h('section', {class: 'card pool', 'data-job-type': p.jobType, 'aria-labelledby': titleId},
      h('h2', {id: titleId}, p.jobType, ' ', h('span', {class: 'state strategy'}, p.strategy)),
      h('dl', {class: 'plan pool-figures'},
        h('dt', {}, 'Strategy'), h('dd', {}, p.strategy, h('small', {class: 'meta'}, ` · ${STRATEGIES[p.strategy] || ''}`)),
        h('dt', {}, 'In use'), h('dd', {class: 'pool-active'}, unlimited
          ? [`${num(u.active)} running `, h('small', {class: 'meta'}, `(no cap; maxActive ${num(p.maxActive)} kept)`)]
          : bar(`${p.jobType} in use`, u.active, p.maxActive)),
        h('dt', {}, 'This hour'), h('dd', {class: 'pool-hour'}, p.maxPerHour === null
          ? [`${num(u.hourCount)} grants `, h('small', {class: 'meta'}, '(no hourly cap)')]
          : bar(`${p.jobType} grants this hour`, u.hourCount, p.maxPerHour)),
        h('dt', {}, 'Throttled this hour'), h('dd', {class: 'pool-throttled'}, num(u.throttled)),
        h('dt', {}, 'Last change'), h('dd', {class: 'pool-last'}, p.lastReason || '—', p.lastTicket ? h('small', {class: 'meta'}, ` ${p.lastTicket}`) : null,
          h('br'), h('small', {class: 'meta'}, `v${p.version} · ${p.updatedBy} · ${when(p.updatedAt)}`))),
      h('div', {class: 'table-wrap'}, table),
      h('div', {class: 'actions'},
        actionButton('Replace', 'orch:governance', () => { clearErrors(); openPoolForm(panel, p, [], refresh); },
          {'aria-label': `Replace pool ${p.jobType}`}, true),
        deleteButton(p)));
  }

  function tenantRow(p, t, share) {
    return h('tr', {'data-tenant': t.tenantId},
      h('th', {scope: 'row'}, t.tenantId),
      h('td', {}, useOf(`${t.tenantId} active in ${p.jobType}`, t.active, t.entitled)),
      h('td', {class: 'n'}, num(t.demand)),
      h('td', {class: 'n'}, limit(t.entitled)),
      h('td', {class: 'n'}, num(t.guaranteed)),
      h('td', {class: 'n'}, limit(t.cap)),
      h('td', {}, terms(share)));
  }

  function idleRow(p, s) {
    return h('tr', {'data-tenant': s.tenantId, class: 'idle'},
      h('th', {scope: 'row'}, s.tenantId),
      h('td', {}, h('small', {class: 'meta'}, 'idle: nothing running or waiting')),
      h('td', {class: 'n'}, '0'), h('td', {class: 'n'}, '—'),
      h('td', {class: 'n'}, p.strategy === 'reserved' ? num(s.reserved) : '0'),
      h('td', {class: 'n'}, p.strategy === 'max-limit' ? limit(s.maxActive) : 'none'),
      h('td', {}, terms(s)));
  }

  function deleteButton(p) {
    let armed = null;
    const label = (confirm) => `${confirm ? 'Confirm delete' : 'Delete'} pool ${p.jobType}`;
    const b = actionButton('Delete', 'orch:governance', async () => {
      if (!armed) {
        b.textContent = 'Confirm delete';
        b.setAttribute('aria-label', label(true));
        armed = setTimeout(() => {
          armed = null;
          b.textContent = 'Delete';
          b.setAttribute('aria-label', label(false));
        }, 5000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      clearErrors();
      const r = await attempt(() => change('orch:governance', 'DELETE', `/jobengine/pools/${encodeURIComponent(p.jobType)}`, undefined,
        {'If-Match': `"${p.version}"`}));
      if (r) notice(`Pool ${p.jobType} deleted: its tenants are limited only by their own quotas again.`);
      refresh();
    }, {'aria-label': label(false), class: 'danger'}, true);
    return b;
  }

  /* ---- a tenant's view: its own line per pool -------------------------------------------- */

  function tenantTable() {
    return labelCells(h('table', {class: 'grid pools-mine'},
      h('caption', {}, 'Your entitlement in each capacity pool (as of the last refresh, every 5 s); other tenants\' use is not shown'),
      h('thead', {}, h('tr', {}, ['Job type', 'Strategy', 'Pool maxActive', 'Your use of entitled', 'Your demand', 'Entitled', 'Guaranteed', 'Cap']
        .map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, pools.map((p) => {
        const y = p.you || {};
        return h('tr', {'data-job-type': p.jobType},
          h('th', {scope: 'row'}, p.jobType),
          h('td', {}, p.strategy),
          h('td', {class: 'n'}, p.strategy === 'unlimited' ? 'no cap' : num(p.maxActive)),
          h('td', {}, useOf(`your use of ${p.jobType}`, y.active, y.entitled)),
          h('td', {class: 'n'}, num(y.demand)),
          h('td', {class: 'n'}, limit(y.entitled)),
          h('td', {class: 'n'}, num(y.guaranteed)),
          h('td', {class: 'n'}, limit(y.cap)));
      }))));
  }

  /* ---- the page ------------------------------------------------------------------------- */

  const toolbar = h('div', {class: 'toolbar'});
  const drawToolbar = () => fill(toolbar,
    platform ? actionButton('New pool', 'orch:governance', () => { clearErrors(); openPoolForm(panel, null, pools.map((p) => p.jobType), refresh); }) : null,
    h('button', {type: 'button', onclick: () => { clearErrors(); refresh(); }}, 'Refresh'),
    platform ? scopeNote('orch:governance', 'pool changes') : null);
  drawToolbar();
  root.append(h('h1', {}, 'Pools'),
    h('p', {class: 'lead'}, platform
      ? 'Each job type\'s capacity shared by all tenants; every acquire and lease needs room in both the tenant\'s quota and the pool.'
      : 'The platform shares each pool\'s capacity among tenants; your jobs of that type need room in both your quota and your entitlement here.'),
    toolbar, panel, listSlot);
  await refresh();
  timer = setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      clear(panel);
    },
    rescope() {
      draw();
      drawToolbar();
    },
  };
}
