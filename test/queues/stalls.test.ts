import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HandlerMap } from '../../src/queues/context.ts';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.ts';
import { lossVerdict, MAX_DEATHS, MAX_FREEZES } from '../../src/queues/stalls.ts';
import { MAX_STALLS, startWorkers, type WorkerSet } from '../../src/queues/workers.ts';
import type { Services } from '../../src/services.ts';
import { Metrics } from '../../src/metrics.ts';
import { REDIS_URL } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { handlersWith } from '../support/handlers.ts';
import { deletePrefix, testPrefix, workerRedis } from '../support/redis.ts';

const log = pino({ level: 'silent' });
// Short locks so a lost job runs again within seconds; the freeze outlasts the lock.
const LOCK_MS = 1_500;
const STALLED_INTERVAL_MS = 500;
const FREEZE_MS = 3_000;

describe('lossVerdict (pure)', () => {
  it('fails a job that froze its worker MAX_FREEZES times, naming the cause', () => {
    expect(lossVerdict('fetch 7', { freezes: MAX_FREEZES - 1, deaths: 0 }, 10_000)).toBeNull();
    expect(lossVerdict('fetch 7', { freezes: MAX_FREEZES, deaths: 0 }, 10_000)).toBe(
      `fetch 7: failed for good: it froze its worker's event loop for over 10 s in ${MAX_FREEZES} runs (a poison input: it would freeze every worker it reaches)`,
    );
  });
  it('lets a job live through MAX_DEATHS worker deaths, and fails it on the next', () => {
    expect(lossVerdict('fetch 7', { freezes: 0, deaths: MAX_DEATHS }, 10_000)).toBeNull();
    expect(lossVerdict('fetch 7', { freezes: 0, deaths: MAX_DEATHS + 1 }, 10_000)).toMatch(/^fetch 7: failed for good: its worker died 6 times/);
  });
  it('bounds BullMQ stalls to the freeze bound', () => {
    expect(MAX_STALLS).toBe(MAX_FREEZES);
    expect(MAX_STALLS).toBeLessThanOrEqual(2);
  });
});

/** Blocks the thread (not just the promise chain): what a runaway regex or parse loop does. */
function freezeFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('stalled jobs (real BullMQ, Postgres, short locks)', () => {
  let db: TestDatabase;
  let prefix: string;
  let redis: Redis;
  let queues: Queues;
  const runsOf = new Map<string, number>();
  let hang: () => Promise<never>;

  const start = (fetch: HandlerMap['fetch']): WorkerSet =>
    startWorkers({
      orm: db.orm,
      log,
      handlers: handlersWith({ fetch }),
      services: { metrics: new Metrics() } as unknown as Services,
      prefix,
      connection: workerRedis,
      concurrency: { ingest: 2, rollup: 1, maintenance: 1 },
      freezeWatch: { redisUrl: REDIS_URL },
      lockDurationMs: LOCK_MS,
      stalledIntervalMs: STALLED_INTERVAL_MS,
    });
  const counted = (sourceId: string) => runsOf.set(sourceId, (runsOf.get(sourceId) ?? 0) + 1);

  beforeAll(async () => {
    db = await createTestDatabase('stalls');
    prefix = testPrefix('stalls');
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queues = createQueues(redis, prefix, log);
    hang = () => new Promise<never>(() => undefined);
  });

  afterAll(async () => {
    await closeQueues(queues);
    redis.disconnect();
    await deletePrefix(prefix);
    await db.drop();
  });

  /**
   * Polls until the job is finished (no time assertion: the bound is the test's own timeout).
   * State first, then the job: a job read before it finished carries no return value yet.
   */
  async function finished(job: Job): Promise<Job> {
    for (;;) {
      const state = await queues.ingest.getJobState(job.id!);
      if (state === 'completed' || state === 'failed') return (await queues.ingest.getJob(job.id!))!;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('a job that freezes the event loop past its lock fails for good after MAX_FREEZES runs, with a clear reason and a failed job_run row', async () => {
    const workers = start(async ({ sourceId }) => {
      counted(sourceId);
      freezeFor(FREEZE_MS);
      return { froze: 1 };
    });
    try {
      const job = await queues.ingest.add('fetch', { sourceId: 'poison' }, { attempts: 1 });
      const done = await finished(job);
      expect(await done.getState()).toBe('failed');
      expect(done.failedReason).toBe(
        `fetch ${job.id}: failed for good: it froze its worker's event loop for over 1 s in ${MAX_FREEZES} runs (a poison input: it would freeze every worker it reaches)`,
      );
      expect(runsOf.get('poison')).toBe(MAX_FREEZES);
      const { rows } = await db.pool.query(`select status, error from job_run where job_id = $1 and status = 'failed'`, [job.id]);
      expect(rows).toEqual([{ status: 'failed', error: done.failedReason }]);
    } finally {
      await workers.close(0);
    }
  }, 60_000);

  it('a job whose workers die mid-work more often than MAX_STALLS is run again, not failed: kills are not freezes', async () => {
    const job = await queues.ingest.add('fetch', { sourceId: 'crash-loop' }, { attempts: 1 });
    const kills = MAX_STALLS + 1;
    for (let k = 0; k < kills; k++) {
      let started!: () => void;
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      // A worker that takes the job and then "dies": it stops renewing the lock and never finishes.
      const doomed = start(async ({ sourceId }) => {
        counted(sourceId);
        started();
        return hang();
      });
      await running;
      await doomed.close(0);
    }
    const survivor = start(async ({ sourceId }) => {
      counted(sourceId);
      return { stored: 1 };
    });
    try {
      const done = await finished(job);
      expect({ state: await done.getState(), reason: done.failedReason ?? null, value: done.returnvalue }).toEqual({ state: 'completed', reason: null, value: { stored: 1 } });
      expect(runsOf.get('crash-loop')).toBe(kills + 1);
      expect(await redis.hget(`${prefix}:ingest:${job.id}`, 'np:deaths')).toBe(String(kills));
    } finally {
      await survivor.close(5_000);
    }
  }, 90_000);
});
