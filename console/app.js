/* console/app.js: the operator console's entry point. Hash routes (#/quotas, #/backfills,
 * #/jobs, #/pools, #/audit), the header, and the banner of live elevated tokens with their
 * reasons. The platform (tenant _system) runs no work of its own: it gets Pools and Audit. */
import {clear, countdown, fill, h} from './dom.js';
import * as session from './session.js';
import {clearErrors} from './ui.js';
import {renderSignIn} from './views/signin.js';
import {renderQuotas} from './views/quotas.js';
import {renderBackfills} from './views/backfills.js';
import {renderJobs} from './views/jobs.js';
import {renderAudit} from './views/audit.js';
import {PLATFORM_TENANT, renderPools} from './views/pools.js';

const ROUTES = {
  quotas: {title: 'Quotas', render: renderQuotas, tenantOnly: true},
  backfills: {title: 'Backfills', render: renderBackfills, tenantOnly: true},
  jobs: {title: 'Jobs', render: renderJobs, tenantOnly: true},
  pools: {title: 'Pools', render: renderPools},
  audit: {title: 'Audit', render: renderAudit},
};

const isPlatform = () => session.signedIn() && session.who().tenant === PLATFORM_TENANT;

/* The routes of the signed-in tenant, in the nav's order. */
function routes() {
  return Object.entries(ROUTES).filter(([, r]) => !(r.tenantOnly && isPlatform()));
}

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const whoEl = document.getElementById('who');
const banner = document.getElementById('elevations');

let current = null; /* {name, view: {refresh?, tick?, stop?}} */

/* ---- the frame ---------------------------------------------------------------------------- */

function renderHeader() {
  clear(whoEl);
  clear(nav);
  if (!session.signedIn()) {
    nav.hidden = true;
    return;
  }
  const w = session.who();
  const active = routeName();
  for (const [name, r] of routes())
    nav.append(h('a', {href: `#/${name}`, 'aria-current': name === active ? 'page' : undefined}, r.title));
  nav.hidden = false;
  fill(whoEl, h('span', {class: 'client'}, w.clientId), ' · tenant ', h('span', {class: 'tenant'}, w.tenant || '—'),
    w.pasted ? h('span', {class: 'tag'}, 'pasted token') : null,
    h('button', {type: 'button', class: 'link', onclick: () => { session.signOut(); location.hash = ''; }}, 'Sign out'));
}

function renderBanner() {
  clear(banner);
  for (const e of session.elevations()) {
    banner.append(h('div', {class: 'elevation'},
      h('strong', {}, e.scope), ' reason: ', h('q', {class: 'reason-text'}, e.reason || '—'),
      e.ticket ? [' ticket ', h('span', {class: 'ticket'}, e.ticket)] : null,
      ' · token ', h('code', {title: 'token id (jti)'}, (e.jti || '').slice(0, 13)),
      ' · expires in ', h('span', {class: 'countdown', 'data-until': e.exp}, countdown(e.exp)),
      e.pasted ? null : h('button', {type: 'button', class: 'link', onclick: () => session.dropElevation(e.scope)}, 'Drop')));
  }
}

function routeName() {
  const m = /^#\/([a-z]+)/.exec(location.hash);
  const ok = new Set(routes().map(([name]) => name));
  return m && ok.has(m[1]) ? m[1] : isPlatform() ? 'pools' : 'quotas';
}

async function render() {
  if (current && current.view && current.view.stop) current.view.stop();
  current = null;
  clearErrors();
  renderHeader();
  renderBanner();
  clear(main);
  if (!session.signedIn()) {
    document.title = 'Sign in · JobEngine console';
    renderSignIn(main);
    return;
  }
  const name = routeName();
  const r = ROUTES[name];
  document.title = `${r.title} · ${session.who().tenant || ''} · JobEngine console`;
  main.append(h('p', {id: 'notice', class: 'notice', role: 'status'}));
  current = {name, view: null};
  const me = current;
  const view = await r.render(main);
  if (me === current) current.view = view;
  main.focus({preventScroll: true});
}

/* Once a second: countdowns move, expired elevations leave the banner. */
function tick() {
  const now = Date.now();
  let expired = false;
  for (const el of document.querySelectorAll('.countdown[data-until]')) {
    const until = Number(el.dataset.until);
    el.textContent = countdown(until, now);
    if (until <= now && el.closest('#elevations')) expired = true;
  }
  if (expired) renderBanner();
  if (current && current.view && current.view.tick) current.view.tick(now);
}

session.onChange(() => {
  const wasSignedIn = current !== null;
  if (session.signedIn() !== wasSignedIn) render();
  else {
    renderHeader();
    renderBanner();
    if (current && current.view && current.view.rescope) current.view.rescope();
  }
});
window.addEventListener('hashchange', render);
setInterval(tick, 1000);
render();
