import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.ts';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.ts';
import { startWorkers, type WorkerSet } from '../../src/queues/workers.ts';
import { consumingCheck, watchForStall } from '../../src/readiness.ts';
import type { Services } from '../../src/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { REDIS_URL } from '../support/env.ts';
import { eventually } from '../support/processes.ts';
import { handlersWith } from '../support/handlers.ts';
import { deletePrefix, testPrefix, workerRedis } from '../support/redis.ts';

describe('consumingCheck', () => {
  let db: TestDatabase;
  let prefix: string;
  let redis: Redis;
  let queues: Queues;
  let workers: WorkerSet;
  const handled: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('consuming');
    prefix = testPrefix('consuming');
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const log = pino({ level: 'silent' });
    queues = createQueues(redis, prefix, log);
    const handlers = handlersWith({
      fetch: async ({ sourceId }) => {
        handled.push(sourceId);
        return {};
      },
    });
    workers = startWorkers({
      orm: db.orm,
      log,
      handlers,
      services: { metrics: new Metrics() } as unknown as Services,
      prefix,
      connection: workerRedis,
      concurrency: { ingest: 1, rollup: 1, maintenance: 1 },
    });
  });

  /**
   * Pauses the worker; the blocking fetch it already has in flight still takes one job,
   * so feed it one and wait for it before the worker counts as not consuming.
   */
  async function stopConsuming(sacrifice: string) {
    await workers.workers.ingest.pause(true);
    await queues.ingest.add('fetch', { sourceId: sacrifice });
    await eventually(async () => handled.includes(sacrifice) && (await queues.ingest.getActiveCount()) === 0, 20_000, 'in-flight fetch drained');
  }

  afterAll(async () => {
    await workers.close(5_000);
    await closeQueues(queues);
    redis.disconnect();
    await deletePrefix(prefix);
    await db.drop();
  });

  it('turns red when jobs wait past the limit while the worker has free slots, and green once they run', async () => {
    const check = consumingCheck(workers, queues, 60_000);
    await expect(check.check()).resolves.toBeUndefined();

    // A worker that stopped consuming (as after a bad Redis reconnect) while producers still add jobs.
    await stopConsuming('drain-1');
    await queues.ingest.add('fetch', { sourceId: 'waited' }, { timestamp: Date.now() - 120_000 });
    await expect(check.check()).rejects.toThrow(/not consuming: ingest: oldest waiting job has waited 1[12]\ds with free worker slots/);

    workers.workers.ingest.resume();
    await eventually(async () => handled.includes('waited'), 20_000, 'job consumed after resume');
    await expect(check.check()).resolves.toBeUndefined();
  });

  it('turns red when a delayed job is past its time while the worker has free slots (nothing waits: a stopped worker no longer promotes it)', async () => {
    const check = consumingCheck(workers, queues, 60_000);
    await stopConsuming('drain-delayed');
    // Due 110 s ago: as a scheduled fetch of a worker that stopped fetching stays.
    await queues.ingest.add('fetch', { sourceId: 'overdue' }, { timestamp: Date.now() - 120_000, delay: 10_000 });
    expect(await queues.ingest.getWaitingCount()).toBe(0);
    expect(await queues.ingest.getDelayedCount()).toBe(1);
    await expect(check.check()).rejects.toThrow(/^not consuming: ingest: a delayed job is 1[01]\ds past its time with free worker slots$/);

    workers.workers.ingest.resume();
    await eventually(async () => handled.includes('overdue'), 20_000, 'delayed job consumed after resume');
    await expect(check.check()).resolves.toBeUndefined();
  });

  it('ignores a delayed job that is not due yet', async () => {
    const check = consumingCheck(workers, queues, 60_000);
    await stopConsuming('drain-future');
    const future = await queues.ingest.add('fetch', { sourceId: 'future' }, { timestamp: Date.now() - 120_000, delay: 150_000 });
    await expect(check.check()).resolves.toBeUndefined();
    // Removed before the worker resumes: a due time ahead would have it block waiting for it.
    await queues.ingest.remove(future.id!);
    workers.workers.ingest.resume();
  });

  it('ignores a queue paused by an operator (the board): its jobs wait on purpose', async () => {
    const check = consumingCheck(workers, queues, 60_000);
    await queues.ingest.pause();
    try {
      await queues.ingest.add('fetch', { sourceId: 'held' }, { timestamp: Date.now() - 120_000 });
      await expect(check.check()).resolves.toBeUndefined();
    } finally {
      await queues.ingest.resume();
    }
    await eventually(async () => handled.includes('held'), 20_000, 'held job consumed after the queue resumed');
  });

  it('ignores a fresh backlog', async () => {
    const check = consumingCheck(workers, queues, 60_000);
    await stopConsuming('drain-2');
    await queues.ingest.add('fetch', { sourceId: 'fresh' });
    await expect(check.check()).resolves.toBeUndefined();
    workers.workers.ingest.resume();
    await eventually(async () => handled.includes('fresh'), 20_000, 'fresh job consumed');
  });

  it('liveness: the stall watch reports a wedged consumer once (onStall), and recovers when it consumes again', async () => {
    const check = consumingCheck(workers, queues, 60_000);
    const stalls: string[] = [];
    const watch = watchForStall(check, { intervalMs: 100, log: pino({ level: 'silent' }), onStall: (reason) => stalls.push(reason) });
    try {
      expect(watch.stalled()).toBeNull();
      await stopConsuming('drain-3');
      await queues.ingest.add('fetch', { sourceId: 'wedged' }, { timestamp: Date.now() - 120_000 });
      const stall = await eventually(async () => watch.stalled(), 20_000, 'stall seen');
      expect(stall.reason).toMatch(/^not consuming: ingest: oldest waiting job has waited 1[12]\ds with free worker slots$/);
      // Several more ticks: still one onStall call for the one stall.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(stalls).toHaveLength(1);
      workers.workers.ingest.resume();
      await eventually(async () => handled.includes('wedged') && watch.stalled() === null, 20_000, 'liveness recovered');
    } finally {
      watch.stop();
    }
  });

  it('liveness ignores checks that could not look (an outage is not a wedged consumer)', async () => {
    let calls = 0;
    const failing = {
      name: 'workers',
      check: async () => {
        calls += 1;
        throw new Error('Connection is closed.');
      },
    };
    const stalls: string[] = [];
    const watch = watchForStall(failing, { intervalMs: 50, log: pino({ level: 'silent' }), onStall: (r) => stalls.push(r) });
    try {
      await eventually(async () => calls >= 3, 5_000, 'checks ran');
      expect(watch.stalled()).toBeNull();
      expect(stalls).toEqual([]);
    } finally {
      watch.stop();
    }
  });
});
