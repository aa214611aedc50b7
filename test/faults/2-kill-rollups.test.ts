/**
 * Scenario 2: kill -9 during refresh and during rebuild. Articles spread over ~170 days leave
 * thousands of dirty (entity, hour) marks; a refresh is SIGKILLed mid-transaction, then a
 * rebuild of the whole range on the restarted worker is SIGKILLed after a random number of its
 * chunks committed. Once the killed worker's transaction has ended, every hourly bucket that
 * differs from the oracle must still carry its dirty mark (no mark lost), and every daily one
 * must contain such an hour; after the killed jobs are re-run (as stalled, 30-60 s later) and a
 * final refresh, the rollups equal the SQL oracle.
 *
 * Each kill must land mid-work, or the "no mark lost" checks prove nothing. A fixed delay did
 * not: the refresh of ~6,500 marks (one transaction) and the rebuild finished before it ran
 * out. So each kill waits for an observed signal instead of a clock:
 * - refresh: the test holds the day lock (statements.ts, "Locking") of one random marked day,
 *   so the refresh consumes its marks (deleted, not committed) and then blocks on that lock:
 *   the moment a crash must not lose them. The kill follows once pg_locks shows a backend
 *   waiting for that day while the refresh's job_run row is `running`.
 * - rebuild: the kill follows once the job's progress (BullMQ, per committed chunk) reaches a
 *   random chunk in the first half of the range.
 * And it is checked that the kill landed: the killed job's job_run row is still `running`
 * (it never finished), and rollups still differ from the oracle (there was work left to lose).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rss, type FeedItem } from '../support/feeds.ts';
import { eventually } from '../support/processes.ts';
import { startFeedServer, staticBody, type FeedServer } from './support/feed-server.ts';
import { itemOf } from './support/feeds.ts';
import { scenario } from './support/report.ts';
import { startStack, type Stack } from './support/stack.ts';
import { sleep } from './support/teardown.ts';
import { diffRollups, oracleRows, rollupRows } from '../rollup/oracle.ts';
import { DAY_LOCK_CLASS } from '../../src/rollup/statements.ts';
import { DEFAULT_REFRESH_LIMIT } from '../../src/rollup/refresh.ts';

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

  /** Polls `probe` (no pause beyond a few ms: the kill must follow the signal) until it holds; throws once `done` says the chance passed. */
  async function until(probe: () => Promise<boolean>, done: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await probe()) return;
      if (await done()) throw new Error(`${what}: the job finished before it was seen mid-work`);
      if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  /**
   * Holds the day lock of one random marked day in a transaction of the test's own: a refresh
   * consumes its marks, then waits for that day before recomputing anything.
   */
  async function holdMarkedDay(): Promise<{ day: number; release: () => Promise<void> }> {
    const { rows } = await stack.pool.query<{ d: number }>(`select distinct floor(extract(epoch from hour_start) / 86400)::int as d from rollup_dirty order by d`);
    const day = rows[Math.floor(Math.random() * rows.length)]!.d;
    const client = await stack.pool.connect();
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock($1::int, $2::int)', [DAY_LOCK_CLASS, day]);
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await client.query('rollback');
      client.release();
    };
    stack.teardown.add('day lock', release);
    return { day, release };
  }

  /**
   * A backend waiting for the held day's lock: the refresh got past consuming its marks and
   * is about to recompute. Only refresh and rebuild take day locks, and no rebuild runs yet.
   */
  const waitingForDay = async (day: number) =>
    (await stack.count(
      `select count(*) as n from pg_locks where locktype = 'advisory' and not granted and classid = $1::int::oid and objid = $2::int::oid and objsubid = 2`,
      [DAY_LOCK_CLASS, day],
    )) > 0;

  /** The killed worker's open transaction has ended (Postgres rolled it back): what remains is what a crash leaves. */
  const noOpenWrites = async () =>
    (await stack.count(`select count(*) as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and backend_xid is not null`)) === 0;

  /** Whether the job already completed or failed: then waiting for it to be mid-work is pointless. */
  const finished = (ref: string) => async () => {
    const state = await (await stack.queues.rollup.getJob(ref.split('/')[1]!))?.getState();
    return state === 'completed' || state === 'failed';
  };

  /** The rebuild's committed chunks, from the progress it reports per chunk. */
  async function rebuildProgress(ref: string): Promise<{ done: number; total: number; percent: number } | null> {
    const progress = (await stack.queues.rollup.getJob(ref.split('/')[1]!))?.progress;
    if (typeof progress !== 'object' || progress === null || !('done' in progress) || !('total' in progress)) return null;
    const { done, total, percent } = progress as { done: unknown; total: unknown; percent?: unknown };
    return { done: Number(done), total: Number(total), percent: Number(percent ?? 0) };
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

      const hold = await holdMarkedDay();
      const refresh = await stack.enqueue('refresh', {});
      await until(async () => (await stillRunning('refresh')) && (await waitingForDay(hold.day)), finished(refresh), 60_000, 'refresh waiting for the held day');
      await w1.kill('SIGKILL');
      await hold.release();
      await eventually(noOpenWrites, 30_000, 'the killed refresh transaction to end');
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
      // A random chunk in the first half: the rest of the range is still to do when the kill lands.
      const first = await eventually(async () => {
        const p = await rebuildProgress(rebuild);
        return p && p.total > 1 ? p : null;
      }, 60_000, 'rebuild progress');
      const target = 1 + Math.floor(Math.random() * Math.floor(first.total / 2));
      f.rebuild_kill_target_chunk = target;
      let progress: Awaited<ReturnType<typeof rebuildProgress>> = null;
      await until(async () => ((progress = await rebuildProgress(rebuild)) ?? first).done >= target, finished(rebuild), 60_000, `rebuild past chunk ${target}`);
      await w2.kill('SIGKILL');
      await eventually(noOpenWrites, 30_000, 'the killed rebuild transaction to end');
      f.rebuild_killed_mid_job = await stillRunning('rebuild');
      const seen = progress as Awaited<ReturnType<typeof rebuildProgress>>;
      f.rebuild_progress_at_kill = seen ? seen.percent : null;
      f.rebuild_chunks_at_kill = seen ? `${seen.done}/${seen.total}` : null;
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
      // One batch took every mark, and its transaction died with the worker: all of them are back.
      expect(marks).toBeLessThan(DEFAULT_REFRESH_LIMIT);
      expect(f.refresh_marks_after_kill).toBe(marks);
      expect(afterRefreshKill.diffs).toBeGreaterThan(0);
      expect(afterRefreshKill.unmarked).toBe(0);
      // A rebuild neither consumes nor needs marks: a killed one leaves them all.
      expect(f.rebuild_killed_mid_job).toBe(true);
      expect(f.rebuild_chunks_at_kill).not.toBeNull();
      expect(f.rebuild_progress_at_kill).toBeLessThan(100);
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
