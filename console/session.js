/* console/session.js: who is signed in and the tokens the console holds, in memory only (never
 * localStorage, sessionStorage or a cookie: a reload signs out). A sign-in with a client id and
 * secret gets an orch:read token; before a change the console asks why and gets the elevated
 * token (orch:quota, orch:backfill) with that reason and ticket, exactly as the CLI does, and
 * keeps it while it lives so the reason stays on the page. */
import {ApiError, claimsOf, requestToken} from './api.js';

/* The token request's reason and ticket parameters of each elevated scope (api.md §2.2). */
export const JUSTIFY = {
  'orch:quota': {reason: 'quota_reason', ticket: 'quota_ticket', ticketRequired: false},
  'orch:backfill': {reason: 'backfill_reason', ticket: 'backfill_ticket', ticketRequired: false},
  'orch:operate': {reason: 'operator_reason', ticket: 'operator_ticket', ticketRequired: true},
  'orch:governance': {reason: 'governance_reason', ticket: 'governance_ticket', ticketRequired: false},
};

const REFRESH_MARGIN_MS = 60_000; /* a read token is renewed this long before it expires */
const ELEVATED_MARGIN_MS = 15_000; /* an elevated token this close to its end is not used */

const s = {
  clientId: null,
  secret: null, /* kept to request elevated tokens; memory only */
  tenant: null,
  main: null, /* {token, exp (ms), scopes: Set, claims} */
  elevated: new Map(), /* scope -> {token, exp, reason, ticket, jti} */
  refused: new Map(), /* scope -> why the Authority refused it to this client */
  listeners: new Set(),
};

function notify() {
  for (const fn of s.listeners) fn();
}

export function onChange(fn) {
  s.listeners.add(fn);
}

function holder(token) {
  const c = claimsOf(token);
  if (!c) throw new ApiError(0, 'INVALID_TOKEN', 'this is not a JWT access token');
  return {token, claims: c, exp: (c.exp || 0) * 1000, scopes: new Set(String(c.scope || '').split(' ').filter(Boolean))};
}

export function signedIn() {
  return s.main !== null;
}

export function who() {
  return {clientId: s.clientId, tenant: s.tenant, pasted: s.secret === null, main: s.main};
}

/* Signs in with client credentials; a client of several tenants must name one. On the
 * Authority's refusal the ApiError carries its error and description (and, for a missing
 * tenant, details.tenants: the tenants this client may act for). */
export async function signIn(clientId, secret, tenant) {
  const r = await requestToken(clientId, secret, {scope: 'orch:read', tenant});
  const m = holder(r.access_token);
  Object.assign(s, {clientId, secret, tenant: m.claims['stellaops:tenant'] || tenant || null, main: m});
  s.elevated.clear();
  s.refused.clear();
  notify();
}

/* Uses a pasted token as it is: the console can then do exactly what its scopes allow. */
export function useToken(token) {
  const m = holder(token.trim());
  if (m.exp && m.exp <= Date.now()) throw new ApiError(0, 'TOKEN_EXPIRED', 'this token has expired');
  Object.assign(s, {clientId: m.claims.client_id || m.claims.sub || '?', secret: null,
    tenant: m.claims['stellaops:tenant'] || null, main: m});
  s.elevated.clear();
  s.refused.clear();
  notify();
}

export function signOut() {
  Object.assign(s, {clientId: null, secret: null, tenant: null, main: null});
  s.elevated.clear();
  s.refused.clear();
  notify();
}

/* The token for reads, renewed with the credentials when close to its end. */
export async function readToken() {
  if (!s.main) throw new ApiError(401, 'UNAUTHORIZED', 'not signed in');
  if (s.main.exp - Date.now() < REFRESH_MARGIN_MS) {
    if (s.secret === null) {
      if (s.main.exp <= Date.now()) {
        signOut();
        throw new ApiError(401, 'TOKEN_EXPIRED', 'the pasted token has expired: sign in again');
      }
    } else {
      const r = await requestToken(s.clientId, s.secret, {scope: 'orch:read', tenant: s.tenant});
      s.main = holder(r.access_token);
    }
  }
  return s.main.token;
}

/* Whether an action needing scope can be offered, and if not, why (shown beside it). */
export function can(scope) {
  if (!s.main) return {ok: false, why: 'not signed in'};
  if (s.main.scopes.has(scope) || live(scope)) return {ok: true};
  if (s.refused.has(scope)) return {ok: false, why: `the Authority refuses ${scope} to ${s.clientId}: ${s.refused.get(scope)}`};
  if (s.secret === null) return {ok: false, why: `needs ${scope}, which this pasted token does not hold; sign in with a client id and secret to be asked for a reason`};
  return {ok: true, asks: true};
}

function live(scope) {
  const e = s.elevated.get(scope);
  return e && e.exp - Date.now() > ELEVATED_MARGIN_MS ? e : null;
}

/* The live elevated tokens, for the banner that shows their reasons (including a pasted
 * token's own elevated scopes). */
export function elevations() {
  const out = [];
  const now = Date.now();
  for (const [scope, e] of s.elevated) if (e.exp > now) out.push({scope, ...e});
  if (s.main && s.secret === null) {
    for (const scope of Object.keys(JUSTIFY)) {
      if (!s.main.scopes.has(scope)) continue;
      const prefix = scope === 'orch:operate' ? 'operator' : scope.slice(5);
      out.push({scope, exp: s.main.exp, reason: s.main.claims[`${prefix}.reason`] || null,
        ticket: s.main.claims[`${prefix}.ticket`] || null, jti: s.main.claims.jti, pasted: true});
    }
  }
  return out;
}

export function dropElevation(scope) {
  s.elevated.delete(scope);
  notify();
}

/* A token holding scope for a change. ask(scope) resolves to {reason, ticket} or null when the
 * operator cancels (then null is returned and nothing is sent). */
export async function changeToken(scope, ask) {
  if (!s.main) throw new ApiError(401, 'UNAUTHORIZED', 'not signed in');
  if (s.main.scopes.has(scope) && s.main.exp - Date.now() > ELEVATED_MARGIN_MS) return s.main.token;
  const e = live(scope);
  if (e) return e.token;
  const c = can(scope);
  if (!c.ok) throw new ApiError(403, 'SCOPE_REQUIRED', c.why);
  const why = await ask(scope);
  if (!why) return null;
  const j = JUSTIFY[scope];
  let r;
  try {
    r = await requestToken(s.clientId, s.secret, {scope, tenant: s.tenant, [j.reason]: why.reason, [j.ticket]: why.ticket});
  } catch (err) {
    if (err.code === 'invalid_scope') {
      s.refused.set(scope, err.message);
      notify();
    }
    throw err;
  }
  const m = holder(r.access_token);
  s.elevated.set(scope, {token: m.token, exp: m.exp, reason: why.reason.trim(), ticket: why.ticket ? why.ticket.trim() : null, jti: m.claims.jti});
  notify();
  return m.token;
}
