import { Worker as Thread } from 'node:worker_threads';
import type { Job } from 'bullmq';
import type { RedisClient } from './connection.ts';

/**
 * Why a job lost its worker, and how often. BullMQ counts every loss in one counter (`stc` on
 * the job hash, bounded by maxStalledCount), whether the job froze its worker (a poison input:
 * it will freeze the next one too) or its worker was killed from outside while running it
 * (kill -9, OOM of a neighbour, a node restart: the job is innocent and only needs to run
 * again). With one small bound for both, a crash loop fails innocent jobs: fault scenario 1
 * (each round's worker picks up the killed jobs of earlier rounds and is killed in turn)
 * failed 10 of 21 fetches with maxStalledCount 2 and lost their items.
 *
 * So losses are told apart. A watchdog thread (it runs while the main thread is frozen, and
 * dies with the process when it is killed) marks the jobs running during a freeze in their
 * job hash (`np:freezes`). When a job that lost its worker starts again, `settle` moves the
 * losses that were not freezes from `stc` to `np:deaths`: BullMQ's counter then only ever
 * holds freezes, so maxStalledCount bounds freezes, and deaths have their own allowance.
 */

/** Freezes a job may cause before it fails for good (BullMQ's maxStalledCount is the same). */
export const MAX_FREEZES = 2;
/** Worker deaths a job may live through (the allowance every loss had before). */
export const MAX_DEATHS = 5;

export interface Losses {
  freezes: number;
  deaths: number;
}

// Runs while this worker holds the job's lock, so BullMQ's stalled check (which only touches
// jobs without a lock) never races it. One key: fine on Redis Cluster.
const SETTLE = `local stc = tonumber(redis.call('HGET', KEYS[1], 'stc') or '0')
local freezes = tonumber(redis.call('HGET', KEYS[1], 'np:freezes') or '0')
local deaths = tonumber(redis.call('HGET', KEYS[1], 'np:deaths') or '0')
if stc > freezes then
  deaths = deaths + stc - freezes
  redis.call('HSET', KEYS[1], 'stc', freezes, 'np:deaths', deaths)
end
return {freezes, deaths}`;

// Only a job hash that still exists is marked (a finished, removed job needs no verdict).
export const MARK_FREEZE = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], 'np:freezes', 1)`;

export const jobKey = (job: Job): string => `${job.queueQualifiedName}:${job.id ?? ''}`;

/** Reads and settles a restarted job's losses; a job that never lost its worker costs nothing. */
export async function settleLosses(job: Job, client: RedisClient): Promise<Losses> {
  if (!job.stalledCounter) return { freezes: 0, deaths: 0 };
  const [freezes, deaths] = (await client.eval(SETTLE, 1, jobKey(job))) as [number, number];
  return { freezes, deaths };
}

/** The reason a job must not run again, or null. */
export function lossVerdict(jobLabel: string, losses: Losses, freezeMs: number): string | null {
  if (losses.freezes >= MAX_FREEZES) {
    return `${jobLabel}: failed for good: it froze its worker's event loop for over ${Math.round(freezeMs / 1000)} s in ${losses.freezes} runs (a poison input: it would freeze every worker it reaches)`;
  }
  if (losses.deaths > MAX_DEATHS) {
    return `${jobLabel}: failed for good: its worker died ${losses.deaths} times while running it (killed, or out of memory: see this job's abandoned job_run rows)`;
  }
  return null;
}

/** How long the main thread may go without a beat before its running jobs count as freezing it. */
export const freezeMsFor = (lockDurationMs: number): number => Math.max(100, Math.floor(lockDurationMs / 3));

export interface FreezeWatch {
  started(job: Job): void;
  ended(job: Job): void;
  stop(): Promise<void>;
}

/**
 * Starts the watchdog thread. The main thread beats every `freezeMs / 5`; the thread marks
 * every running job once per freeze, `freezeMs` into it: before BullMQ's lock (renewed every
 * half lock duration) can lapse and hand the job to another worker, which then sees the mark.
 */
export function startFreezeWatch(options: { redisUrl: string; freezeMs: number }): FreezeWatch {
  const beatMs = Math.max(20, Math.floor(options.freezeMs / 5));
  const thread = new Thread(new URL('./stalls.thread.ts', import.meta.url), { workerData: { redisUrl: options.redisUrl, freezeMs: options.freezeMs, beatMs } });
  thread.unref();
  const beat = setInterval(() => thread.postMessage({ type: 'beat' }), beatMs);
  beat.unref();
  return {
    started: (job) => thread.postMessage({ type: 'start', key: jobKey(job), label: `${job.name} ${job.id ?? ''}` }),
    ended: (job) => thread.postMessage({ type: 'end', key: jobKey(job) }),
    async stop() {
      clearInterval(beat);
      await thread.terminate();
    },
  };
}
