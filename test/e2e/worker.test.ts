/**
 * The worker and the enqueue script as a user runs them: real processes, a real local
 * HTTP source, the real Postgres and Redis.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start as startFixtureServer, type FixtureServer } from '../sources/fixture-server.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { generatedItems, rss } from '../support/feeds.ts';
import { eventually, runCli, startProcess, startTestWorker, type RunningProcess } from '../support/processes.ts';
import { deletePrefix } from '../support/redis.ts';

const NOW = new Date();
const FEED_ITEMS = generatedItems(8, NOW, { prefix: 'e2e' });
// Scheduled runs stay out of the way: these sources only run when enqueued by hand.
const YEARLY = { cron: '0 0 1 1 *' };

describe('worker process + enqueue script', () => {
  let db: TestDatabase;
  let server: FixtureServer;
  let worker: RunningProcess;
  let env: Record<string, string>;
  let releaseSlow: (() => void) | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('e2e');
    server = await startFixtureServer({
      routes: {
        '/feed.xml': { headers: { 'content-type': 'application/rss+xml' }, body: rss(FEED_ITEMS) },
        '/slow.xml': (_req, res: ServerResponse) => {
          // Answers only when the test says so: the job is active until then.
          releaseSlow = () => {
            releaseSlow = undefined;
            res.writeHead(200, { 'content-type': 'application/rss+xml' });
            res.end(rss(generatedItems(2, NOW, { prefix: 'slow' })));
          };
        },
        '/gone.xml': { status: 404, body: 'not here' },
      },
    });
    ({ worker, env } = await startTestWorker(db.url, 'e2e', {
      entities: [
        { slug: 'tesla', name: 'Tesla' },
        { slug: 'apple', name: 'Apple' },
        { slug: 'nvidia', name: 'Nvidia' },
      ],
      sources: [
        { id: 'e2e-feed', kind: 'feed', url: server.url('/feed.xml'), ...YEARLY },
        { id: 'slow-feed', kind: 'feed', url: server.url('/slow.xml'), ...YEARLY },
        { id: 'gone-feed', kind: 'feed', url: server.url('/gone.xml'), ...YEARLY },
      ],
    }));
  });

  afterAll(async () => {
    releaseSlow?.();
    await worker?.stop('SIGKILL');
    await server?.close();
    await deletePrefix(env.QUEUE_PREFIX!);
    await db?.drop();
  });

  it('answers /healthz and /readyz', async () => {
    const base = `http://127.0.0.1:${env.HEALTH_PORT}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: { ok: true }, redis: { ok: true }, workers: { ok: true } } });
  });

  it('fetch --wait ingests, matches, writes one completed job_run row, and rollups follow', async () => {
    const result = await runCli(['fetch', 'e2e-feed', '--wait'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/fetch e2e-feed: completed in [\d.]+s: .*inserted=8/);

    const articles = await db.pool.query('select count(*)::int as n, count(distinct url_key)::int as keys from article where source_id = $1', ['e2e-feed']);
    expect(articles.rows[0]).toEqual({ n: 8, keys: 8 });
    const links = await db.pool.query(`select e.slug, count(*)::int as n from article_entity ae join entity e on e.id = ae.entity_id group by 1 order by 1`);
    expect(links.rows).toEqual([
      { slug: 'apple', n: 2 },
      { slug: 'nvidia', n: 1 },
      { slug: 'tesla', n: 2 },
    ]);
    const runs = await db.pool.query(`select status, stats->>'inserted' as inserted from job_run where job_name = 'fetch' and source_id = 'e2e-feed'`);
    expect(runs.rows).toEqual([{ status: 'completed', inserted: '8' }]);

    // The debounced refresh runs without any manual step.
    const rollups = await eventually(async () => {
      const { rows } = await db.pool.query(`select granularity, sum(article_count)::int as n from sentiment_rollup group by 1 order by 1`);
      return rows.length === 2 ? rows : null;
    }, 30_000, 'rollup rows');
    expect(rollups).toEqual([
      { granularity: 'day', n: 5 },
      { granularity: 'hour', n: 5 },
    ]);
  });

  it('re-running the fetch inserts nothing', async () => {
    const result = await runCli(['fetch', 'e2e-feed', '--wait', '--json'], env);
    expect(result.code).toBe(0);
    const outcome = JSON.parse(result.stdout.trim()) as { state: string; result: Record<string, unknown> };
    expect(outcome.state).toBe('completed');
    expect(outcome.result).toMatchObject({ fetched: 8, inserted: 0, duplicates: 8 });
    expect((await db.pool.query('select count(*)::int as n from article')).rows[0].n).toBe(8);
  });

  it('reports a permanent failure with exit 1 and the reason, and records it on the source', async () => {
    const result = await runCli(['fetch', 'gone-feed', '--wait'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`fetch gone-feed: FAILED after 1 attempt(s): fetch gone-feed: HTTP 404`);
    const source = await db.pool.query(`select consecutive_failures, last_error from source where id = 'gone-feed'`);
    expect(source.rows[0].consecutive_failures).toBe(1);
    expect(source.rows[0].last_error).toContain(server.url('/gone.xml'));
    const status = await runCli(['status'], env);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/gone-feed\s+feed\s+cron 0 0 1 1 \* UTC.*HTTP 404/);
  });

  it('rejects bad input with exit 2 before enqueuing anything', async () => {
    const unknown = await runCli(['fetch', 'no-such-source'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('enqueue: unknown source no-such-source (known sources: e2e-feed, gone-feed, slow-feed)\n');
    const reversed = await runCli(['rebuild', '--from', '2026-11-22', '--to', '2026-11-01'], env);
    expect(reversed.code).toBe(2);
    expect(reversed.stderr).toContain('--from 2026-11-22 is not before --to 2026-11-01');
    const entity = await runCli(['rebuild', '--from', '2026-11-01', '--to', '2026-11-22', '--entity', 'nobody'], env);
    expect(entity.code).toBe(2);
    expect(entity.stderr).toBe('enqueue: unknown entity "nobody" (known entities: apple, nvidia, tesla)\n');
    const badDate = await runCli(['rebuild', '--from', '2026-02-30', '--to', '2026-03-02'], env);
    expect(badDate.code).toBe(2);
    expect(badDate.stderr).toContain('from: must be an ISO date');
  });

  it('finishes the active job on SIGTERM, closes its row, and exits 0', async () => {
    const enqueued = await runCli(['fetch', 'slow-feed'], env);
    expect(enqueued.code).toBe(0);
    await eventually(async () => (await db.pool.query(`select 1 from job_run where source_id = 'slow-feed' and status = 'running'`)).rowCount, 20_000, 'running slow fetch');
    // The row opens before the request goes out: wait until the server holds the request.
    await eventually(async () => releaseSlow !== undefined, 20_000, 'slow request received');
    worker.child.kill('SIGTERM');
    await worker.waitForLog(/"msg":"shutting down"/);
    releaseSlow!();
    expect(await worker.exited).toBe(0);
    const runs = await db.pool.query(`select status, stats->>'inserted' as inserted from job_run where source_id = 'slow-feed'`);
    expect(runs.rows).toEqual([{ status: 'completed', inserted: '2' }]);
    expect(worker.output()).toContain('"msg":"shutdown complete"');
  });

  it('refuses to start on bad configuration, naming every bad variable', async () => {
    const bad = startProcess('src/main.ts', ['worker'], { ...env, REDIS_URL: 'nope', HEALTH_PORT: 'x' });
    expect(await bad.exited).toBe(2);
    const firstLine = bad.output().trim().split('\n');
    expect(firstLine).toHaveLength(1);
    expect(firstLine[0]).toMatch(/^newspulse: invalid configuration: /);
    expect(firstLine[0]).toMatch(/REDIS_URL: must be a redis:\/\/, rediss:\/\/ or redis\+cluster:\/\/ URL/);
    expect(firstLine[0]).toMatch(/HEALTH_PORT: /);
  });
});
