import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from 'bullmq';
import { Metrics } from '../../src/metrics.ts';
import { mostOverdue } from '../../src/queues/consumption.ts';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.ts';
import { startWorkers, type WorkerSet } from '../../src/queues/workers.ts';
import type { Services } from '../../src/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { REDIS_URL } from '../support/env.ts';
import { eventually } from '../support/processes.ts';
import { handlersWith } from '../support/handlers.ts';
import { deletePrefix, testPrefix, workerRedis } from '../support/redis.ts';

/**
 * The consumption watchdog (queues/consumption.ts) against real Redis. The wedge of issue 9 (a
 * Worker whose blocking wait never returns after a cluster master restart) is simulated by
 * making this Worker's blocking wait hang forever, exactly where the real one hung.
 */
describe('consumption watchdog', () => {
  let db: TestDatabase;
  let prefix: string;
  let redis: Redis;
  let queues: Queues;
  let workers: WorkerSet;
  const metrics = new Metrics();
  const handled: string[] = [];
  const logLines: string[] = [];
  let releaseLong: () => void = () => undefined;
  const long = new Promise<void>((resolve) => {
    releaseLong = resolve;
  });
  let releaseLast: () => void = () => undefined;
  const last = new Promise<void>((resolve) => {
    releaseLast = resolve;
  });
  let closed = false;

  beforeAll(async () => {
    db = await createTestDatabase('consumption');
    prefix = testPrefix('consumption');
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const log = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) });
    queues = createQueues(redis, prefix, log);
    const handlers = handlersWith({
      fetch: async ({ sourceId }) => {
        if (sourceId === 'long') await long;
        if (sourceId === 'last') await last;
        handled.push(sourceId);
        return {};
      },
    });
    workers = startWorkers({
      orm: db.orm,
      log,
      handlers,
      services: { metrics } as unknown as Services,
      prefix,
      connection: workerRedis,
      concurrency: { ingest: 2, rollup: 1, maintenance: 1 },
      // Short locks and stalled checks: were the replaced Worker's lock on its running job lost,
      // the new Worker would take that job as stalled and run it a second time.
      lockDurationMs: 2_000,
      stalledIntervalMs: 500,
      consumptionWatch: { queues, stallMs: 1_000, intervalMs: 200 },
    });
  });

  afterAll(async () => {
    releaseLong();
    releaseLast();
    if (!closed) await workers.close(5_000);
    await closeQueues(queues);
    redis.disconnect();
    await deletePrefix(prefix);
    await db.drop();
  });

  it('mostOverdue: nothing due, a delayed job past its time, and a waiting job', async () => {
    const q = createQueues(redis, `${prefix}_probe`, pino({ level: 'silent' }));
    try {
      expect(await mostOverdue(q.ingest)).toBeNull();
      await q.ingest.add('fetch', { sourceId: 'later' }, { delay: 60_000 });
      expect(await mostOverdue(q.ingest)).toBeNull();
      const now = Date.now();
      await q.ingest.add('fetch', { sourceId: 'late' }, { timestamp: now - 30_000, delay: 10_000 });
      expect(await mostOverdue(q.ingest, now)).toEqual({ state: 'delayed', overdueMs: 20_000 });
      await q.ingest.add('fetch', { sourceId: 'waits' }, { timestamp: now - 50_000 });
      expect(await mostOverdue(q.ingest, now)).toEqual({ state: 'waiting', overdueMs: 50_000 });
    } finally {
      await closeQueues(q);
      await deletePrefix(`${prefix}_probe`);
    }
  });

  /** From its next blocking wait on, the queue's current Worker never fetches again (the issue 9 hang). */
  function wedge(): Worker {
    const wedged: Worker = workers.workers.ingest;
    const backend = wedged.getBackend() as unknown as { waitForJob: () => Promise<null> };
    backend.waitForJob = () => new Promise<null>(() => undefined);
    return wedged;
  }

  it('replaces a Worker whose blocking wait hangs, while the job it runs keeps its lock and runs once', async () => {
    const wedged = wedge();
    // One slot busy with a job that outlives the replacement; the other slot is wedged.
    const longJob = await queues.ingest.add('fetch', { sourceId: 'long' });
    await eventually(async () => (await queues.ingest.getActiveCount()) === 1 && workers.running('ingest') === 1, 20_000, 'long job running');
    // A scheduled job comes due; only a Worker that fetches would promote it from the delayed set.
    const due = await queues.ingest.add('fetch', { sourceId: 'due' }, { delay: 100 });

    await eventually(async () => handled.includes('due'), 20_000, 'due job run by the replacement Worker');
    expect(workers.workers.ingest).not.toBe(wedged);
    expect(wedged.isPaused()).toBe(true);
    expect(logLines.some((l) => /"queue":"ingest"/.test(l) && /worker not consuming: a delayed job is \d+s past its time and no job started for \d+s with free slots; recreating this queue's worker/.test(l))).toBe(true);
    expect((await metrics.render()).body).toMatch(/newspulse_worker_recreated_total\{queue="ingest"\} 1\b/);
    await eventually(async () => (await queues.ingest.getJobState(due.id!)) === 'completed', 20_000, 'due job completed');

    // Several lock durations later the long job is still the replaced Worker's, not re-run.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(await queues.ingest.getJobState(longJob.id!)).toBe('active');
    releaseLong();
    await eventually(async () => (await queues.ingest.getJobState(longJob.id!)) === 'completed', 20_000, 'long job completed');
    expect(handled.filter((id) => id === 'long')).toEqual(['long']);
    expect((await queues.ingest.getJob(longJob.id!))?.stalledCounter ?? 0).toBe(0);
    // Its jobs done, the replaced Worker is closed.
    await eventually(async () => Boolean(wedged.closing), 20_000, 'replaced worker closed');
    expect(workers.running('ingest')).toBe(0);
  });

  it('shutdown waits for the job a replaced Worker still runs, then closes it without forcing', async () => {
    const wedged = wedge();
    const lastJob = await queues.ingest.add('fetch', { sourceId: 'last' });
    await eventually(async () => (await queues.ingest.getJobState(lastJob.id!)) === 'active' && workers.running('ingest') === 1, 20_000, 'last job running');
    await queues.ingest.add('fetch', { sourceId: 'due-2' }, { delay: 100 });
    await eventually(async () => handled.includes('due-2'), 20_000, 'due job run by the replacement Worker');
    expect(workers.workers.ingest).not.toBe(wedged);

    // The replaced Worker's fetch loop never returns, so its own close() would not either.
    closed = true;
    const closing = workers.close(10_000);
    setTimeout(releaseLast, 500);
    expect(await closing).toEqual({ forced: false });
    expect(handled.filter((id) => id === 'last')).toEqual(['last']);
    expect(await queues.ingest.getJobState(lastJob.id!)).toBe('completed');
  });
});
