// Shared harness of the console's end-to-end tests (tests/console/README.md).
//
// Every test here drives Debian's chromium (playwright-core, executablePath, headless, a fresh
// profile) against a REAL `jobengine serve` on a free loopback port with a fresh SQLite store,
// over real HTTP. It is the browser-side sibling of tests/api/harness.py.
//
// Environment (set by ctest, see CMakeLists.txt; the defaults suit a run by hand from the repo):
//   JOBENGINE_BIN      the binary (default build/jobengine)
//   JE_TEST_TMP        per-test data directories (default build/test-tmp)
//   JE_BUILD_DIR       screenshots go to $JE_BUILD_DIR/console-shots/NAME.png (default build)
//   JE_TEST_SANITIZED  "1" when the binary is an ASan + UBSan build: every wait is longer
//   JE_CHROMIUM        the browser (default /usr/bin/chromium)
//   JE_HEADED          "1": show the browser (needs a display; for debugging by hand)
//
// Use, in a test file:
//   import { describe, it } from 'node:test';
//   import { useConsole, waitForText } from './harness.mjs';
//   describe('quotas', () => {
//     const je = useConsole();          // before: server + browser; after: stop both, check them
//     it('...', async () => {
//       const page = await je.newPage();
//       await page.goto(je.url + '/console/');
//       await je.shot(page, 'quotas');
//     });
//   });
//
// What `je` gives (filled in by the `before` hook useConsole registers):
//   je.url                 the server's base URL, http://127.0.0.1:PORT
//   je.clients             {admin, operator, viewer, multi, otherOperator, platform}:
//                          {id, secret, tenant, tenants, roles} (multi acts for two tenants,
//                          acme and globex; otherOperator for globex; platform, role
//                          Orch.PlatformAdmin, for _system; the others for acme)
//   je.newPage(opts)       a page in a fresh browser context (1280x800 unless opts.viewport)
//                          recording every console error, page error, failed request, asset
//                          answered >= 400, any 5xx, and CSP violation; the test fails on any
//                          not matched by opts.allow (regexps) or page.je.allow(re). The API's
//                          answers are in page.je.apiResponses ({method, path, status}).
//   je.problems(page)      the unexpected problems recorded so far (strings)
//   je.assertNoProblems(page)  throws now if there are any (afterEach does it for every page)
//   je.shot(page, name)    writes $JE_BUILD_DIR/console-shots/NAME.png; returns the path
//   je.api(method, path, {token, body, headers})   -> {status, headers, body (JSON or text)}
//   je.token(client, {scope, tenant, reason, ticket})  an access token (throws when refused)
//   je.createQuota(fields, {as, tenant, reason, ticket})  POST /jobengine/quotas -> the quota
//   je.submitJobs(jobType, n, {as, tenant, payload})      POST /jobengine/jobs n times -> jobs
//   je.server              the Server (log(), dir, store, stop())
//   je.browser             the playwright Browser
//   je.timeout(ms)         ms scaled for the build (x3 under ASan)

import { after, afterEach, before } from 'node:test';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const BIN = process.env.JOBENGINE_BIN || path.join(REPO, 'build', 'jobengine');
export const TMP = process.env.JE_TEST_TMP || path.join(REPO, 'build', 'test-tmp');
export const BUILD_DIR = process.env.JE_BUILD_DIR || path.join(REPO, 'build');
export const SHOTS = path.join(BUILD_DIR, 'console-shots');
export const SANITIZED = process.env.JE_TEST_SANITIZED === '1';
export const CHROMIUM = process.env.JE_CHROMIUM || '/usr/bin/chromium';

/** ms scaled for the build: ASan + UBSan makes the server several times slower. */
export function scaled(ms) {
  return SANITIZED ? ms * 3 : ms;
}

// Playwright's default per-action wait (30 s) is too long for a test to fail clearly; a test
// that needs longer passes its own timeout to the call.
export const ACTION_TIMEOUT = scaled(10_000);
// For node's test runner: it('...', { timeout: TEST_TIMEOUT }, fn). ctest's own TIMEOUT is
// larger, so a stuck test fails here and the after hooks still stop the server and the browser.
export const TEST_TIMEOUT = scaled(60_000);

export const TENANT = 'acme';
export const OTHER_TENANT = 'globex';
export const PLATFORM_TENANT = '_system';

const CLIENTS = {
  admin: { id: 'console-admin', tenants: [TENANT], roles: ['Orch.Admin'] },
  operator: { id: 'console-operator', tenants: [TENANT], roles: ['Orch.Operator'] },
  viewer: { id: 'console-viewer', tenants: [TENANT], roles: ['Orch.Viewer'] },
  multi: { id: 'console-multi', tenants: [TENANT, OTHER_TENANT], roles: ['Orch.Admin'] },
  // the other tenant's worker side (acquire, lease: orch:jobs)
  otherOperator: { id: 'console-globex-operator', tenants: [OTHER_TENANT], roles: ['Orch.Operator'] },
  // the platform administrator: capacity pools (orch:governance), its own audit chain
  platform: { id: 'console-platform', tenants: [PLATFORM_TENANT], roles: ['Orch.PlatformAdmin'] },
};

// ------------------------------------------------------------------------------------------------
// playwright-core, installed by scripts/console_deps.sh into tests/console/node_modules

async function loadChromium() {
  try {
    return (await import('playwright-core')).chromium;
  } catch (e) {
    throw new Error('playwright-core is not installed in tests/console/node_modules: run ' +
                    'bash scripts/console_deps.sh (make test does)\n' + e.message);
  }
}

// ------------------------------------------------------------------------------------------------
// Small helpers

/** A free loopback port: bind port 0, read it, close (the server binds it again). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function randomSecret() {
  return 'console-test-' + crypto.randomBytes(24).toString('hex'); // 61 characters
}

/** The environment of a child process: no JOBENGINE_* / STELLAOPS_* settings leak in. */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('JOBENGINE_') && !k.startsWith('STELLAOPS_')) env[k] = v;
  }
  return env;
}

/**
 * Polls locator's text until it matches (a string it must contain, or a RegExp); returns the
 * text. Fails with the last text seen, so a test says what it saw instead of hanging.
 */
export async function waitForText(locator, expected, { timeout = ACTION_TIMEOUT } = {}) {
  const deadline = Date.now() + timeout;
  let last = null;
  for (;;) {
    try {
      last = await locator.first().textContent({ timeout: Math.max(1, deadline - Date.now()) });
    } catch (e) {
      if (Date.now() >= deadline) {
        throw new Error(`waited ${timeout} ms for ${locator} to show ${expected}: ` +
                        `it never appeared (${e.message.split('\n')[0]})`);
      }
    }
    const ok = expected instanceof RegExp ? expected.test(last ?? '') : (last ?? '').includes(expected);
    if (ok) return last;
    if (Date.now() >= deadline) {
      throw new Error(`waited ${timeout} ms for ${locator} to show ${expected}; ` +
                      `it shows ${JSON.stringify(last)}`);
    }
    await sleep(100);
  }
}

// ------------------------------------------------------------------------------------------------
// The server

const servers = new Set(); // every server started, killed on an abrupt exit (below)

export class Server {
  constructor({ name = 'console', args = [] } = {}) {
    fs.mkdirSync(TMP, { recursive: true });
    this.dir = fs.mkdtempSync(path.join(TMP, name + '-'));
    this.store = 'sqlite:' + path.join(this.dir, 'jobengine.db');
    this.logPath = path.join(this.dir, 'server.stderr.log');
    this.outPath = path.join(this.dir, 'server.stdout.log');
    this.args = args;
    this.proc = null;
    this.exit = null; // {code, signal} once it ended
    this.port = null;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `jobengine client add` on the store, before the server starts. */
  addClient(id, tenants, roles, secret) {
    const args = ['client', 'add', id];
    for (const t of tenants) args.push('--tenant', t);
    for (const r of roles) args.push('--role', r);
    args.push('--secret', secret, '--store', this.store, '--json');
    let out;
    try {
      out = execFileSync(BIN, args, { env: cleanEnv(), encoding: 'utf8', timeout: scaled(30_000),
                                      stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new Error(`jobengine ${args.join(' ')} failed (exit ${e.status}): ${e.stderr || e.message}`);
    }
    const js = JSON.parse(out);
    if (js.clientId !== id || js.clientSecret !== secret) {
      throw new Error(`client add --json printed ${out}`);
    }
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  alive() {
    return this.proc !== null && this.exit === null;
  }

  async start({ timeout = scaled(20_000) } = {}) {
    for (let attempt = 0; ; attempt++) {
      this.port = await freePort();
      try {
        await this._startOnce(timeout);
        return;
      } catch (e) {
        // The port may have been taken between freePort() and bind: try another.
        if (attempt < 2 && /in use|EADDRINUSE/i.test(e.message)) continue;
        throw e;
      }
    }
  }

  async _startOnce(timeout) {
    servers.add(this);
    const cmd = ['serve', '--listen', `127.0.0.1:${this.port}`, '--store', this.store, ...this.args];
    const err = fs.openSync(this.logPath, 'a');
    const out = fs.openSync(this.outPath, 'a');
    const logStart = fs.fstatSync(err).size;
    try {
      this.exit = null;
      this.proc = spawn(BIN, cmd, { stdio: ['ignore', out, err], env: cleanEnv() });
    } finally {
      fs.closeSync(err);
      fs.closeSync(out);
    }
    const proc = this.proc;
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      proc.on('error', (e) => {
        this.exit = { code: null, signal: null, error: e };
        resolve(this.exit);
      });
    });
    const since = () => this.log().slice(logStart);
    const deadline = Date.now() + timeout;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (this.exit !== null) {
        throw new Error(`jobengine serve exited (${JSON.stringify(this.exit)}) before it was ` +
                        `ready\n${since()}`);
      }
      try {
        const r = await fetch(this.url + '/readyz', { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        if (r.status === 200) return;
        last = `GET /readyz answered ${r.status}`;
      } catch (e) {
        last = e.cause?.code || e.message;
      }
      await sleep(50);
    }
    await this.kill();
    throw new Error(`jobengine serve was not ready within ${timeout} ms (${last})\n${since()}`);
  }

  async kill() {
    if (this.alive()) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }

  /**
   * SIGTERM, wait, SIGKILL after timeout. Throws when the server did not end with exit 0 of its
   * own accord, or its log holds a sanitizer report, or it died before we stopped it.
   */
  async stop({ timeout = scaled(15_000) } = {}) {
    if (this.proc === null) return;
    const diedEarlier = this.exit !== null ? this.exit : null;
    let killed = false;
    if (this.alive()) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => {
        killed = true;
        this.proc.kill('SIGKILL');
      }, timeout);
      await this.exited;
      clearTimeout(t);
    }
    const log = this.log();
    const problems = [];
    if (diedEarlier) problems.push(`the server died under the tests: ${JSON.stringify(diedEarlier)}`);
    else if (killed) problems.push(`the server did not stop within ${timeout} ms of SIGTERM (killed)`);
    else if (this.exit.code !== 0) problems.push(`the server ended with ${JSON.stringify(this.exit)}`);
    if (/Sanitizer|runtime error:/.test(log)) problems.push('the server log holds a sanitizer report');
    if (problems.length) {
      throw new Error(problems.join('; ') + `\n----- server log (${this.logPath}), last 6000 ` +
                      `characters -----\n${log.slice(-6000)}\n----- end of server log -----`);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// The page's problems

const API_PATH = /^\/(jobengine\/|token$|introspect$|revoke$|jwks$|\.well-known\/)/;

function watchPage(page, allow) {
  const rec = {
    problems: [], // every problem seen, as strings
    allow: [...allow],
    apiResponses: [], // {method, path, status} of the API calls the page made
    allowProblem(re) {
      rec.allow.push(re);
    },
  };
  const add = (what) => rec.problems.push(what);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    // Chromium logs every answer >= 400 as "Failed to load resource": those are judged from the
    // response itself below (an API refusal the console shows is no problem; a missing asset is).
    if (/^Failed to load resource: the server responded with a status of/.test(msg.text())) return;
    const loc = msg.location();
    add(`console error: ${msg.text()}` + (loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''));
  });
  page.on('pageerror', (e) => add(`page error: ${e.stack || e.message}`));
  page.on('requestfailed', (req) => {
    // ERR_ABORTED: the page gave the request up itself (a reload or a navigation cancels what
    // is in flight); every other failure is the server's or the network's.
    if (req.failure()?.errorText === 'net::ERR_ABORTED') return;
    add(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });
  page.on('response', (resp) => {
    let u;
    try {
      u = new URL(resp.url());
    } catch {
      return;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return;
    const status = resp.status();
    const method = resp.request().method();
    if (API_PATH.test(u.pathname)) {
      rec.apiResponses.push({ method, path: u.pathname + u.search, status });
      if (status >= 500) add(`API answered ${status}: ${method} ${u.pathname}${u.search}`);
    } else if (status >= 400) {
      add(`asset answered ${status}: ${method} ${u.pathname}${u.search}`);
    }
  });
  page.on('crash', () => add('the page crashed'));
  return rec;
}

// In the page (before its own scripts; the CDP injection is not subject to its CSP): report
// every CSP violation to the harness through a binding.
const CSP_PROBE = `document.addEventListener('securitypolicyviolation', (e) => {
  window.__jeCspViolation({ directive: e.violatedDirective, blocked: e.blockedURI,
                            source: e.sourceFile, line: e.lineNumber, sample: e.sample });
}, true);`;

// ------------------------------------------------------------------------------------------------
// useConsole: one server and one browser for a describe block

/**
 * Registers before/afterEach/after hooks in the calling describe block (or file) and returns
 * the `je` object they fill in (see the top of this file).
 * opts.serverArgs: more `serve` arguments; opts.name: the data dir's prefix.
 */
export function useConsole(opts = {}) {
  const je = {
    url: null,
    clients: {},
    server: null,
    browser: null,
    timeout: scaled,
  };
  let pagesOfTest = [];
  let failed = false;

  before(async () => {
    je.server = new Server({ name: opts.name || 'console', args: opts.serverArgs || [] });
    for (const [key, c] of Object.entries(CLIENTS)) {
      const client = { ...c, tenant: c.tenants[0], secret: randomSecret() };
      je.server.addClient(client.id, client.tenants, client.roles, client.secret);
      je.clients[key] = client;
    }
    await je.server.start();
    je.url = je.server.url;
    const chromium = await loadChromium();
    const args = ['--disable-dev-shm-usage'];
    if (process.getuid && process.getuid() === 0) args.push('--no-sandbox'); // root: no sandbox
    // launch() gives the browser a fresh temporary profile, removed when it closes.
    je.browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: process.env.JE_HEADED !== '1',
      args,
      timeout: scaled(30_000),
    });
  }, { timeout: scaled(90_000) });

  afterEach(async (t) => {
    const pages = pagesOfTest;
    pagesOfTest = [];
    const report = [];
    for (const p of pages) {
      const probs = je.problems(p);
      if (probs.length) report.push(`${p.je.label}:\n  ` + probs.join('\n  '));
      await p.context().close().catch(() => {});
    }
    if (t && t.passed === false) failed = true;
    if (je.server && je.server.proc && !je.server.alive()) {
      report.push(`the server died during the test: ${JSON.stringify(je.server.exit)}`);
    }
    if (report.length) {
      failed = true;
      throw new Error('unexpected problems:\n' + report.join('\n'));
    }
  });

  after(async () => {
    const errors = [];
    if (je.browser) await je.browser.close().catch((e) => errors.push(`closing the browser: ${e.message}`));
    if (je.server) {
      try {
        await je.server.stop();
      } catch (e) {
        errors.push(e.message);
      }
      if (failed || errors.length) {
        process.stderr.write(`\n[harness] kept the data dir: ${je.server.dir}\n`);
        if (!errors.length) {
          process.stderr.write(`----- server log, last 4000 characters -----\n` +
                               `${je.server.log().slice(-4000)}\n----- end of server log -----\n`);
        }
      } else {
        fs.rmSync(je.server.dir, { recursive: true, force: true });
      }
    }
    if (errors.length) throw new Error(errors.join('\n'));
  }, { timeout: scaled(60_000) });

  je.newPage = async ({ viewport = { width: 1280, height: 800 }, allow = [], label } = {}) => {
    const context = await je.browser.newContext({ viewport });
    context.setDefaultTimeout(ACTION_TIMEOUT);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT);
    const page = await context.newPage();
    page.je = watchPage(page, allow);
    page.je.label = label || `page ${pagesOfTest.length + 1}`;
    await context.exposeBinding('__jeCspViolation', (_src, v) => {
      page.je.problems.push(`CSP violation: ${JSON.stringify(v)}`);
    });
    await context.addInitScript({ content: CSP_PROBE });
    pagesOfTest.push(page);
    return page;
  };

  je.problems = (page) => page.je.problems.filter((p) => !page.je.allow.some((re) => re.test(p)));

  je.assertNoProblems = (page) => {
    const probs = je.problems(page);
    if (probs.length) throw new Error('unexpected problems in the browser:\n  ' + probs.join('\n  '));
  };

  je.shot = async (page, name, { fullPage = false } = {}) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`bad screenshot name ${name}`);
    fs.mkdirSync(SHOTS, { recursive: true });
    const file = path.join(SHOTS, name + '.png');
    await page.screenshot({ path: file, fullPage });
    return file;
  };

  // -- the API, for arranging state --------------------------------------------------------------
  je.api = async (method, p, { token, body, headers = {} } = {}) => {
    const h = { ...headers };
    if (token) h.Authorization = 'Bearer ' + token;
    let payload = body;
    if (body !== undefined && typeof body !== 'string') {
      payload = JSON.stringify(body);
      h['Content-Type'] ??= 'application/json';
    }
    const r = await fetch(je.url + p, { method, headers: h, body: payload,
                                        signal: AbortSignal.timeout(scaled(15_000)) });
    const text = await r.text();
    let parsed = text;
    if (/json/.test(r.headers.get('content-type') || '') || /^[[{]/.test(text)) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: r.status, headers: r.headers, body: parsed };
  };

  const clientOf = (c) => {
    const client = typeof c === 'string' ? je.clients[c] : c;
    if (!client || !client.id) throw new Error(`no such client ${c}`);
    return client;
  };

  je.token = async (c, { scope = 'orch:read', tenant, reason, ticket } = {}) => {
    const client = clientOf(c);
    const form = new URLSearchParams({ grant_type: 'client_credentials', scope });
    if (tenant) form.set('tenant', tenant);
    else if (client.tenants.length > 1) form.set('tenant', client.tenant);
    const scopes = scope.split(' ');
    for (const [s, prefix] of [['orch:quota', 'quota'], ['orch:backfill', 'backfill'],
                               ['orch:operate', 'operator'], ['orch:governance', 'governance']]) {
      if (!scopes.includes(s)) continue;
      form.set(prefix + '_reason', reason || 'arranged by the console test harness');
      if (ticket) form.set(prefix + '_ticket', ticket);
      else if (s === 'orch:operate') form.set(prefix + '_ticket', 'TEST-0');
    }
    const basic = Buffer.from(encodeURIComponent(client.id) + ':' + encodeURIComponent(client.secret))
      .toString('base64');
    const r = await je.api('POST', '/token', {
      body: form.toString(),
      headers: { Authorization: 'Basic ' + basic, 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    if (r.status !== 200) {
      throw new Error(`POST /token for ${client.id} (${scope}) answered ${r.status}: ${JSON.stringify(r.body)}`);
    }
    return r.body.access_token;
  };

  je.createQuota = async (fields, { as = 'admin', tenant, reason, ticket } = {}) => {
    const token = await je.token(as, { scope: 'orch:quota', tenant, reason, ticket });
    const body = { maxActive: 10, maxPerHour: 1000, burstCapacity: 50, refillPerSecond: 1, ...fields };
    const r = await je.api('POST', '/jobengine/quotas', { token, body });
    if (r.status !== 201) {
      throw new Error(`POST /jobengine/quotas ${JSON.stringify(body)} answered ${r.status}: ${JSON.stringify(r.body)}`);
    }
    return r.body;
  };

  je.submitJobs = async (jobType, n = 1, { as = 'operator', tenant, payload = {} } = {}) => {
    const token = await je.token(as, { scope: 'orch:jobs', tenant });
    const jobs = [];
    for (let i = 0; i < n; i++) {
      const r = await je.api('POST', '/jobengine/jobs', { token, body: { jobType, payload } });
      if (r.status !== 201) {
        throw new Error(`POST /jobengine/jobs (${jobType}) answered ${r.status}: ${JSON.stringify(r.body)}`);
      }
      jobs.push(r.body);
    }
    return jobs;
  };

  return je;
}

// Children must not outlive a test process that ends abruptly (ctest's timeout, ^C):
// playwright closes its browser on exit; the server is killed here.
process.on('exit', () => {
  for (const s of servers) if (s.alive()) s.proc.kill('SIGKILL');
});
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.once(sig, () => {
    for (const s of servers) if (s.alive()) s.proc.kill('SIGKILL');
    process.kill(process.pid, sig);
  });
}
