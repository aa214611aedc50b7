import type { Orm } from './db/orm.ts';
import type { Liveness, ReadinessCheck } from './health.ts';
import type { Logger } from './logger.ts';
import { QUEUE_NAMES } from './queues/catalogue.ts';
import type { Queues } from './queues/queues.ts';
import type { RedisClient } from './queues/connection.ts';
import { describeOverdue, mostOverdue } from './queues/consumption.ts';
import type { WorkerSet } from './queues/workers.ts';

/** Jobs waiting longer than this while a worker has free slots mean the worker is not consuming. */
export const DEFAULT_STALL_MS = 60_000;

/** The consuming check's verdict "wedged", as opposed to "could not look" (Redis down). */
export class NotConsumingError extends Error {
  override name = 'NotConsumingError';
}

export function postgresCheck(orm: Orm): ReadinessCheck {
  return { name: 'postgres', check: async () => void (await orm.em.fork().execute('select 1')) };
}

export function redisCheck(redis: RedisClient): ReadinessCheck {
  return { name: 'redis', check: async () => void (await redis.ping()) };
}

/**
 * Progress, not PING: BullMQ has a known failure mode where a worker stops consuming
 * after a Redis reconnect while producers still work. A queue with a job due for longer than
 * `stallMs` (waiting, or delayed past its time: a worker that stopped fetching no longer
 * promotes delayed jobs, so scheduled jobs pile up there, not in wait), while this process
 * has free slots on it, is wedged. The consumption watchdog (queues/consumption.ts) replaces
 * a wedged Worker well before this limit; this check reports a wedge it did not cure.
 */
export function consumingCheck(workers: Pick<WorkerSet, 'workers' | 'running'>, queues: Queues, stallMs = DEFAULT_STALL_MS): ReadinessCheck {
  return {
    name: 'workers',
    async check() {
      const problems: string[] = [];
      for (const queue of QUEUE_NAMES) {
        const worker = workers.workers[queue];
        // Closed is certain; paused or wedged shows as jobs left due, checked below.
        if (worker.closing) {
          problems.push(`${queue}: worker closed`);
          continue;
        }
        // A busy worker that leaves jobs due is slow, not wedged.
        if (workers.running(queue) >= (worker.opts.concurrency ?? 1)) continue;
        const overdue = await mostOverdue(queues[queue]);
        // A queue paused by an operator (the board) is not a wedge: its jobs wait on purpose.
        if (overdue && overdue.overdueMs > stallMs && !(await queues[queue].isPaused())) problems.push(`${queue}: ${describeOverdue(overdue)} with free worker slots`);
      }
      if (problems.length) throw new NotConsumingError(`not consuming: ${problems.join('; ')}`);
    },
  };
}

export interface StallWatch extends Liveness {
  stop(): void;
}

/**
 * Liveness for a wedged consumer: runs the consuming check every `intervalMs` and reports a
 * stall from the first "not consuming" verdict until a check passes. The verdict already means
 * a job has waited past the stall limit, so the stall has lasted that long when it is seen.
 * A failed look (Redis or Postgres down) changes nothing: readiness reports outages, and a
 * restart would not cure them. `onStall` runs once per stall (EXIT_ON_STALL exits there).
 */
export function watchForStall(check: ReadinessCheck, options: { intervalMs: number; log: Logger; onStall?: (reason: string) => void }): StallWatch {
  let stall: { since: Date; reason: string } | null = null;
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await check.check();
      if (stall) options.log.info({ stalled_since: stall.since }, 'workers consume again: liveness recovered');
      stall = null;
    } catch (err) {
      if (!(err instanceof NotConsumingError)) return;
      if (stall) {
        stall.reason = err.message;
        return;
      }
      stall = { since: new Date(), reason: err.message };
      options.log.error({ reason: err.message }, 'workers are not consuming: /livez now answers 503');
      options.onStall?.(err.message);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), options.intervalMs);
  timer.unref();
  return { stalled: () => stall && { ...stall }, stop: () => clearInterval(timer) };
}
