/**
 * Scenario 6: SIGTERM with an active job. A worker told to stop while a fetch is in flight
 * stops taking jobs, lets the fetch finish within SHUTDOWN_GRACE, closes its job_run row and
 * exits 0. When the job outlasts the grace period it is aborted and released (its row
 * closed as failed, the job retried by the next worker), and the process still exits 0.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedItems, rss } from '../support/feeds.ts';
import { eventually } from '../support/processes.ts';
import { startFeedServer, type FeedServer } from './support/feed-server.ts';
import { scenario } from './support/report.ts';
import { findJob, startStack, type Stack } from './support/stack.ts';

const YEARLY = { cron: '0 0 1 1 *' };
const NOW = new Date();

/** Sends half the feed at once and the rest after `ms`: the fetch stays active meanwhile. */
function trickle(prefix: string, ms: number) {
  const body = rss(generatedItems(50, NOW, { prefix }));
  const half = Math.floor(body.length / 2);
  return (_req: unknown, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/rss+xml', 'content-length': Buffer.byteLength(body) });
    res.write(body.slice(0, half));
    const timer = setTimeout(() => res.end(body.slice(half)), ms);
    res.once('close', () => clearTimeout(timer));
  };
}

describe('fault 6: SIGTERM with an active job', () => {
  let stack: Stack;
  let server: FeedServer;

  beforeAll(async () => {
    stack = await startStack('sigterm');
    server = await startFeedServer(stack.teardown);
    server.route('/within-grace.xml', trickle('grace', 3_000));
    server.route('/past-grace.xml', trickle('past', 30_000));
    stack.writeSources({
      sources: [
        { id: 'within-grace', kind: 'feed', url: server.url('/within-grace.xml'), ...YEARLY },
        { id: 'past-grace', kind: 'feed', url: server.url('/past-grace.xml'), ...YEARLY },
      ],
    });
  });
  afterAll(() => stack?.teardown.releaseAll());

  const runRow = async (sourceId: string) =>
    (await stack.pool.query<{ status: string; error: string | null }>(`select status, error from job_run where source_id = $1 order by id`, [sourceId])).rows;

  it('finishes the active fetch within the grace period, closes its row and exits 0', async () => {
    await scenario('6a sigterm, job within grace', async (f) => {
      const worker = await stack.startWorker('worker-6a', { SHUTDOWN_GRACE: '10s' });
      const job = await stack.enqueue('fetch', { sourceId: 'within-grace' });
      await eventually(async () => (await runRow('within-grace')).some((r) => r.status === 'running'), 20_000, 'fetch running');
      const signalled = performance.now();
      worker.child.kill('SIGTERM');
      const code = await worker.exited;
      f.exit_code = code;
      f.exit_s = (performance.now() - signalled) / 1000;
      f.grace_s = 10;
      const states = await stack.waitForJobs([job], 10_000);
      f.job = states.get(job)!;
      const rows = await runRow('within-grace');
      f.job_run = rows.map((r) => r.status).join(',');
      f.articles = await stack.count(`select count(*) as n from article where source_id = 'within-grace'`);
      expect(code).toBe(0);
      expect(f.exit_s).toBeLessThan(10);
      expect(states.get(job)).toBe('completed');
      expect(rows.map((r) => r.status)).toEqual(['completed']);
      expect(f.articles).toBe(50);
    });
  });

  it('past the grace period aborts and releases the job, closes its row and exits 0; the next worker completes it', async () => {
    await scenario('6b sigterm, job past grace', async (f) => {
      const worker = await stack.startWorker('worker-6b', { SHUTDOWN_GRACE: '2s' });
      const job = await stack.enqueue('fetch', { sourceId: 'past-grace' });
      await eventually(async () => (await runRow('past-grace')).some((r) => r.status === 'running'), 20_000, 'fetch running');
      const signalled = performance.now();
      worker.child.kill('SIGTERM');
      const code = await worker.exited;
      f.exit_code = code;
      f.exit_s = (performance.now() - signalled) / 1000;
      f.grace_s = 2;
      const afterExit = await runRow('past-grace');
      f.job_run_after_exit = afterExit.map((r) => r.status).join(',');
      const job1 = await findJob(stack.queues, job);
      f.job_state_after_exit = (await job1?.getState()) ?? 'missing';
      expect(code).toBe(0);
      // The grace period, then closing the ORM/Redis: well inside the force-exit timer (grace + 10 s).
      expect(f.exit_s).toBeLessThan(2 + 8);
      expect(afterExit.map((r) => r.status)).not.toContain('running');

      // Released: the next worker takes it (after its retry backoff, or as stalled) and finishes it.
      server.route('/past-grace.xml', trickle('past', 200));
      const started = performance.now();
      await stack.startWorker('worker-6b-next');
      const states = await stack.waitForJobs([job], 90_000);
      f.released_to_next_s = (performance.now() - started) / 1000;
      f.job = states.get(job)!;
      const rows = await runRow('past-grace');
      f.job_run = rows.map((r) => r.status).join(',');
      expect(states.get(job)).toBe('completed');
      expect(rows.at(-1)?.status).toBe('completed');
      expect(rows.filter((r) => r.status === 'running')).toHaveLength(0);
    });
  });
});
