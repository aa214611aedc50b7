import { QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../src/errors.ts';
import { closeRun } from '../../src/db/job-runs.ts';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.ts';
import { startWorkers, type WorkerSet } from '../../src/queues/workers.ts';
import type { Services } from '../../src/services.ts';
import { Metrics } from '../../src/metrics.ts';
import { REDIS_URL } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { handlersWith } from '../support/handlers.ts';
import { deletePrefix, testPrefix, workerRedis } from '../support/redis.ts';

const log = pino({ level: 'silent' });

/** Test handlers keyed by what the payload's sourceId asks them to do. */
const behaviours: Record<string, (job: Job) => Promise<Record<string, number | string>>> = {
  ok: async () => ({ inserted: 3, fetched: 5 }),
  permanent: async () => {
    throw new PermanentError('fetch permanent: HTTP 404 Not Found from http://127.0.0.1/x');
  },
  transient: async (job) => {
    if (job.attemptsMade === 0) throw new TransientError('fetch transient: HTTP 503 from http://127.0.0.1/y', { retryAfterMs: 10 });
    return { inserted: 1 };
  },
  'non-error': async () => {
    throw { weird: 'object' };
  },
  string: async () => {
    // eslint-disable-next-line no-throw-literal
    throw 'plain string';
  },
};

describe('runJob wrapper (real BullMQ + Postgres)', () => {
  let db: TestDatabase;
  let prefix: string;
  let redis: Redis;
  let queues: Queues;
  let workers: WorkerSet;
  let events: QueueEvents;
  const metrics = new Metrics();

  beforeAll(async () => {
    db = await createTestDatabase('runjob');
    prefix = testPrefix('runjob');
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queues = createQueues(redis, prefix, log);
    const handlers = handlersWith({
      fetch: async ({ sourceId }, ctx) => {
        const behaviour = behaviours[sourceId];
        if (!behaviour) throw new Error(`no behaviour ${sourceId}`);
        if (sourceId === 'ok') expect(ctx.log.bindings()).toMatchObject({ queue: 'ingest', job_name: 'fetch', source_id: 'ok' });
        return behaviour(ctx.job);
      },
      refresh: async (_p, ctx) => {
        // A handler that closes its own row in its transaction: the wrapper must not overwrite it.
        await ctx.em.transactional((tx) => closeRun(tx, ctx.run.row, { status: 'completed', stats: { closed_by: 'handler' } }));
        return { closed_by: 'wrapper' };
      },
    });
    workers = startWorkers({
      orm: db.orm,
      log,
      handlers,
      // The handlers above use no shared services but the metrics the wrapper records.
      services: { metrics } as unknown as Services,
      prefix,
      connection: workerRedis,
      concurrency: { ingest: 2, rollup: 1, maintenance: 1 },
    });
    events = new QueueEvents('ingest', { connection: workerRedis(), prefix });
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await workers.close(5_000);
    await events.close();
    await closeQueues(queues);
    redis.disconnect();
    await deletePrefix(prefix);
    await db.drop();
  });

  const runs = async (jobId: string, queue = 'ingest') =>
    (await db.pool.query('select job_name, job_id, source_id, attempt, status, stats, error, finished_at is not null as finished, duration_ms >= 0 as timed from job_run where job_id = $1 and queue = $2 order by attempt', [jobId, queue])).rows;

  it('closes the row completed with the handler stats', async () => {
    const job = await queues.ingest.add('fetch', { sourceId: 'ok' });
    expect(await job.waitUntilFinished(events, 20_000)).toEqual({ inserted: 3, fetched: 5 });
    expect(await runs(job.id!)).toEqual([
      { job_name: 'fetch', job_id: job.id, source_id: 'ok', attempt: 1, status: 'completed', stats: { inserted: 3, fetched: 5 }, error: null, finished: true, timed: true },
    ]);
    const exported = (await metrics.render()).body;
    expect(exported).toContain('newspulse_jobs_total{queue="ingest",job="fetch",outcome="completed"} 1');
    expect(exported).toContain('newspulse_articles_inserted_total 3');
    expect(exported).toContain('newspulse_fetches_total{outcome="inserted"} 1');
    expect(exported).toMatch(/newspulse_job_duration_seconds_count\{queue="ingest",job="fetch",outcome="completed"\} 1/);
    // No label carries a source id (unbounded at 100k sources), and process metrics keep Node's standard names.
    expect(exported).not.toMatch(/source="/);
    expect(exported).toContain('process_cpu_seconds_total');
    expect(exported).not.toContain('newspulse_process_');
  });

  it('fails a permanent error once, without retrying', async () => {
    const job = await queues.ingest.add('fetch', { sourceId: 'permanent' }, { attempts: 3, backoff: { type: 'exponential-retry-after', delay: 10 } });
    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow('HTTP 404 Not Found');
    const rows = await runs(job.id!);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'failed', error: 'fetch permanent: HTTP 404 Not Found from http://127.0.0.1/x', finished: true });
    expect(await (await queues.ingest.getJob(job.id!))!.getState()).toBe('failed');
  });

  it('retries a transient error and records one row per attempt', async () => {
    const job = await queues.ingest.add('fetch', { sourceId: 'transient' }, { attempts: 3, backoff: { type: 'exponential-retry-after', delay: 10 } });
    expect(await job.waitUntilFinished(events, 20_000)).toEqual({ inserted: 1 });
    expect((await runs(job.id!)).map((r) => [r.attempt, r.status, r.error])).toEqual([
      [1, 'failed', 'fetch transient: HTTP 503 from http://127.0.0.1/y'],
      [2, 'completed', null],
    ]);
  });

  it.each([
    ['non-error', 'non-Error thrown: {"weird":"object"}'],
    ['string', 'non-Error thrown: plain string'],
  ])('records thrown non-Errors (%s) as failures with a readable message', async (sourceId, message) => {
    const job = await queues.ingest.add('fetch', { sourceId }, { attempts: 1 });
    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow(message);
    expect(await runs(job.id!)).toMatchObject([{ status: 'failed', error: message }]);
  });

  it('rejects an invalid payload as permanent and records it', async () => {
    const job = await queues.ingest.add('fetch', { source: 'typo' } as never, { attempts: 3 });
    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow('job fetch: invalid payload');
    expect(await runs(job.id!)).toMatchObject([{ status: 'failed', attempt: 1 }]);
  });

  it('leaves a row the handler closed in its own transaction as the handler wrote it', async () => {
    const rollupEvents = new QueueEvents('rollup', { connection: workerRedis(), prefix });
    try {
      await rollupEvents.waitUntilReady();
      const job = await queues.rollup.add('refresh', {});
      await job.waitUntilFinished(rollupEvents, 20_000);
      expect(await runs(job.id!, 'rollup')).toMatchObject([{ status: 'completed', stats: { closed_by: 'handler' } }]);
    } finally {
      await rollupEvents.close();
    }
  });
});
