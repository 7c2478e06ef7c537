// The operator's flows of issue 14 in a real browser against a real server (harness.mjs): sign in,
// create and adjust a quota with a reason, the 422 over the ceiling, a temporary elevation and its
// live countdown, pause and resume; preview a backfill and run it to completion while watching
// its progress; find both changes in the audit view with their reasons and tickets, the chain
// valid, the export downloaded. Every value the page shows is checked against the API's own
// answer. The screenshots of docs/console.md and the README are written here (build/console-shots).
//
// The tests of this file share one server and run in order: the audit test looks for the changes
// the quota and backfill tests made (each says so when it fails for that reason).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { TEST_TIMEOUT, useConsole, waitForText } from './harness.mjs';

const QUOTA_REASON = 'black friday scan surge';
const QUOTA_TICKET = 'OPS-4411';
const BACKFILL_REASON = 're-ingest after parser fix';
const BACKFILL_TICKET = 'SEC-2231';
const JT = 'scan.image';
const BF_JT = 'advisory.ingest';

const SLOW = { timeout: TEST_TIMEOUT * 2 };

/** Signs in through the form; lands on the quotas page. */
async function signIn(page, je, client, { tenant } = {}) {
  await page.goto(je.url + '/console/');
  await page.getByLabel('Client ID').fill(client.id);
  await page.getByLabel('Client secret').fill(client.secret);
  if (tenant) await page.getByLabel('Tenant').fill(tenant);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Quotas', level: 1 }).waitFor();
}

/** Answers the reason dialog the console opens before it asks for an elevated token. */
async function giveReason(page, reason, ticket) {
  const dlg = page.getByRole('dialog');
  await dlg.waitFor();
  await dlg.getByLabel('Reason', { exact: true }).fill(reason);
  if (ticket) await dlg.getByLabel(/^Ticket/).fill(ticket);
  await dlg.getByRole('button', { name: 'Continue' }).click();
  await dlg.waitFor({ state: 'detached' });
}

async function quotaOf(je, jobType, tenant) {
  const token = await je.token('admin', { tenant });
  const r = await je.api('GET', `/jobengine/quotas?jobType=${encodeURIComponent(jobType)}`, { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.items[0];
}

/** "m:ss" -> seconds */
function seconds(text) {
  const m = /(\d+):(\d\d)/.exec(text);
  assert.ok(m, `a countdown m:ss in ${JSON.stringify(text)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

describe('operator console flows', () => {
  const je = useConsole({ name: 'console-flows' });

  it('quotas: create and adjust with a reason, the 422 over the ceiling, elevation with its countdown, pause and resume', SLOW, async () => {
    await je.submitJobs(JT, 3);
    const page = await je.newPage({ label: 'quotas' });
    await signIn(page, je, je.clients.admin);
    await waitForText(page.locator('#who'), `${je.clients.admin.id} · tenant acme`);

    // Nothing of the session is kept in the browser.
    const kept = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
    assert.deepEqual(kept, [0, 0, ''], 'no token or secret in localStorage, sessionStorage or a cookie');

    // Create: the form shows the ceilings of this job type once it is typed.
    await page.getByRole('button', { name: 'New quota' }).click();
    const form = page.getByRole('form', { name: 'New quota' });
    await form.getByLabel('Job type').fill(JT);
    await form.getByLabel('Job type').press('Tab');
    await waitForText(form.locator('.field', { has: page.getByLabel('maxActive') }), 'policy ceiling 1,000');
    await form.getByLabel('maxActive').fill('10');
    await form.getByLabel('maxPerHour').fill('1000');
    await form.getByLabel('burstCapacity').fill('50');
    await form.getByLabel('refillPerSecond').fill('0.5');
    await form.getByRole('button', { name: 'Create quota' }).click();
    await giveReason(page, QUOTA_REASON, QUOTA_TICKET);

    const row = page.locator(`tr[data-job-type="${JT}"]`);
    await row.waitFor();
    await waitForText(page.locator('#elevations'), QUOTA_REASON);
    await waitForText(page.locator('#elevations'), QUOTA_TICKET);
    let q = await quotaOf(je, JT);
    assert.equal(q.lastReason, QUOTA_REASON, 'the change carries the reason given in the dialog');
    assert.equal(q.lastTicket, QUOTA_TICKET);
    assert.equal(q.maxActive, 10);
    assert.equal(q.refillPerSecond, 0.5);
    // The row shows the same usage the API reports.
    await waitForText(row.locator('td').nth(3), String(q.usage.pending));
    assert.equal(q.usage.pending, 3);
    await waitForText(row, `0 / ${q.maxActive}`);

    // Over the ceiling: the server's 422 in words; nothing changes.
    await page.getByRole('button', { name: `Adjust ${JT}` }).click();
    const adjust = page.getByRole('form', { name: `Adjust quota ${JT}` });
    await adjust.getByLabel('maxActive').fill('5000');
    await waitForText(adjust, 'above the ceiling');
    await adjust.getByRole('button', { name: 'Apply change' }).click();
    const alert = page.locator('#errors');
    await waitForText(alert, 'QUOTA_POLICY_VIOLATION:');
    await waitForText(alert, 'maxActive 5000 is above the policy ceiling 1000');
    await je.shot(page, 'console-quota-ceiling', { fullPage: true });
    q = await quotaOf(je, JT);
    assert.equal(q.maxActive, 10, 'a refused change changes nothing');
    assert.equal(q.version, 1);
    assert.ok(page.je.apiResponses.some((r) => r.method === 'PUT' && r.status === 422), 'the 422 came from the server');

    // A temporary elevation: the row counts down to its revert, live.
    await adjust.getByLabel('maxActive').fill('40');
    await adjust.getByLabel('Revert after (minutes)').fill('2');
    await adjust.getByRole('button', { name: 'Apply change' }).click();
    await waitForText(page.locator('#notice'), `Quota ${JT} adjusted (version 2); reverts at`);
    const elevCell = row.locator('.elev');
    await waitForText(elevCell, 'maxActive 40 (was 10)');
    q = await quotaOf(je, JT);
    assert.equal(q.maxActive, 40);
    assert.ok(q.elevation, 'the API shows the elevation');
    assert.equal(q.elevation.previous.maxActive, 10);
    const left = Date.parse(q.elevation.expiresAt) - Date.now();
    assert.ok(left > 100_000 && left <= 120_000, `expiresAt two minutes ahead (${left} ms)`);
    const first = seconds(await elevCell.textContent());
    assert.ok(Math.abs(first - left / 1000) <= 3, `the countdown (${first} s) matches expiresAt (${left / 1000} s)`);
    await page.waitForTimeout(3000);
    const second = seconds(await elevCell.textContent());
    // The page ticks once a second (a loaded machine may delay a tick): it moved, and not past
    // what the clock allows.
    assert.ok(second < first && second >= first - 5, `the countdown moves by itself: ${first} s, then ${second} s`);
    // Two more job types as an operator would find them: one busy (five of eight slots leased
    // by a worker), one paused with its reason. The page shows the usage the leases made.
    await je.createQuota({ jobType: 'build.linux', maxActive: 8, maxPerHour: 500, burstCapacity: 20 });
    await je.submitJobs('build.linux', 7);
    const wt = await je.token('operator', { scope: 'orch:jobs' });
    const leased = await je.api('POST', '/jobengine/jobs/lease', { token: wt, body: { jobTypes: ['build.linux'], workerId: 'w-7', max: 5 } });
    assert.equal(leased.body.jobs.length, 5, JSON.stringify(leased.body));
    const paused = await je.createQuota({ jobType: 'report.pdf', maxActive: 2 });
    const pt = await je.token('admin', { scope: 'orch:quota', reason: 'renderer leaks memory', ticket: 'INC-311' });
    assert.equal((await je.api('POST', `/jobengine/quotas/${paused.quotaId}/pause`, { token: pt, body: {} })).status, 200);
    await page.getByRole('button', { name: 'Refresh' }).click();
    const busy = page.locator('tr[data-job-type="build.linux"]');
    await waitForText(busy.locator('td').first(), '5 / 8');
    await waitForText(busy.locator('td').nth(3), '2');
    await waitForText(page.locator('tr[data-job-type="report.pdf"] .state'), 'renderer leaks memory');
    assert.equal(await page.getByRole('meter', { name: 'build.linux active: 5 of 8' }).count(), 1, 'the bar is labelled with its numbers');
    await je.shot(page, 'console-quotas');

    // Lowering maxActive below the five running: refused in words until the operator says so.
    await page.getByRole('button', { name: 'Adjust build.linux' }).click();
    const lower = page.getByRole('form', { name: 'Adjust quota build.linux' });
    await lower.getByLabel('maxActive').fill('3');
    await lower.getByRole('button', { name: 'Apply change' }).click();
    await waitForText(page.locator('#errors'), 'QUOTA_DECREASE_BELOW_USAGE:');
    await waitForText(page.locator('#errors'), 'Allow decrease below current usage');
    assert.equal((await quotaOf(je, 'build.linux')).maxActive, 8, 'refused: unchanged');
    await lower.getByLabel('Allow decrease below current usage').check();
    await lower.getByRole('button', { name: 'Apply change' }).click();
    await waitForText(page.locator('#notice'), 'Quota build.linux adjusted');
    await waitForText(busy.locator('td').first(), '5 / 3');
    assert.equal((await quotaOf(je, 'build.linux')).maxActive, 3);

    // Pause shows the reason it was paused for; resume clears it.
    await page.getByRole('button', { name: `Pause ${JT}` }).click();
    await waitForText(row.locator('.state'), 'paused');
    await waitForText(row.locator('.state'), QUOTA_REASON);
    q = await quotaOf(je, JT);
    assert.equal(q.paused, true);
    assert.equal(q.pauseReason, QUOTA_REASON);
    assert.equal(q.pauseTicket, QUOTA_TICKET);
    await page.getByRole('button', { name: `Resume ${JT}` }).click();
    await waitForText(row.locator('.state'), 'granting');
    assert.equal((await quotaOf(je, JT)).paused, false);

    // A stale version: someone else changes the quota after the form was opened.
    await page.getByRole('button', { name: `Adjust ${JT}` }).click();
    const other = await je.token('admin', { scope: 'orch:quota', reason: 'someone else' });
    const put = await je.api('PUT', `/jobengine/quotas/${q.quotaId}`, { token: other, body: { maxPerHour: 900 } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    await adjust.getByLabel('burstCapacity').fill('60');
    await adjust.getByRole('button', { name: 'Apply change' }).click();
    await waitForText(alert, 'VERSION_MISMATCH:');
    await waitForText(alert, 'Someone changed this since the page loaded it');
    assert.equal((await quotaOf(je, JT)).burstCapacity, 50, 'the stale change was not applied');
  });

  it('backfills: the preview shows plan, checks and hash; create binds the hash; run to completion watching progress', SLOW, async () => {
    await je.createQuota({ jobType: BF_JT, maxActive: 4 });
    const page = await je.newPage({ label: 'backfills' });
    await signIn(page, je, je.clients.admin);
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Backfills' }).click();
    await page.getByRole('heading', { name: 'Backfills', level: 1 }).waitFor();

    const body = { sourceId: 'nvd', jobType: BF_JT, windowStart: '2026-11-01T00:00:00.000Z',
                   windowEnd: '2026-11-01T06:00:00.000Z', batchSeconds: 3600, forceReprocess: false };
    await page.getByLabel('Source ID').fill(body.sourceId);
    await page.getByLabel('Job type').fill(body.jobType);
    await page.getByLabel('Window start (UTC)').fill('2026-11-01T00:00:00Z');
    await page.getByLabel('Window end (UTC)').fill('2026-11-01T06:00:00Z');
    await page.getByLabel('Batch seconds').fill('3600');
    await page.getByRole('button', { name: 'Preview' }).click();
    await giveReason(page, BACKFILL_REASON, BACKFILL_TICKET);

    const preview = page.getByRole('region', { name: 'Preview' });
    await preview.waitFor();
    // The same dry run through the API: the page shows its numbers, checks and hash.
    const bt = await je.token('admin', { scope: 'orch:backfill', reason: 'test compares the preview' });
    const api = await je.api('POST', '/jobengine/backfills/preview', { token: bt, body });
    assert.equal(api.status, 200, JSON.stringify(api.body));
    assert.equal(api.body.plan.batches, 6);
    await waitForText(preview.locator('[data-k="batches"]'), '6');
    await waitForText(preview.locator('[data-k="knownEvents"]'), String(api.body.plan.knownEvents));
    await waitForText(preview.locator('.hash'), api.body.plan.planHash);
    const verdicts = await preview.locator('ul.checks li').allTextContents();
    assert.equal(verdicts.length, api.body.safetyChecks.length, 'every safety check is shown');
    for (const c of api.body.safetyChecks) {
      assert.ok(verdicts.some((v) => v.includes(c.check) && v.startsWith(c.passed ? 'passed' : 'FAILED')),
                `${c.check} shown as ${c.passed ? 'passed' : 'FAILED'}: ${verdicts.join(' | ')}`);
    }
    await waitForText(preview, 'Safety checks: all passed');
    let list = await je.api('GET', '/jobengine/backfills', { token: await je.token('admin') });
    assert.equal(list.body.items.length, 0, 'a preview creates nothing');
    await je.shot(page, 'console-backfill-preview', { fullPage: true });

    await preview.getByRole('button', { name: 'Create backfill' }).click();
    await waitForText(page.locator('#notice'), 'created (pending)');
    list = await je.api('GET', '/jobengine/backfills', { token: await je.token('admin') });
    assert.equal(list.body.items.length, 1);
    const bf = list.body.items[0];
    assert.equal(bf.plan.planHash, api.body.plan.planHash, 'create sent the previewed plan hash');
    assert.equal(bf.reason, BACKFILL_REASON);
    assert.equal(bf.ticket, BACKFILL_TICKET);
    const row = page.locator(`tr[data-backfill-id="${bf.backfillId}"]`);
    await waitForText(row.locator('.state'), 'pending');
    await row.getByRole('button', { name: /^Start/ }).click();
    await waitForText(row.locator('.state'), 'running');

    // A worker (the operator client, over the API) processes the batches one by one; the page
    // follows each step. Each batch claims two events of its own and one shared by all.
    const wt = await je.token('operator', { scope: 'orch:jobs' });
    let done = 0;
    const deadline = Date.now() + je.timeout(60_000);
    while (done < 6 && Date.now() < deadline) {
      const l = await je.api('POST', '/jobengine/jobs/lease', { token: wt, body: { jobTypes: [BF_JT], workerId: 'console-test', max: 1, leaseSeconds: 60 } });
      assert.equal(l.status, 200, JSON.stringify(l.body));
      if (!l.body.jobs.length) {
        await page.waitForTimeout(300);
        continue;
      }
      const job = l.body.jobs[0];
      assert.equal(job.backfillId, bf.backfillId);
      const t0 = Date.parse(job.windowStart);
      const events = [
        { eventKey: `nvd-${job.batch}-a`, eventTime: new Date(t0 + 1000).toISOString() },
        { eventKey: `nvd-${job.batch}-b`, eventTime: new Date(t0 + 2000).toISOString() },
        { eventKey: 'nvd-shared', eventTime: body.windowStart },
      ];
      const c = await je.api('POST', '/jobengine/dedup/claim', { token: wt, body: { sourceId: 'nvd', jobId: job.jobId, events } });
      assert.equal(c.status, 200, JSON.stringify(c.body));
      const f = await je.api('POST', `/jobengine/jobs/${job.jobId}/complete`, { token: wt, body: { leaseId: job.leaseId, status: 'succeeded' } });
      assert.equal(f.status, 200, JSON.stringify(f.body));
      done += 1;
      if (done === 2) {
        await waitForText(row, /[2-6] of 6 batches done/, { timeout: je.timeout(15_000) });
        await je.shot(page, 'console-backfill-progress', { fullPage: true });
      }
    }
    assert.equal(done, 6, 'the worker got the six batches');
    await waitForText(row.locator('.state'), 'completed', { timeout: je.timeout(20_000) });
    const end = (await je.api('GET', `/jobengine/backfills/${bf.backfillId}`, { token: await je.token('admin') })).body;
    assert.equal(end.status, 'completed');
    assert.equal(end.progress.eventsProcessed, 13, JSON.stringify(end.progress));
    assert.equal(end.progress.duplicatesSkipped, 5, JSON.stringify(end.progress));
    await waitForText(row, '6 of 6 batches done');
    await waitForText(row.locator('[data-k="eventsProcessed"]'), '13');
    await waitForText(row.locator('[data-k="duplicatesSkipped"]'), '5');
    await waitForText(row.locator('[data-k="eventsFailed"]'), '0');
    await je.shot(page, 'console-backfill-done', { fullPage: true });

    // Another backfill through every move the list offers: start, pause, resume, cancel.
    await page.getByLabel('Source ID').fill('ghsa');
    await page.getByRole('button', { name: 'Preview' }).click();
    await preview.getByRole('button', { name: 'Create backfill' }).click();
    await waitForText(page.locator('#notice'), 'created (pending)');
    const all = (await je.api('GET', '/jobengine/backfills', { token: await je.token('admin') })).body.items;
    const second = all.find((b) => b.sourceId === 'ghsa');
    assert.ok(second, JSON.stringify(all));
    const id8 = second.backfillId.slice(0, 8);
    const row2 = page.locator(`tr[data-backfill-id="${second.backfillId}"]`);
    for (const [move, state] of [['Start', 'running'], ['Pause', 'paused'], ['Resume', 'running'], ['Cancel', 'canceled']]) {
      await page.getByRole('button', { name: `${move} backfill ${id8}` }).click();
      await waitForText(row2.locator('.state'), state);
      const now = (await je.api('GET', `/jobengine/backfills/${second.backfillId}`, { token: await je.token('admin') })).body;
      assert.equal(now.status, state, `${move}: the API agrees`);
    }
    assert.equal(await row2.getByRole('button').count(), 0, 'a canceled backfill offers no move');

    // A window that is not over yet fails its check: create is refused with the check named.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    await page.getByLabel('Window end (UTC)').fill(tomorrow);
    await page.getByRole('button', { name: 'Preview' }).click();
    await waitForText(preview, 'FAILED window_not_future');
    const create = preview.getByRole('button', { name: 'Create backfill' });
    assert.equal(await create.isDisabled(), true, 'create is disabled while a check fails');
    await waitForText(preview.locator('.why'), 'window_not_future');
  });

  it('audit: both changes with their reasons, tickets and token ids; the chain valid; the export downloaded', SLOW, async () => {
    const admin = await je.token('admin');
    const entries = [];
    for (let next = null; ;) {
      const r = await je.api('GET', `/jobengine/audit?limit=500${next ? `&continuationToken=${next}` : ''}`, { token: admin });
      entries.push(...r.body.items);
      next = r.body.continuationToken;
      if (!next) break;
    }
    const updated = entries.find((e) => e.eventType === 'quota.updated' && e.reason === QUOTA_REASON);
    const created = entries.find((e) => e.eventType === 'backfill.created');
    assert.ok(updated && created, 'the quota and backfill tests above made their changes (run the whole file)');

    const page = await je.newPage({ label: 'audit' });
    await signIn(page, je, je.clients.admin);
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
    const verify = (await je.api('GET', '/jobengine/audit/verify', { token: admin })).body;
    assert.equal(verify.valid, true);
    await waitForText(page.locator('.chain'), 'Chain valid');
    await waitForText(page.locator('.chain'), `head #`);
    // Every entry shown after the first links to the one above it (once the list is drawn).
    await page.locator('.table-wrap[aria-busy="false"]').waitFor();
    const links = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.textContent));
    assert.ok(links.length >= 2);
    assert.ok(links.slice(1, 20).every((t) => t.includes('linked') && !t.includes('NOT LINKED')), 'hash links shown as linked');

    await page.getByLabel('Event type').fill('quota.updated');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    // The unfiltered list held this entry too: wait for the others to leave.
    await page.locator('tbody tr:not([data-event-type="quota.updated"])').first().waitFor({ state: 'detached' });
    const qrow = page.locator(`tr[data-sequence="${updated.sequence}"]`);
    await qrow.waitFor();
    await waitForText(qrow.locator('.reason-cell'), QUOTA_REASON);
    await waitForText(qrow.locator('.ticket-cell'), QUOTA_TICKET);
    await waitForText(qrow, updated.details.token.jti.slice(0, 13));

    await page.getByLabel('Event type').fill('');
    await page.getByLabel('Resource type').selectOption('backfill');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.locator('tbody tr:not([data-event-type^="backfill."])').first().waitFor({ state: 'detached' });
    const brow = page.locator(`tr[data-sequence="${created.sequence}"]`);
    await waitForText(brow.locator('.reason-cell'), BACKFILL_REASON);
    await waitForText(brow.locator('.ticket-cell'), BACKFILL_TICKET);
    await waitForText(brow, created.details.token.jti.slice(0, 13));
    await je.shot(page, 'console-audit', { fullPage: true });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download export' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^audit-acme-.*\.ndjson$/);
    const file = await download.path();
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const now = (await je.api('GET', '/jobengine/audit/verify', { token: admin })).body;
    assert.ok(lines.length - 1 >= verify.entries && lines.length - 1 <= now.entries,
              `the export holds every entry and its checkpoint (${lines.length} lines, ${verify.entries}..${now.entries} entries)`);
    const seqs = lines.slice(0, -1).map((l) => JSON.parse(l).sequence);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'entries 1..N in order');
  });
});
