/* console/api.js: every call the console makes, to the public API only, with a bearer token.
 * Failures become ApiError with the server's code and message, never swallowed. */

export class ApiError extends Error {
  constructor(status, code, message, details, traceId) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.traceId = traceId || null;
  }
}

async function parse(res) {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function failure(res, body) {
  const trace = res.headers.get('X-Trace-Id');
  if (body && typeof body === 'object') {
    if (body.error && typeof body.error === 'object') {
      const e = body.error;
      return new ApiError(res.status, e.code, e.message, e.details, e.trace_id || trace);
    }
    if (typeof body.error === 'string') /* the Authority's RFC 6749 form */
      return new ApiError(res.status, body.error, body.error_description || '', body, trace);
  }
  return new ApiError(res.status, `HTTP_${res.status}`, res.statusText || 'request failed', {}, trace);
}

/* A JobEngine call: resolves to {status, body, headers}; rejects with ApiError on 4xx/5xx or
 * when the server cannot be reached. */
export async function call(method, path, {token, body, headers = {}, raw = false} = {}) {
  const h = {...headers};
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit'});
  } catch (e) {
    throw new ApiError(0, 'UNREACHABLE', `the server did not answer (${e.message})`);
  }
  if (raw && res.ok) return {status: res.status, body: await res.text(), headers: res.headers};
  const parsed = await parse(res);
  if (!res.ok) throw failure(res, parsed);
  return {status: res.status, body: parsed, headers: res.headers};
}

/* POST /token (client credentials in the form, RFC 6749 §4.4). params: scope, tenant, reasons. */
export async function requestToken(clientId, secret, params) {
  const form = new URLSearchParams({grant_type: 'client_credentials', client_id: clientId, client_secret: secret});
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') form.set(k, v);
  let res;
  try {
    res = await fetch('/token', {method: 'POST', body: form, cache: 'no-store', credentials: 'omit'});
  } catch (e) {
    throw new ApiError(0, 'UNREACHABLE', `the server did not answer (${e.message})`);
  }
  const body = await parse(res);
  if (!res.ok) throw failure(res, body);
  return body;
}

/* The claims of a JWT, read without verifying it (the server verifies; the console only uses
 * them to label the page and hide what the token cannot do). null when it is not a JWT. */
export function claimsOf(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

export function q(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : '';
}
