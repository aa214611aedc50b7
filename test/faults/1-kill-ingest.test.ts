/**
 * Scenario 1: kill -9 during ingest, 20 rounds. Each round starts a worker, enqueues a fetch
 * of a large feed (as `npm run enqueue -- fetch <source>` does), SIGKILLs the worker at a
 * random moment of the ingest, and moves on: the next round's worker is the restart. A final
 * worker then runs until the queue drains.
 *
 * Timing: BullMQ re-runs a killed worker's job once its lock expires (lockDuration 30 s) and
 * a stalled check (every 30 s, at most one per queue per interval, one at each worker start)
 * has seen it twice, so a killed fetch runs again 30-60 s after the kill, on whichever worker
 * is up then. Rounds therefore do not wait for recovery (that would be 20 x 30-60 s): killed
 * jobs pile up and are recovered by later rounds' workers or by the final one, which waits
 * up to 2 min. A recovered job may be killed again by a later round, as in a crash loop.
 *
 * Each kill is checked to have landed mid-work: the fetch had reached the feed server, its
 * job_run row was still `running` and none of its articles were committed (so the lease was
 * held by a process that died). At least half the rounds must be such kills, or the scenario
 * did not test what it claims.
 *
 * Then: articles = distinct items served (0 lost, 0 duplicates), every fetch job completed,
 * no job_run row left `running` after the reaper ran (they end `abandoned`), rollups equal
 * the SQL oracle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rss } from '../support/feeds.ts';
import { eventually } from '../support/processes.ts';
import { startFeedServer, staticBody, type FeedServer } from './support/feed-server.ts';
import { itemOf } from './support/feeds.ts';
import { scenario } from './support/report.ts';
import { findJob, startStack, type Stack } from './support/stack.ts';
import { sleep } from './support/teardown.ts';

const ROUNDS = 20;
const ITEMS = 3_000;
const ORIGIN = new Date();
const YEARLY = { cron: '0 0 1 1 *' };
const sourceId = (r: number) => `k-${String(r).padStart(2, '0')}`;

describe('fault 1: kill -9 during ingest', () => {
  let stack: Stack;
  let server: FeedServer;

  beforeAll(async () => {
    stack = await startStack('kill');
    server = await startFeedServer(stack.teardown);
    const sources = [];
    for (let r = 0; r <= ROUNDS; r++) {
      const id = sourceId(r);
      server.route(`/${id}.xml`, staticBody(rss(Array.from({ length: ITEMS }, (_, i) => itemOf(id, i, ORIGIN)), id)));
      sources.push({ id, kind: 'feed', url: server.url(`/${id}.xml`), ...YEARLY });
    }
    stack.writeSources({ sources });
  });
  afterAll(() => stack?.teardown.releaseAll());

  const runOf = async (id: string) =>
    (await stack.pool.query<{ status: string; duration_ms: number | null }>(`select status, duration_ms from job_run where source_id = $1 order by id desc limit 1`, [id])).rows[0];

  it(`loses nothing and duplicates nothing over ${ROUNDS} SIGKILLs`, async () => {
    await scenario(`1 kill -9 during ingest x${ROUNDS}`, async (f) => {
      // Round 0 is not killed: it measures how long one ingest takes.
      const first = await stack.startWorker('worker-1-calibrate');
      const calibration = await stack.enqueue('fetch', { sourceId: sourceId(0) });
      await stack.waitForJobs([calibration], 60_000);
      const ingestMs = (await runOf(sourceId(0)))?.duration_ms ?? 2_000;
      f.items_per_feed = ITEMS;
      f.ingest_ms = ingestMs;
      await first.kill('SIGKILL');

      const jobs = [calibration];
      let killedRunning = 0;
      let lateKills = 0;
      for (let r = 1; r <= ROUNDS; r++) {
        const worker = await stack.startWorker(`worker-1-round-${r}`);
        jobs.push(await stack.enqueue('fetch', { sourceId: sourceId(r) }));
        await eventually(async () => (await runOf(sourceId(r)))?.status === 'running' || null, 30_000, `round ${r} fetch running`);
        await sleep(Math.random() * ingestMs * 0.9);
        await worker.kill('SIGKILL');
        // Judged after the kill, from what the dead worker left: no race with a commit.
        const state = await runOf(sourceId(r));
        const requested = server.stats(`/${sourceId(r)}.xml`).requests > 0;
        const committed = await stack.count('select count(*) as n from article where source_id = $1', [sourceId(r)]);
        if (state?.status === 'running' && requested && committed === 0) killedRunning += 1;
        else lateKills += 1;
      }
      f.rounds = ROUNDS;
      f.killed_mid_ingest = killedRunning;
      f.killed_after_commit = lateKills;

      const final = await stack.startWorker('worker-1-final');
      const drainStarted = performance.now();
      const states = await stack.waitForJobs(jobs, 150_000);
      f.drain_s = (performance.now() - drainStarted) / 1000;
      await stack.waitDrained(60_000, ['ingest', 'rollup']);
      await stack.settleRollups(60_000);
      const reaped = await stack.reap();
      await final.kill('SIGTERM');

      const detail = await Promise.all(jobs.map(async (ref) => findJob(stack.queues, ref)));
      const failed = detail.filter((j) => j && states.get(`ingest/${j.id}`) === 'failed');
      f.jobs = jobs.length;
      f.jobs_completed = [...states.values()].filter((s) => s === 'completed').length;
      f.jobs_failed = failed.length;
      f.failed_reasons = [...new Set(failed.map((j) => j!.failedReason))].join(' | ') || null;
      f.reaped_abandoned = reaped.abandoned;
      const served = (ROUNDS + 1) * ITEMS;
      const articles = await stack.count('select count(*) as n from article');
      const distinct = await stack.count('select count(distinct (source_id, external_id)) as n from article');
      f.items_served = served;
      f.articles = articles;
      f.lost = served - distinct;
      f.duplicates = articles - distinct;
      f.running_rows = await stack.count(`select count(*) as n from job_run where status = 'running'`);
      const problems = await stack.oracleProblems();
      f.oracle_diffs = problems.length;

      expect(killedRunning).toBeGreaterThanOrEqual(ROUNDS / 2);
      expect(f.failed_reasons).toBeNull();
      expect(f.jobs_completed).toBe(jobs.length);
      expect(articles).toBe(served);
      expect(distinct).toBe(served);
      expect(f.running_rows).toBe(0);
      expect(problems.slice(0, 10)).toEqual([]);
    });
    // 22 worker starts take 15-25 s apiece on a loaded 2-core machine, plus the stalled re-runs.
  }, 15 * 60_000);
});
