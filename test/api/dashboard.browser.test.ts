/**
 * The dashboard as a person uses it: Debian's chromium (driven by playwright-core) opens
 * /dashboard served by a real `node src/main.ts api`, against a real worker that ingested
 * fixture feeds from a local HTTP server. It checks the buckets the chart renders, clicks a
 * bucket and reads its headlines, then watches a new bucket arrive live after another fetch.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hourOf } from '../../src/rollup/buckets.ts';
import { start as startFixtureServer, type FixtureServer } from '../sources/fixture-server.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { rss, type FeedItem } from '../support/feeds.ts';
import { REDIS_URL } from '../support/env.ts';
import { eventually, freePort, runCli, startProcess, writeSourcesFile, type RunningProcess } from '../support/processes.ts';
import { deletePrefix, testPrefix } from '../support/redis.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.DASHBOARD_SCREENSHOT ?? join(tmpdir(), 'newspulse-dashboard.png');
const HOUR = 3_600_000;
// The hours the feed's items fall in, relative to the current hour.
const H = hourOf(new Date()).getTime();
const at = (hoursBack: number, minutes: number) => new Date(H - hoursBack * HOUR + minutes * 60_000);
const iso = (hoursBack: number) => new Date(H - hoursBack * HOUR).toISOString();

const item = (guid: string, title: string, pubDate: Date): FeedItem => ({ guid, title, link: `https://news.example.org/${guid}`, pubDate });
const FIRST: FeedItem[] = [
  item('t1', 'Tesla shares surge on record deliveries', at(2, 10)),
  item('t2', 'Tesla recall hits shares as crash probe widens', at(2, 20)),
  item('a1', 'Apple unveils new phone to strong reviews', at(2, 30)),
  item('t3', 'Tesla expands Berlin factory', at(1, 15)),
];
const LATER = item('t4', 'Tesla wins praise for safety upgrade', at(4, 5));

describe('dashboard in a real browser', () => {
  let db: TestDatabase;
  let feed: FixtureServer;
  let worker: RunningProcess;
  let api: RunningProcess;
  let env: Record<string, string>;
  let browser: Browser;
  let page: Page;
  let profile: string;
  let base: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`the dashboard test needs chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`);
    db = await createTestDatabase('dashboard');
    feed = await startFixtureServer({ routes: { '/feed.xml': { headers: { 'content-type': 'application/rss+xml' }, body: rss(FIRST) } } });
    env = {
      DATABASE_URL: db.url,
      REDIS_URL,
      QUEUE_PREFIX: testPrefix('dashboard'),
      SOURCES_FILE: writeSourcesFile({
        entities: [
          { slug: 'tesla', name: 'Tesla' },
          { slug: 'apple', name: 'Apple' },
        ],
        // Runs only when enqueued: the test decides when a fetch happens.
        sources: [{ id: 'wire', kind: 'feed', url: feed.url('/feed.xml'), cron: '0 0 1 1 *' }],
      }),
      HEALTH_PORT: String(await freePort()),
      ROLLUP_DEBOUNCE: '200ms',
    };
    worker = startProcess('src/main.ts', ['worker'], env);
    // A bound on waiting, generous for a busy two-core machine.
    await worker.waitForLog(/"msg":"worker ready"/, 120_000);
    const fetched = await runCli(['fetch', 'wire', '--wait'], env);
    expect(fetched.code, fetched.stderr).toBe(0);
    process.stderr.write(`[dashboard test] fetched: ${fetched.stdout}\n`);
    await eventually(async () => {
      const { rows } = await db.pool.query(`select (select count(*) from rollup_dirty)::int as dirty, (select count(*) from sentiment_rollup where granularity = 'hour')::int as hours`);
      return rows[0].dirty === 0 && rows[0].hours === 3;
    }, 60_000, 'the first rollups');

    const port = await freePort();
    api = startProcess('src/main.ts', ['api'], { DATABASE_URL: db.url, API_PORT: String(port), API_LIVE_POLL: '250ms' });
    await api.waitForLog(/"msg":"api listening/, 120_000);
    base = `http://127.0.0.1:${port}`;
    process.stderr.write('[dashboard test] api up\n');

    profile = mkdtempSync(join(tmpdir(), 'np-chromium-'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--disk-cache-dir=${profile}`],
    });
    process.stderr.write('[dashboard test] browser up\n');
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    // Only this test's servers: nothing leaves 127.0.0.1.
    await page.route(/^(?!http:\/\/127\.0\.0\.1:)/, (route) => route.abort());
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await api?.stop();
    await worker?.stop('SIGKILL');
    await feed?.close();
    await deletePrefix(env?.QUEUE_PREFIX ?? 'none');
    await db?.drop();
  });

  const renderedBuckets = () =>
    page.evaluate(() => {
      // What uPlot was given: x (unix seconds), then per entity mean, +sd, -sd, article count.
      const state = (globalThis as unknown as { newspulse: { series: { entity: { slug: string } }[]; chart: { data: (number | null)[][] } } }).newspulse;
      const [xs, ...ys] = state.chart.data;
      return Object.fromEntries(
        state.series.map((s, i) => [s.entity.slug, xs!.flatMap((x, j) => (ys[i * 4 + 3]![j] ? [[new Date(x! * 1000).toISOString(), ys[i * 4 + 3]![j]]] : []))]),
      );
    });

  it('renders the expected buckets for the chosen entities, overlaid', async () => {
    await page.goto(`${base}/dashboard/?entities=tesla,apple&granularity=hour&days=2`);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0);
    expect(await renderedBuckets()).toEqual({
      tesla: [
        [iso(2), 2],
        [iso(1), 1],
      ],
      apple: [[iso(2), 1]],
    });
    // The chart's table view lists the same buckets.
    expect(await page.locator('#bucket-table tbody tr').evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: Record<string, string> }).dataset.bucket))).toEqual([iso(2), iso(1)]);
    expect(await page.locator('#entity-list input:checked').evaluateAll((boxes) => boxes.map((b) => (b as unknown as { value: string }).value))).toEqual(['apple', 'tesla']);
    await expect.poll(() => page.locator('#live').textContent()).toBe('live');
  });

  it('lists the headlines of a clicked bucket with their scores and links', async () => {
    const point = await page.evaluate((bucketMs) => {
      const state = (globalThis as unknown as { newspulse: { chart: { over: { getBoundingClientRect(): { left: number; top: number; height: number } }; valToPos(v: number, scale: string): number }; data: number[][] } }).newspulse;
      const rect = state.chart.over.getBoundingClientRect();
      return { x: rect.left + state.chart.valToPos(bucketMs / 1000, 'x'), y: rect.top + rect.height / 2, known: state.data[0]!.includes(bucketMs / 1000) };
    }, H - 2 * HOUR);
    expect(point.known).toBe(true);
    await page.mouse.move(point.x, point.y);
    await page.mouse.click(point.x, point.y);
    await expect.poll(() => page.locator('#headlines tbody tr').count()).toBe(3);
    const rows = await page.locator('#headlines tbody tr').evaluateAll((trs) =>
      trs.map((tr) => {
        const cells = [...tr.querySelectorAll('td')].map((td) => td.textContent);
        return { entity: cells[0], score: cells[2], title: cells[3], href: tr.querySelector('a')?.getAttribute('href'), source: cells[4] };
      }),
    );
    // The list shows each entity's own (entity-targeted) score: the link's, which the bucket aggregates.
    const { rows: stored } = await db.pool.query<{ name: string; title: string; sentiment: number }>(
      `select e.name, a.title, ae.sentiment from article a
         join article_entity ae on ae.article_id = a.id and ae.published_at = a.published_at
         join entity e on e.id = ae.entity_id
        where a.published_at >= $1 and a.published_at < $2`,
      [new Date(H - 2 * HOUR), new Date(H - HOUR)],
    );
    const score = (title: string, entity: string) => {
      const s = stored.find((r) => r.title === title && r.name === entity)!.sentiment;
      return `${s >= 0 ? '+' : ''}${s.toFixed(2)}`;
    };
    expect(rows).toEqual([
      { entity: 'Tesla', score: score(FIRST[1]!.title, 'Tesla'), title: FIRST[1]!.title, href: 'https://news.example.org/t2', source: 'wire' },
      { entity: 'Tesla', score: score(FIRST[0]!.title, 'Tesla'), title: FIRST[0]!.title, href: 'https://news.example.org/t1', source: 'wire' },
      { entity: 'Apple', score: score(FIRST[2]!.title, 'Apple'), title: FIRST[2]!.title, href: 'https://news.example.org/a1', source: 'wire' },
    ]);
    expect(await page.locator('#headlines-title').textContent()).toContain(`hour starting ${iso(2).slice(0, 16).replace('T', ' ')} UTC`);
    expect(await page.locator('#sources tbody tr').first().textContent()).toContain('wire');
  });

  it('shows a new bucket seconds after a fetch brings one, without a reload', async () => {
    feed.route('/feed.xml', { headers: { 'content-type': 'application/rss+xml' }, body: rss([...FIRST, LATER]) });
    const fetched = await runCli(['fetch', 'wire', '--wait'], env);
    expect(fetched.code, fetched.stderr).toBe(0);
    await page.waitForSelector(`#bucket-table tbody tr[data-bucket="${iso(4)}"]`, { state: 'attached', timeout: 60_000 });
    expect((await renderedBuckets()).tesla).toEqual([
      [iso(4), 1],
      [iso(2), 2],
      [iso(1), 1],
    ]);
    // The label is set after the redraw that the wait above saw: poll for it rather than race it.
    await expect.poll(() => page.locator('#live').textContent()).toMatch(/^live · updated \d\d:\d\d:\d\d UTC$/);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});
