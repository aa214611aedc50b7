/**
 * Scenario 4: Postgres restarts (fast shutdown, 5 s down) while fetches are in flight: some
 * waiting on a slow source (no transaction is open then), one persisting a large feed. The jobs
 * in flight fail as transient and are retried after recovery; every fetch is all-or-nothing
 * (a source's stored articles always equal the `inserted` totals of its completed job_run
 * rows: articles, marks, source state and the run row commit together); the worker is not
 * restarted; rollups equal the oracle.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rss } from '../support/feeds.ts';
import { eventually } from '../support/processes.ts';
import { startFeedServer, staticBody, type FeedServer } from './support/feed-server.ts';
import { growingFeed, itemOf } from './support/feeds.ts';
import { scenario } from './support/report.ts';
import { findJob, startStack, type Stack } from './support/stack.ts';
import { sleep } from './support/teardown.ts';

const ORIGIN = new Date();
const YEARLY = { cron: '0 0 1 1 *' };
const SLOW = ['pg-slow-1', 'pg-slow-2', 'pg-slow-3'];
const BIG = 'pg-big';
const BIG_ITEMS = 4_000;
const SLOW_ITEMS = 200;
const DOWN_MS = 5_000;

function feedOf(source: string, n: number): string {
  return rss(Array.from({ length: n }, (_, i) => itemOf(source, i, ORIGIN)), source);
}

/** Headers and half the body at once, the rest after `ms`. */
function trickle(body: string, ms: number) {
  return (_req: unknown, res: ServerResponse) => {
    const half = Math.floor(body.length / 2);
    res.writeHead(200, { 'content-type': 'application/rss+xml', 'content-length': Buffer.byteLength(body) });
    res.write(body.slice(0, half));
    const timer = setTimeout(() => res.end(body.slice(half)), ms);
    res.once('close', () => clearTimeout(timer));
  };
}

describe('fault 4: Postgres restart while jobs run', () => {
  let stack: Stack;
  let server: FeedServer;
  const scheduled = growingFeed('pg-sched', ORIGIN);

  beforeAll(async () => {
    stack = await startStack('pg');
    server = await startFeedServer(stack.teardown);
    for (const id of SLOW) server.route(`/${id}.xml`, trickle(feedOf(id, SLOW_ITEMS), 2_500));
    server.route(`/${BIG}.xml`, staticBody(feedOf(BIG, BIG_ITEMS)));
    server.route('/pg-sched.xml', scheduled.handler);
    stack.writeSources({
      sources: [
        ...[...SLOW, BIG].map((id) => ({ id, kind: 'feed', url: server.url(`/${id}.xml`), ...YEARLY })),
        { id: 'pg-sched', kind: 'feed', url: server.url('/pg-sched.xml'), every: '2s' },
      ],
    });
  });
  afterAll(() => stack?.teardown.releaseAll());

  it('in-flight fetches fail transient, are retried after recovery, and each commits whole or not at all', async () => {
    await scenario('4 postgres restart', async (f) => {
      // Four ingest slots: the three slow fetches and the big one run at once.
      // Every source is on the one local origin: lift per-host politeness so the four fetches run at once.
      const worker = await stack.startWorker('worker-4', { INGEST_CONCURRENCY: '6', HOST_CONCURRENCY: '6', HOST_MIN_INTERVAL: '0' });
      const jobs = await Promise.all([...SLOW, BIG].map((sourceId) => stack.enqueue('fetch', { sourceId })));
      await eventually(async () => (await stack.count(`select count(*) as n from job_run where status = 'running' and source_id like 'pg-slow-%'`)) === SLOW.length, 30_000, 'slow fetches running');
      await sleep(300 + Math.random() * 700);
      f.running_at_stop = await stack.count(`select count(*) as n from job_run where status = 'running'`);

      await stack.cluster.stop('fast');
      const down = performance.now();
      await eventually(async () => (await worker.readiness()) === 503, 10_000, 'readyz red');
      await sleep(Math.max(0, DOWN_MS - (performance.now() - down)));
      await stack.cluster.start();
      const up = performance.now();
      await eventually(async () => (await worker.readiness()) === 200, 60_000, 'readyz green');
      f.green_after_s = (performance.now() - up) / 1000;

      const states = await stack.waitForJobs(jobs, 150_000);
      f.recovered_s = (performance.now() - up) / 1000;
      const attempts = await Promise.all(jobs.map(async (ref) => (await findJob(stack.queues, ref))?.attemptsMade ?? -1));
      f.jobs_completed = [...states.values()].filter((s) => s === 'completed').length;
      f.jobs_retried = attempts.filter((a) => a > 1).length;
      f.max_attempts = Math.max(...attempts);
      const failures = await Promise.all(jobs.map(async (ref) => (await findJob(stack.queues, ref))?.stacktrace ?? []));
      f.unrecoverable = failures.flat().filter((s) => /UnrecoverableError|PermanentError/.test(s)).length;

      scheduled.freeze();
      const frozen = server.stats('/pg-sched.xml').requests;
      await eventually(async () => server.stats('/pg-sched.xml').requests >= frozen + 2, 30_000, 'scheduled fetches after recovery');
      const exit = await worker.kill('SIGTERM');
      if (exit !== 0) console.warn(`[fault 4] worker-4 exited ${exit}:\n${worker.output().split('\n').filter((l) => /"level":(40|50|60)|shutdown/.test(l)).slice(-20).join('\n')}`);
      expect(exit).toBe(0);
      const settle = await stack.startWorker('worker-4-settle');
      await stack.waitDrained(60_000, ['ingest', 'rollup']);
      await stack.settleRollups(60_000);
      f.reaped = (await stack.reap()).abandoned;
      await settle.kill('SIGTERM');

      // All or nothing: per source, stored articles == inserted totals of its completed runs.
      const { rows } = await stack.pool.query<{ source_id: string; articles: number; inserted: number; runs: string }>(`
        select s.id as source_id,
               (select count(*)::int from article a where a.source_id = s.id) as articles,
               (select coalesce(sum((r.stats->>'inserted')::int), 0)::int from job_run r
                 where r.source_id = s.id and r.job_name = 'fetch' and r.status = 'completed') as inserted,
               (select string_agg(r.status, ',' order by r.id) from job_run r where r.source_id = s.id) as runs
          from source s order by s.id`);
      const torn = rows.filter((r) => r.articles !== r.inserted);
      f.half_written = torn.length;
      f.runs_slow_1 = rows.find((r) => r.source_id === 'pg-slow-1')?.runs ?? '';
      const expected = SLOW.length * SLOW_ITEMS + BIG_ITEMS + scheduled.servedUpTo();
      const articles = await stack.count('select count(*) as n from article');
      f.articles = articles;
      f.lost = expected - articles;
      const problems = await stack.oracleProblems();
      f.oracle_diffs = problems.length;

      expect(f.running_at_stop).toBeGreaterThanOrEqual(SLOW.length);
      expect(f.jobs_completed).toBe(jobs.length);
      expect(f.jobs_retried).toBeGreaterThanOrEqual(SLOW.length);
      expect(f.unrecoverable).toBe(0);
      expect(torn).toEqual([]);
      expect(articles).toBe(expected);
      expect(await stack.count(`select count(*) as n from job_run where status = 'running'`)).toBe(0);
      expect(problems.slice(0, 10)).toEqual([]);
    });
  });
});
