// Smoke test of the console's browser tests: Debian's chromium, driven by playwright-core,
// against a real `jobengine serve` (harness.mjs). If this fails, the other console tests mean
// nothing: it says whether the browser, the server or the console page is at fault.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { TEST_TIMEOUT, useConsole, waitForText } from './harness.mjs';

describe('console smoke', () => {
  const je = useConsole({ name: 'console-smoke' });

  it('the browser loads a document of the real server and the test reads it', { timeout: TEST_TIMEOUT }, async () => {
    const page = await je.newPage();
    const resp = await page.goto(je.url + '/.well-known/openapi');
    assert.equal(resp.status(), 200, 'GET /.well-known/openapi');
    const doc = await resp.json();
    assert.match(String(doc.openapi), /^3\./, 'an OpenAPI 3 document');
    assert.ok(doc.paths && doc.paths['/jobengine/quotas'], 'it describes /jobengine/quotas');
    // What the browser shows is that document.
    await waitForText(page.locator('body'), '"openapi"');
    const file = await je.shot(page, 'smoke-openapi');
    assert.ok(fs.statSync(file).size > 1000, `a screenshot was written: ${file}`);
  });

  it('a page of the server calls the API with a token the harness got, and sees what it arranged', { timeout: TEST_TIMEOUT }, async () => {
    const quota = await je.createQuota({ jobType: 'smoke.scan', maxActive: 7 }, { reason: 'smoke test' });
    await je.submitJobs('smoke.scan', 2);
    const token = await je.token('viewer');
    const page = await je.newPage();
    await page.goto(je.url + '/readyz');
    // fetch from inside the page: same origin, bearer token, as the console does.
    const seen = await page.evaluate(async (tok) => {
      const r = await fetch('/jobengine/quotas', { headers: { Authorization: 'Bearer ' + tok } });
      return { status: r.status, body: await r.json() };
    }, token);
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    const mine = seen.body.items.find((q) => q.quotaId === quota.quotaId);
    assert.ok(mine, `the quota arranged is listed: ${JSON.stringify(seen.body)}`);
    assert.equal(mine.maxActive, 7);
    assert.equal(mine.usage.pending, 2, 'the two jobs submitted are pending');
    assert.deepEqual(page.je.apiResponses.map((r) => [r.path, r.status]), [['/jobengine/quotas', 200]]);
  });

  it('the harness records a failing asset, a page error and a CSP violation', { timeout: TEST_TIMEOUT }, async () => {
    const page = await je.newPage({ allow: [/./] }); // all expected here; checked below
    await page.route('**/csp-probe', (route) => route.fulfill({
      status: 200,
      headers: { 'Content-Type': 'text/html', 'Content-Security-Policy': "default-src 'self'" },
      body: '<!doctype html><title>probe</title><script>inline()</script>' +
            '<img src="/no-such-asset.png"><p>probe</p>',
    }));
    await page.goto(je.url + '/csp-probe');
    await page.evaluate(() => setTimeout(() => { throw new Error('boom from the page'); }, 0));
    const deadline = Date.now() + 5000;
    const seen = () => page.je.problems.join('\n');
    while (!(/CSP violation/.test(seen()) && /asset answered 404/.test(seen()) && /boom/.test(seen()))) {
      assert.ok(Date.now() < deadline, `not every problem was recorded:\n${seen()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    page.je.allow.length = 0;
    assert.ok(je.problems(page).length >= 3);
    assert.throws(() => je.assertNoProblems(page), /CSP violation/);
    page.je.allowProblem(/./); // afterEach: nothing unexpected left
  });

  it('GET /console/ is served with its CSP and loads without a console error', { timeout: TEST_TIMEOUT }, async () => {
    const page = await je.newPage();
    const resp = await page.goto(je.url + '/console/');
    assert.equal(resp.status(), 200, 'GET /console/');
    const csp = resp.headers()['content-security-policy'];
    assert.ok(csp, 'the console page has a Content-Security-Policy header');
    assert.match(csp, /default-src 'self'/);
    await page.waitForLoadState('load');
    assert.equal(await page.title() !== '', true, 'the page has a title');
    await je.shot(page, 'smoke-console');
    je.assertNoProblems(page);
  });

  it('sign in with the admin client: #who shows the client id and tenant', { timeout: TEST_TIMEOUT }, async () => {
    const admin = je.clients.admin;
    const page = await je.newPage();
    await page.goto(je.url + '/console/');
    const form = page.getByRole('form', { name: 'Sign in' });
    await form.getByLabel('Client ID').fill(admin.id);
    await form.getByLabel('Client secret').fill(admin.secret);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await waitForText(page.locator('#who'), admin.id);
    await waitForText(page.locator('#who'), admin.tenant);
    await page.getByRole('navigation', { name: 'Sections' }).waitFor();
    await je.shot(page, 'smoke-signed-in');
    je.assertNoProblems(page);
  });
});
