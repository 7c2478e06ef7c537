// Who may do what in the console, in a real browser against a real server (harness.mjs): actions
// a token cannot take are left out or disabled with the reason; a pasted token does exactly what
// its scopes allow; a client of two tenants picks one and sees only that tenant; refusals of the
// Authority are shown; nothing survives a reload or sign-out. Also the jobs page (attempts and
// last error), a phone-width screen and keyboard-only use.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OTHER_TENANT, TEST_TIMEOUT, TENANT, useConsole, waitForText } from './harness.mjs';

async function signInForm(page, je, id, secret) {
  await page.goto(je.url + '/console/');
  await page.getByLabel('Client ID').fill(id);
  await page.getByLabel('Client secret').fill(secret);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

describe('console access', () => {
  const je = useConsole({ name: 'console-access' });

  it('a viewer is refused orch:quota by the Authority; then the page offers no quota change and says why', { timeout: TEST_TIMEOUT }, async () => {
    await je.createQuota({ jobType: 'view.me' });
    const page = await je.newPage({ label: 'viewer' });
    await signInForm(page, je, je.clients.viewer.id, je.clients.viewer.secret);
    await page.getByRole('heading', { name: 'Quotas', level: 1 }).waitFor();
    await page.locator('tr[data-job-type="view.me"]').waitFor();
    await page.getByRole('button', { name: 'Pause view.me' }).click();
    const dlg = page.getByRole('dialog');
    await dlg.getByLabel('Reason', { exact: true }).fill('just looking');
    await dlg.getByRole('button', { name: 'Continue' }).click();
    await waitForText(page.locator('#errors'), 'invalid_scope:');
    await waitForText(page.locator('.toolbar .why'), `the Authority refuses orch:quota to ${je.clients.viewer.id}`);
    assert.equal(await page.getByRole('button', { name: 'New quota' }).isDisabled(), true);
    assert.equal(await page.getByRole('button', { name: /^(Adjust|Pause|Resume|Delete) view\.me$/ }).count(), 0,
                 'no row action is offered');
    const q = (await je.api('GET', '/jobengine/quotas?jobType=view.me', { token: await je.token('viewer') })).body.items[0];
    assert.equal(q.paused, false, 'nothing changed');
    assert.ok(page.je.apiResponses.every((r) => !r.path.includes('/pause')), 'no pause was even sent');
  });

  it('a pasted read token: its client and tenant shown, every change disabled with the reason', { timeout: TEST_TIMEOUT }, async () => {
    const token = await je.token('admin', { scope: 'orch:read' });
    const page = await je.newPage({ label: 'pasted' });
    await page.goto(je.url + '/console/');
    await page.getByLabel('Access token').fill(token);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.getByRole('heading', { name: 'Quotas', level: 1 }).waitFor();
    await waitForText(page.locator('#who'), `${je.clients.admin.id} · tenant ${TENANT}`);
    await waitForText(page.locator('#who'), 'pasted token');
    assert.equal(await page.getByRole('button', { name: 'New quota' }).isDisabled(), true);
    await waitForText(page.locator('.toolbar .why'), 'needs orch:quota, which this pasted token does not hold');
    await page.getByRole('link', { name: 'Backfills' }).click();
    assert.equal(await page.getByRole('button', { name: 'Preview' }).isDisabled(), true);
    await waitForText(page.locator('form .why'), 'needs orch:backfill');
    // A pasted elevated token shows its own reason in the banner.
    const elevated = await je.token('admin', { scope: 'orch:quota', reason: 'pasted with a reason', ticket: 'CHG-7' });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Access token').fill(elevated);
    await page.getByRole('button', { name: 'Use token' }).click();
    await waitForText(page.locator('#elevations'), 'pasted with a reason');
    await waitForText(page.locator('#elevations'), 'CHG-7');
    assert.equal(await page.getByRole('button', { name: 'New quota' }).isDisabled(), false);
  });

  it('a client of two tenants picks one from the list the Authority gives, and sees only that tenant', { timeout: TEST_TIMEOUT }, async () => {
    await je.createQuota({ jobType: 'acme.only' });
    await je.createQuota({ jobType: 'globex.only' }, { as: 'multi', tenant: OTHER_TENANT });
    const page = await je.newPage({ label: 'multi' });
    await signInForm(page, je, je.clients.multi.id, je.clients.multi.secret);
    await waitForText(page.getByRole('alert').first(), 'invalid_request:');
    const pick = page.getByLabel('Tenant');
    const options = await pick.locator('option').allTextContents();
    assert.deepEqual(options, [TENANT, OTHER_TENANT].sort());
    await pick.selectOption(OTHER_TENANT);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Quotas', level: 1 }).waitFor();
    await waitForText(page.locator('#who'), `tenant ${OTHER_TENANT}`);
    await page.locator('tr[data-job-type="globex.only"]').waitFor();
    assert.equal(await page.locator('tr[data-job-type="acme.only"]').count(), 0, "the other tenant's quota is not shown");
  });

  it('a wrong secret shows the Authority refusal; a reload and sign-out forget the session', { timeout: TEST_TIMEOUT }, async () => {
    const page = await je.newPage({ label: 'sign-in' });
    await signInForm(page, je, je.clients.admin.id, 'not-the-secret-at-all-but-long-enough');
    await waitForText(page.getByRole('alert').first(), 'invalid_client:');
    assert.equal(await page.getByRole('navigation', { name: 'Sections' }).isVisible(), false);
    await page.getByLabel('Client secret').fill(je.clients.admin.secret);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Quotas', level: 1 }).waitFor();
    await page.reload();
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    await signInForm(page, je, je.clients.admin.id, je.clients.admin.secret);
    await page.getByRole('heading', { name: 'Quotas', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    await page.goto(je.url + '/console/#/audit');
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
  });

  it("jobs: counts by type and status; a failed job's attempts and last error", { timeout: TEST_TIMEOUT }, async () => {
    const [job] = await je.submitJobs('build.fail', 1, { payload: { repo: 'x' } });
    await je.submitJobs('build.fail', 2);
    const wt = await je.token('operator', { scope: 'orch:jobs' });
    const l = await je.api('POST', '/jobengine/jobs/lease', { token: wt, body: { jobTypes: ['build.fail'], workerId: 'w', max: 1 } });
    assert.equal(l.body.jobs[0].jobId, job.jobId);
    const f = await je.api('POST', `/jobengine/jobs/${job.jobId}/complete`,
                           { token: wt, body: { leaseId: l.body.jobs[0].leaseId, status: 'failed', error: 'exit status 2: disk full' } });
    assert.equal(f.status, 200, JSON.stringify(f.body));
    const page = await je.newPage({ label: 'jobs' });
    await signInForm(page, je, je.clients.viewer.id, je.clients.viewer.secret);
    await page.getByRole('link', { name: 'Jobs' }).click();
    const sum = page.locator('tr[data-job-type="build.fail"]');
    await waitForText(sum.locator('[data-k="pending"]'), '3');
    const r = page.locator(`tr[data-job-id="${job.jobId}"]`);
    await waitForText(r, '1 of 3');
    await waitForText(r, 'exit status 2: disk full');
    await page.getByRole('button', { name: `Show job ${job.jobId}` }).click();
    const detail = page.getByRole('region', { name: `Job ${job.jobId}` });
    await waitForText(detail, 'Attempts1 of 3');
    await waitForText(detail, 'Last errorexit status 2: disk full');
    await waitForText(detail.locator('pre'), '"repo": "x"');
    await je.shot(page, 'console-jobs', { fullPage: true });
  });

  it('a phone-width screen: no sideways scrolling, tables as cards; keyboard only: sign in and move between pages', { timeout: TEST_TIMEOUT }, async () => {
    await je.createQuota({ jobType: 'phone.check' });
    const page = await je.newPage({ label: 'phone', viewport: { width: 390, height: 844 } });
    await page.goto(je.url + '/console/');
    // The client id field has focus on arrival; Enter submits.
    await page.keyboard.type(je.clients.admin.id);
    await page.keyboard.press('Tab');
    await page.keyboard.type(je.clients.admin.secret);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Quotas', level: 1 }).waitFor();
    await page.locator('tr[data-job-type="phone.check"]').waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page fits the screen (scrollWidth ${width})`);
    const label = await page.locator('tr[data-job-type="phone.check"] td').first()
      .evaluate((td) => getComputedStyle(td, '::before').content);
    assert.equal(label, '"Active"', "each value is shown under its column's name");
    await je.shot(page, 'console-phone-quotas', { fullPage: true });
    // Focus is on the page's content after navigation; the sections are just before it.
    let onLink = false;
    for (let i = 0; i < 15 && !onLink; i++) {
      await page.keyboard.press('Shift+Tab');
      onLink = await page.evaluate(() => document.activeElement?.textContent === 'Backfills');
    }
    assert.ok(onLink, 'the Backfills link is reachable with the keyboard');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Backfills', level: 1 }).waitFor();
  });
});
