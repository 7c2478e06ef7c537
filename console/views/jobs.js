/* console/views/jobs.js: jobs by job type and status, a filtered list, and one job's attempts,
 * lease and last error. Read-only: the console leases and completes nothing. */
import {clear, field, fill, h, labelCells, num, when} from '../dom.js';
import {attempt, clearErrors, get, pagedTable} from '../ui.js';

const STATUSES = ['pending', 'leased', 'succeeded', 'failed', 'canceled'];
const PAYLOAD_SHOWN = 4096;

export async function renderJobs(root) {
  const summarySlot = h('div', {class: 'table-wrap'});
  const listSlot = h('div', {class: 'table-wrap'});
  const detail = h('div', {class: 'panel-slot', 'aria-live': 'polite'});

  async function drawSummary() {
    const s = await attempt(() => get('/jobengine/jobs/summary'));
    if (!s) return;
    if (!s.items.length) return fill(summarySlot, h('p', {class: 'empty'}, 'No job yet.'));
    fill(summarySlot, labelCells(h('table', {class: 'grid'},
      h('caption', {}, 'Jobs by job type and status'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Job type'), STATUSES.map((x) => h('th', {scope: 'col', class: 'n'}, x)), h('th', {scope: 'col', class: 'n'}, 'total'))),
      h('tbody', {}, s.items.map((r) => h('tr', {'data-job-type': r.jobType},
        h('th', {scope: 'row'}, r.jobType), STATUSES.map((x) => h('td', {class: 'n', 'data-k': x}, num(r[x]))), h('td', {class: 'n'}, num(r.total))))))));
  }

  function jobRow(j) {
    return h('tr', {'data-job-id': j.jobId},
      h('th', {scope: 'row'}, h('button', {type: 'button', class: 'link mono', 'aria-label': `Show job ${j.jobId}`, onclick: () => show(j.jobId)}, j.jobId.slice(0, 13))),
      h('td', {}, j.jobType), h('td', {}, h('span', {class: `state ${j.status}`}, j.status)),
      h('td', {class: 'n'}, `${j.attempt} of ${j.maxAttempts}`), h('td', {class: 'n'}, j.priority),
      h('td', {}, when(j.updatedAt)), h('td', {}, j.error ? h('small', {class: 'why'}, j.error.slice(0, 120)) : '—'));
  }

  const drawList = pagedTable(listSlot, {path: '/jobengine/jobs', limit: 50, caption: 'Jobs, oldest first',
    columns: ['Job', 'Type', 'Status', 'Attempt', 'Priority', 'Updated', 'Last error'], row: jobRow, empty: 'No job matches.'});

  async function show(id) {
    clearErrors();
    const j = await attempt(() => get(`/jobengine/jobs/${encodeURIComponent(id)}`));
    if (!j) return;
    const payload = JSON.stringify(j.payload, null, 2) || 'null';
    const rows = [
      ['Job', j.jobId], ['Type', j.jobType], ['Status', j.status], ['Attempts', `${j.attempt} of ${j.maxAttempts}`],
      ['Last error', j.error || '—'], ['Priority', j.priority], ['Available at', when(j.availableAt)],
      ['Lease', j.leaseId ? `${j.leaseId} by ${j.workerId || '?'} until ${when(j.leaseUntil)}` : '—'],
      ['Source / event', j.sourceId ? `${j.sourceId} / ${j.eventKey || '—'} at ${when(j.eventTime)}` : '—'],
      ['Backfill', j.backfillId ? `${j.backfillId} batch ${j.batch} (${when(j.windowStart)} to ${when(j.windowEnd)})` : '—'],
      ['Created', when(j.createdAt)], ['Updated', when(j.updatedAt)], ['Completed', when(j.completedAt)],
    ];
    fill(detail, h('section', {class: 'card', 'aria-labelledby': 'job-title'},
      h('h2', {id: 'job-title'}, `Job ${j.jobId}`),
      h('dl', {class: 'plan'}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])),
      h('h3', {}, 'Payload'),
      h('pre', {class: 'payload'}, payload.length > PAYLOAD_SHOWN ? `${payload.slice(0, PAYLOAD_SHOWN)}\n… (${num(payload.length)} characters in all)` : payload),
      h('div', {class: 'actions'}, h('button', {type: 'button', onclick: () => clear(detail)}, 'Close'))));
    detail.querySelector('h2').setAttribute('tabindex', '-1');
    detail.querySelector('h2').focus();
  }

  const status = field('Status', {type: 'select'});
  status.input.append(h('option', {value: ''}, 'any'), ...STATUSES.map((x) => h('option', {value: x}, x)));
  const jobType = field('Job type', {spellcheck: 'false', autocomplete: 'off', maxlength: 128});
  const form = h('form', {class: 'filters', 'aria-label': 'Filter jobs'}, status.row, jobType.row,
    h('div', {class: 'actions'}, h('button', {type: 'submit'}, 'Show jobs')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors();
    drawList({status: status.input.value, jobType: jobType.input.value.trim()});
  });

  root.append(h('h1', {}, 'Jobs'), summarySlot, h('h2', {}, 'List'), form, detail, listSlot);
  await drawSummary();
  await drawList({});
  return {};
}
