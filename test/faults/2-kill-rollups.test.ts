/**
 * Scenario 2: kill -9 during refresh and during rebuild. Articles spread over ~170 days leave
 * thousands of dirty (entity, hour) marks; a refresh is SIGKILLed at a random moment, then a
 * rebuild of the whole range on the restarted worker. Right after each kill, every hourly
 * bucket that differs from the oracle must still carry its dirty mark (no mark lost), and
 * every daily one must contain such an hour; after the killed jobs are re-run (as stalled,
 * 30-60 s later) and a final refresh, the rollups equal the SQL oracle.
 *
 * Each kill must have landed mid-work, or the "no mark lost" checks prove nothing: the
 * killed job's job_run row is still `running` after the kill (the job never finished), and
 * rollups still differ from the oracle then (there was work left to lose).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rss, type FeedItem } from '../support/feeds.ts';
import { eventually } from '../support/processes.ts';
import { startFeedServer, staticBody, type FeedServer } from './support/feed-server.ts';
import { itemOf } from './support/feeds.ts';
import { scenario, type Figures } from './support/report.ts';
import { startStack, type Stack } from './support/stack.ts';
import { sleep } from './support/teardown.ts';
import { diffRollups, oracleRows, rollupRows } from '../rollup/oracle.ts';

const ORIGIN = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
const YEARLY = { cron: '0 0 1 1 *' };
const SOURCES = ['m-1', 'm-2', 'm-3', 'm-4'];
const ITEMS = 4_000;
// Raw articles reach back ~170 days: keep them all inside retention, or refresh and rebuild skip them.
const WORKER_ENV = { ARTICLE_RETENTION_DAYS: '3650', ROLLUP_DEBOUNCE: '10m' };

/** Items one per hour back from ORIGIN, each source offset by a few minutes. */
function hourlyItems(source: string, offset: number): FeedItem[] {
  return Array.from({ length: ITEMS }, (_, i) => ({ ...itemOf(source, i, ORIGIN), pubDate: new Date(ORIGIN.getTime() - i * 3_600_000 - offset * 60_000) }));
}

describe('fault 2: kill -9 during refresh and during rebuild', () => {
  let stack: Stack;
  let server: FeedServer;

  beforeAll(async () => {
    stack = await startStack('rollup');
    server = await startFeedServer(stack.teardown);
    SOURCES.forEach((id, n) => server.route(`/${id}.xml`, staticBody(rss(hourlyItems(id, n * 7), id))));
    stack.writeSources({ sources: SOURCES.map((id) => ({ id, kind: 'feed', url: server.url(`/${id}.xml`), ...YEARLY })) });
  });
  afterAll(() => stack?.teardown.releaseAll());

  /** Buckets that differ from the oracle but have no dirty mark left to repair them. */
  async function unrepairable(): Promise<{ diffs: number; unmarked: number }> {
    const [actual, expected] = await Promise.all([rollupRows(stack.pool), oracleRows(stack.pool)]);
    const diffs = diffRollups(actual, expected);
    const marks = await stack.pool.query<{ e: number; h: string }>(`select entity_id as e, (extract(epoch from hour_start) * 1000)::text as h from rollup_dirty`);
    const hours = new Set(marks.rows.map((m) => `${m.e}/${Number(m.h)}`));
    const days = new Set(marks.rows.map((m) => `${m.e}/${Math.floor(Number(m.h) / 86_400_000)}`));
    let unmarked = 0;
    for (const d of diffs) {
      const match = /^(hour|day) e(\d+) (\S+):/.exec(d);
      if (!match) continue;
      const [, granularity, entity, iso] = match;
      const t = new Date(iso!).getTime();
      const ok = granularity === 'hour' ? hours.has(`${entity}/${t}`) : days.has(`${entity}/${Math.floor(t / 86_400_000)}`);
      if (!ok) unmarked += 1;
    }
    return { diffs: diffs.length, unmarked };
  }

  /** Whether the job's latest job_run row is still open: read after the kill, it says the kill landed mid-job. */
  const stillRunning = async (job: 'refresh' | 'rebuild') =>
    (await stack.count(`select count(*) as n from job_run where job_name = $1 and status = 'running'`, [job])) > 0;

  async function killDuring(job: 'refresh' | 'rebuild', maxDelayMs: number, f: Figures): Promise<void> {
    await eventually(async () => (await stack.count(`select count(*) as n from job_run where job_name = $1 and status = 'running'`, [job])) > 0, 30_000, `${job} running`);
    await sleep(Math.random() * maxDelayMs);
    f[`${job}_marks_at_kill`] = await stack.count('select count(*) as n from rollup_dirty');
  }

  it('loses no dirty mark and ends equal to the oracle', async () => {
    await scenario('2 kill -9 during refresh + rebuild', async (f) => {
      const w1 = await stack.startWorker('worker-2-ingest', WORKER_ENV);
      await stack.waitForJobs(await Promise.all(SOURCES.map((sourceId) => stack.enqueue('fetch', { sourceId }))), 120_000);
      // Only the refresh this test enqueues may consume the marks.
      for (const j of await stack.queues.rollup.getJobs(['delayed'])) if (!j.repeatJobKey) await j.remove();
      const marks = await stack.count('select count(*) as n from rollup_dirty');
      f.articles = await stack.count('select count(*) as n from article');
      f.dirty_marks = marks;

      const refresh = await stack.enqueue('refresh', {});
      await killDuring('refresh', 1_500, f);
      await w1.kill('SIGKILL');
      f.refresh_killed_mid_job = await stillRunning('refresh');
      f.refresh_marks_after_kill = await stack.count('select count(*) as n from rollup_dirty');
      const afterRefreshKill = await unrepairable();
      f.refresh_kill_diffs = afterRefreshKill.diffs;
      f.refresh_kill_unmarked = afterRefreshKill.unmarked;

      const w2 = await stack.startWorker('worker-2-rebuild', WORKER_ENV);
      const rebuild = await stack.enqueue('rebuild', {
        from: new Date(ORIGIN.getTime() - (ITEMS + 48) * 3_600_000).toISOString(),
        to: new Date(ORIGIN.getTime() + 3_600_000).toISOString(),
      });
      const marksBeforeRebuild = await stack.count('select count(*) as n from rollup_dirty');
      await killDuring('rebuild', 3_000, f);
      const progress = (await stack.queues.rollup.getJob(rebuild.split('/')[1]!))?.progress;
      await w2.kill('SIGKILL');
      f.rebuild_killed_mid_job = await stillRunning('rebuild');
      f.rebuild_progress_at_kill = typeof progress === 'object' && progress && 'percent' in progress ? Number(progress.percent) : null;
      f.rebuild_marks_after_kill = await stack.count('select count(*) as n from rollup_dirty');
      const afterRebuildKill = await unrepairable();
      f.rebuild_kill_diffs = afterRebuildKill.diffs;
      f.rebuild_kill_unmarked = afterRebuildKill.unmarked;

      // The killed jobs run again as stalled on the restarted worker.
      const w3 = await stack.startWorker('worker-2-final', WORKER_ENV);
      const recovery = performance.now();
      const states = await stack.waitForJobs([refresh, rebuild], 150_000);
      f.stalled_rerun_s = (performance.now() - recovery) / 1000;
      f.refresh_job = states.get(refresh)!;
      f.rebuild_job = states.get(rebuild)!;
      await stack.settleRollups(60_000);
      f.reaped = (await stack.reap()).abandoned;
      await w3.kill('SIGTERM');
      const problems = await stack.oracleProblems();
      f.oracle_diffs = problems.length;

      expect(marks).toBeGreaterThan(1_000);
      expect(f.refresh_killed_mid_job).toBe(true);
      expect(afterRefreshKill.diffs).toBeGreaterThan(0);
      expect(afterRefreshKill.unmarked).toBe(0);
      // A rebuild neither consumes nor needs marks: a killed one leaves them all.
      expect(f.rebuild_killed_mid_job).toBe(true);
      expect(f.rebuild_progress_at_kill ?? 0).toBeLessThan(100);
      expect(afterRebuildKill.diffs).toBeGreaterThan(0);
      expect(f.rebuild_marks_after_kill).toBe(marksBeforeRebuild);
      expect(afterRebuildKill.unmarked).toBe(0);
      expect(states.get(refresh)).toBe('completed');
      expect(states.get(rebuild)).toBe('completed');
      expect(await stack.count(`select count(*) as n from job_run where status = 'running'`)).toBe(0);
      expect(problems.slice(0, 10)).toEqual([]);
    });
  });
});
