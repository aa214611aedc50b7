// The newspulse dashboard: plain browser JavaScript over the read API (/api/v1), charts by
// uPlot served from this app's node_modules (no CDN). Every text from the data goes in through
// textContent, never innerHTML.
'use strict';

const API = '/api/v1';
const COLORS = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1', '#b83280', '#2c7a7b', '#975a16', '#4a5568'];
const HOUR = 3600;
const state = { entities: [], selected: [], granularity: 'hour', days: 2, chart: null, data: null, series: [], lastRollup: null };
// For tests and curious users: the state the page renders from.
window.newspulse = state;

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
};
const signed = (x) => (x === null || x === undefined ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(2)}`);
const scoreClass = (x) => (x > 0.05 ? 'pos' : x < -0.05 ? 'neg' : '');
const utc = (iso) => (iso ? iso.slice(0, 16).replace('T', ' ') : '–');

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

function readUrl() {
  const q = new URLSearchParams(location.search);
  if (q.get('granularity') === 'day') state.granularity = 'day';
  if (q.get('days')) state.days = Number(q.get('days')) || state.days;
  if (q.get('entities')) state.selected = q.get('entities').split(',').filter(Boolean);
  $('granularity').value = state.granularity;
  if (![...$('range').options].some((o) => o.value === String(state.days))) $('range').append(el('option', { value: String(state.days), textContent: `${state.days} days` }));
  $('range').value = String(state.days);
}

function writeUrl() {
  const q = new URLSearchParams({ entities: state.selected.join(','), granularity: state.granularity, days: String(state.days) });
  history.replaceState(null, '', `?${q}`);
}

async function loadEntities() {
  const { entities } = await getJson(`${API}/entities`);
  state.entities = entities;
  if (!state.selected.length) {
    // Default: the two entities with the most recent hourly activity.
    state.selected = entities
      .filter((e) => e.latest_hour)
      .sort((a, b) => b.latest_hour.bucket_start.localeCompare(a.latest_hour.bucket_start) || b.latest_hour.article_count - a.latest_hour.article_count)
      .slice(0, 2)
      .map((e) => e.slug);
  }
  renderEntityList();
}

function colorOf(slug) {
  return COLORS[Math.max(0, state.selected.indexOf(slug)) % COLORS.length];
}

function renderEntityList() {
  const list = $('entity-list');
  list.replaceChildren();
  for (const e of state.entities) {
    const box = el('input', { type: 'checkbox', checked: state.selected.includes(e.slug), value: e.slug });
    box.dataset.slug = e.slug;
    box.addEventListener('change', () => {
      state.selected = box.checked ? [...state.selected, e.slug] : state.selected.filter((s) => s !== e.slug);
      renderEntityList();
      void refresh();
    });
    const swatch = el('span', { className: 'swatch' });
    swatch.style.background = state.selected.includes(e.slug) ? colorOf(e.slug) : 'transparent';
    const latest = e.latest_hour ? `last hour ${utc(e.latest_hour.bucket_start).slice(5)}: ${signed(e.latest_hour.sentiment_mean)} (n=${e.latest_hour.article_count})` : 'no articles yet';
    list.append(el('li', {}, el('label', {}, box, ' ', swatch, e.name), el('span', { className: 'latest', textContent: latest })));
  }
}

function range() {
  const span = state.granularity === 'hour' ? HOUR * 1000 : 86_400_000;
  const to = new Date(Math.floor(Date.now() / span) * span + span);
  const from = new Date(to.getTime() - state.days * 86_400_000);
  return { from: from.toISOString(), to: to.toISOString() };
}

async function loadSeries() {
  if (!state.selected.length) return { series: [] };
  const { from, to } = range();
  const q = new URLSearchParams({ entities: state.selected.join(','), granularity: state.granularity, from, to, gaps: 'empty' });
  return getJson(`${API}/compare?${q}`);
}

/**
 * uPlot data: x, then per entity mean, mean+sd, mean-sd, count. The API's buckets are columnar
 * (one array per column, gaps=empty so every entity has the same buckets): the mean is a column as is.
 */
function toChartData(series) {
  const xs = (series[0]?.buckets.bucket_start ?? []).map((start) => Date.parse(start) / 1000);
  const data = [xs];
  for (const s of series) {
    const { sentiment_mean: mean, sentiment_stddev: sd, article_count: count } = s.buckets;
    data.push(mean);
    data.push(mean.map((m, i) => (m === null ? null : m + (sd[i] ?? 0))));
    data.push(mean.map((m, i) => (m === null ? null : m - (sd[i] ?? 0))));
    data.push(count.map((n) => (n ? n : null)));
  }
  return data;
}

function chartOptions(series, width) {
  const opts = {
    width,
    height: 340,
    scales: { x: { time: true }, s: { range: [-1, 1] }, n: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil((max ?? 1) * 1.6))] } },
    axes: [
      {},
      { scale: 's', label: 'mean sentiment', values: (_u, ticks) => ticks.map((t) => t.toFixed(1)) },
      { scale: 'n', side: 1, label: 'articles', grid: { show: false } },
    ],
    series: [{ label: 'UTC', value: (_u, v) => (v === null ? '–' : new Date(v * 1000).toISOString().slice(0, 16).replace('T', ' ')) }],
    bands: [],
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    legend: { live: true },
  };
  const bars = uPlot.paths.bars({ size: [0.5 / Math.max(1, series.length), 40], gap: 1 });
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const base = 1 + i * 4;
    opts.series.push({ label: `${s.entity.name} mean`, scale: 's', stroke: color, width: 2, spanGaps: false, points: { show: true, size: 4 }, value: (_u, v) => signed(v) });
    opts.series.push({ label: `${s.entity.name} +sd`, scale: 's', stroke: 'transparent', points: { show: false }, value: (_u, v) => signed(v) });
    opts.series.push({ label: `${s.entity.name} −sd`, scale: 's', stroke: 'transparent', points: { show: false }, value: (_u, v) => signed(v) });
    opts.series.push({ label: `${s.entity.name} articles`, scale: 'n', stroke: color, fill: `${color}33`, width: 1, paths: bars, points: { show: false } });
    opts.bands.push({ series: [base + 1, base + 2], fill: `${color}22` });
  });
  return opts;
}

function renderChart(series) {
  const container = $('chart');
  state.series = series;
  state.data = toChartData(series);
  state.chart?.destroy();
  container.replaceChildren();
  if (!series.length) {
    container.append(el('p', { className: 'help', textContent: 'Pick an entity on the left.' }));
    state.chart = null;
    renderTable();
    return;
  }
  state.chart = new uPlot(chartOptions(series, container.clientWidth || 800), state.data, container);
  state.chart.over.addEventListener('click', () => {
    const idx = state.chart.cursor.idx;
    if (idx !== null && idx !== undefined) void showBucket(idx);
  });
  renderTable();
}

function renderTable() {
  const head = $('bucket-table').tHead;
  const body = $('bucket-table').tBodies[0];
  head.replaceChildren(el('tr', {}, el('th', { textContent: 'Bucket (UTC)' }), ...state.series.map((s) => el('th', { textContent: `${s.entity.name}: mean ± sd (n)` }))));
  body.replaceChildren();
  const xs = state.data?.[0] ?? [];
  xs.forEach((x, i) => {
    if (!state.series.some((s) => s.buckets.article_count[i])) return;
    const start = state.series[0].buckets.bucket_start[i];
    const row = el('tr', {}, el('td', { textContent: utc(start) }));
    row.dataset.bucket = start;
    for (const s of state.series) {
      const { article_count: count, sentiment_mean: mean, sentiment_stddev: sd } = s.buckets;
      row.append(el('td', { textContent: count[i] ? `${signed(mean[i])} ± ${sd[i] === null ? '–' : sd[i].toFixed(2)} (${count[i]})` : '' }));
    }
    body.append(row);
  });
}

async function showBucket(idx) {
  const start = state.series[0]?.buckets.bucket_start[idx];
  if (!start) return;
  $('headlines-title').textContent = `Headlines, ${state.granularity === 'hour' ? 'hour' : 'day'} starting ${utc(start)} UTC`;
  $('headlines').dataset.bucket = start;
  const pages = await Promise.all(
    state.series.map((s) => getJson(`${API}/entities/${encodeURIComponent(s.entity.slug)}/articles?${new URLSearchParams({ bucket: start, granularity: state.granularity, limit: '100' })}`)),
  );
  const body = $('headlines').tBodies[0];
  body.replaceChildren();
  pages.forEach((page, i) => {
    for (const a of page.articles) {
      const link = /^https?:\/\//.test(a.url ?? '') ? el('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer', textContent: a.title }) : el('span', { textContent: a.title });
      const who = el('td', { textContent: page.entity.name });
      who.style.color = COLORS[i % COLORS.length];
      body.append(el('tr', {}, who, el('td', { textContent: utc(a.published_at) }), el('td', { className: scoreClass(a.sentiment), textContent: signed(a.sentiment) }), el('td', {}, link), el('td', { textContent: a.source_id })));
    }
  });
  $('headlines-empty').textContent = body.rows.length ? '' : 'No articles in this bucket.';
}

async function loadSources() {
  const { sources } = await getJson(`${API}/sources`);
  const body = $('sources').tBodies[0];
  body.replaceChildren();
  for (const s of sources) {
    const status = s.consecutive_failures > 0 ? 'failing' : s.last_success_at ? 'ok' : 'never';
    const dot = el('span', { className: `dot ${status}`, title: status });
    body.append(
      el('tr', {}, el('td', {}, dot), el('td', { textContent: s.id }), el('td', { textContent: s.kind }), el('td', { textContent: utc(s.last_success_at) }), el('td', { textContent: String(s.consecutive_failures) }), el('td', { textContent: utc(s.backoff_until) }), el('td', { className: 'error', textContent: s.last_error ?? '' })),
    );
  }
}

async function refresh() {
  writeUrl();
  const [compare] = await Promise.all([loadSeries(), loadSources()]);
  renderChart(compare.series);
  const bucket = $('headlines').dataset.bucket;
  if (bucket) {
    const idx = state.series[0]?.buckets.bucket_start.indexOf(bucket) ?? -1;
    if (idx >= 0) await showBucket(idx);
  }
  state.refreshedAt = new Date().toISOString();
}

function connectLive() {
  const live = $('live');
  const source = new EventSource(`${API}/events`);
  source.addEventListener('hello', (e) => {
    state.lastRollup = JSON.parse(e.data).rollup;
    live.textContent = 'live';
    live.classList.add('on');
  });
  source.addEventListener('rollup', async (e) => {
    state.lastRollup = JSON.parse(e.data);
    await loadEntities();
    await refresh();
    live.textContent = `live · updated ${new Date().toISOString().slice(11, 19)} UTC`;
  });
  source.onerror = () => {
    live.textContent = 'reconnecting…';
    live.classList.remove('on');
  };
}

async function main() {
  readUrl();
  $('granularity').addEventListener('change', () => {
    state.granularity = $('granularity').value;
    void refresh();
  });
  $('range').addEventListener('change', () => {
    state.days = Number($('range').value);
    void refresh();
  });
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => state.chart?.setSize({ width: $('chart').clientWidth, height: 340 }), 150);
  });
  await loadEntities();
  await refresh();
  connectLive();
  document.body.dataset.ready = 'true';
}

main().catch((err) => {
  document.body.dataset.ready = 'error';
  $('chart').replaceChildren(el('p', { className: 'help', textContent: `Could not load: ${err.message}` }));
});
