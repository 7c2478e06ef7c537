/* console/dom.js: the console's only view helper (no view library: see docs/architecture.md).
 * h() builds elements; text always goes in as text nodes, never as HTML, so nothing a server
 * or a user wrote can become markup. */

/* h('button', {class: 'x', onclick: fn, disabled: true}, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/* Replaces el's children. */
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

let seq = 0;
/* A unique id for label/for pairs. */
export function uid(prefix) {
  seq += 1;
  return `${prefix}-${seq}`;
}

/* A labelled input: returns {row, input}. */
export function field(label, attrs = {}, hint) {
  const id = uid('f');
  const hintId = hint ? `${id}-hint` : undefined;
  const input =
    attrs.type === 'select'
      ? h('select', {...attrs, type: undefined, id, 'aria-describedby': hintId})
      : attrs.type === 'textarea'
        ? h('textarea', {...attrs, type: undefined, id, 'aria-describedby': hintId})
        : h('input', {type: 'text', ...attrs, id, 'aria-describedby': hintId});
  const row = h('div', {class: attrs.type === 'checkbox' ? 'field check' : 'field'},
    attrs.type === 'checkbox' ? [input, h('label', {for: id}, label)] : [h('label', {for: id}, label), input],
    hint ? h('small', {id: hintId, class: 'hint'}, hint) : null);
  return {row, input, hint: row.querySelector('.hint')};
}

/* "2026-12-06 17:27:55Z" from an RFC 3339 string (null: "—"). */
export function when(iso) {
  if (!iso) return '—';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/* "4:05" or "1:02:03" until the time t (ms); "0:00" once past. */
export function countdown(untilMs, nowMs = Date.now()) {
  let s = Math.max(0, Math.ceil((untilMs - nowMs) / 1000));
  const hh = Math.floor(s / 3600);
  s -= hh * 3600;
  const mm = Math.floor(s / 60);
  const ss = String(s - mm * 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

export function num(n) {
  if (n === null || n === undefined) return '—';
  return typeof n === 'number' && !Number.isInteger(n) ? n.toLocaleString('en', {maximumFractionDigits: 2}) : n.toLocaleString('en');
}

/* A usage bar: value of max, labelled for screen readers; the browser colours it by the
 * low/high marks (no style attribute: the CSP allows none). */
export function bar(label, value, max, fullIsGood = false) {
  const top = max > 0 ? max : 1;
  return h('div', {class: 'bar-cell'},
    h('meter', {class: 'bar', min: 0, max: top, low: (fullIsGood ? 0.2 : 0.7) * top, high: (fullIsGood ? 0.5 : 0.9) * top,
      optimum: fullIsGood ? top : 0,
      value: Math.min(Math.max(value, 0), top), 'aria-label': `${label}: ${num(value)} of ${num(max)}`}),
    h('span', {class: 'bar-text'}, `${num(value)} / ${num(max)}`));
}

/* Gives each body cell its column's name (data-label), which the narrow layout shows beside the
 * value when a table's rows become cards (style.css). */
export function labelCells(table) {
  const names = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
  for (const tr of table.querySelectorAll('tbody tr'))
    [...tr.children].forEach((cell, i) => { if (names[i]) cell.dataset.label = names[i]; });
  return table;
}

/* The cell of a row's action buttons (those not left out), laid out in a row; empty when none. */
export function actionsCell(...buttons) {
  const shown = buttons.filter(Boolean);
  return h('td', {}, shown.length ? h('div', {class: 'row-actions'}, shown) : null);
}
