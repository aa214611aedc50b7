/**
 * Scenario 3: Redis goes away for 10 s and comes back while two workers run 2 s schedules.
 * The workers are not restarted: /readyz turns red, then green; the schedulers keep firing;
 * manual jobs are consumed again; every item served is stored exactly once.
 *
 * Redis runs with AOF on (appendfsync everysec), as DESIGN.md asks of production: without
 * persistence a restart empties Redis, job schedulers included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/processes.ts';
import { startFeedServer, type FeedServer } from './support/feed-server.ts';
import { growingFeed } from './support/feeds.ts';
import { scenario } from './support/report.ts';
import { startStack, type Stack, type WorkerProcess } from './support/stack.ts';
import { sleep } from './support/teardown.ts';

const ORIGIN = new Date();
const SOURCES = ['r-alpha', 'r-beta', 'r-gamma'];
const OUTAGE_MS = 10_000;

describe('fault 3: Redis restart while workers run', () => {
  let stack: Stack;
  let server: FeedServer;
  const feeds = new Map(SOURCES.map((id) => [id, growingFeed(id, ORIGIN)]));

  beforeAll(async () => {
    stack = await startStack('redis', { redis: { persist: true } });
    server = await startFeedServer(stack.teardown);
    for (const [id, feed] of feeds) server.route(`/${id}.xml`, feed.handler);
    stack.writeSources({ sources: SOURCES.map((id) => ({ id, kind: 'feed', url: server.url(`/${id}.xml`), every: '2s' })) });
  });
  afterAll(() => stack?.teardown.releaseAll());

  const requests = () => SOURCES.map((id) => server.stats(`/${id}.xml`).requests);
  const allAtLeast = (before: number[], more: number) => requests().every((n, i) => n >= before[i]! + more);

  it('workers resume without a restart, schedules continue, nothing is lost', async () => {
    await scenario('3 redis stop 10s + start', async (f) => {
      const workers: WorkerProcess[] = [await stack.startWorker('worker-3a'), await stack.startWorker('worker-3b')];
      const base = requests();
      await eventually(async () => allAtLeast(base, 2), 30_000, 'scheduled fetches before the outage');
      for (const w of workers) expect(await w.readiness()).toBe(200);

      await stack.redis.stop('SIGTERM');
      const down = performance.now();
      const red = await Promise.all(
        workers.map(async (w) => {
          await eventually(async () => (await w.readiness()) === 503, OUTAGE_MS, `${w.name} readyz red`);
          return (performance.now() - down) / 1000;
        }),
      );
      f.red_after_s = Math.max(...red);
      await sleep(Math.max(0, OUTAGE_MS - (performance.now() - down)));
      const duringOutage = requests();
      await stack.redis.start();
      const up = performance.now();
      const green = await Promise.all(
        workers.map(async (w) => {
          await eventually(async () => (await w.readiness()) === 200, 60_000, `${w.name} readyz green`);
          return (performance.now() - up) / 1000;
        }),
      );
      f.green_after_s = Math.max(...green);

      // Scheduled fetches continue: every source fetched at least 3 more times.
      await eventually(async () => allAtLeast(duringOutage, 3), 60_000, 'scheduled fetches after the restart');
      f.schedule_resumed_s = (performance.now() - up) / 1000;
      // Both workers consume: manual jobs complete.
      const manual = await Promise.all(SOURCES.map((sourceId) => stack.enqueue('fetch', { sourceId })));
      const states = await stack.waitForJobs(manual, 60_000);
      f.manual_completed = [...states.values()].filter((s) => s === 'completed').length;

      // Freeze the feeds, let one more scheduled fetch of each catch up, then judge.
      for (const feed of feeds.values()) feed.freeze();
      const frozen = requests();
      await eventually(async () => allAtLeast(frozen, 2), 30_000, 'fetches after freezing');
      f.workers_alive = workers.filter((w) => w.alive()).length;
      const exits = await Promise.all(workers.map((w) => w.kill('SIGTERM')));
      f.exit_codes = exits.join(',');
      const w = await stack.startWorker('worker-3-settle');
      await stack.waitDrained(60_000, ['ingest', 'rollup']);
      await stack.settleRollups(60_000);
      const reaped = await stack.reap();
      await w.kill('SIGTERM');

      const served = SOURCES.reduce((s, id) => s + feeds.get(id)!.servedUpTo(), 0);
      const articles = await stack.count('select count(*) as n from article');
      const distinct = await stack.count('select count(distinct url_key) as n from article');
      const problems = await stack.oracleProblems();
      f.fetch_requests = requests().reduce((a, b) => a + b, 0);
      f.items_served = served;
      f.articles = articles;
      f.lost = served - distinct;
      f.duplicates = articles - distinct;
      f.reaped = reaped.abandoned;
      f.oracle_diffs = problems.length;
      expect(f.workers_alive).toBe(2);
      expect(exits).toEqual([0, 0]);
      expect(f.manual_completed).toBe(SOURCES.length);
      expect(articles).toBe(served);
      expect(distinct).toBe(served);
      expect(await stack.count(`select count(*) as n from job_run where status = 'running'`)).toBe(0);
      expect(problems.slice(0, 10)).toEqual([]);
    });
  });
});
