import type { Queue, Worker } from 'bullmq';
import type { Logger } from '../logger.ts';

/**
 * Whether a queue has a job that should already be running. A job is due when it waits, or when
 * it sits in the delayed set past its time: a worker promotes delayed jobs itself (moveToActive
 * does it), so a worker that stopped fetching leaves them delayed, not waiting. Looking only at
 * waiting jobs missed exactly that wedge (issue 9's cluster master restart: due scheduled fetches
 * stayed delayed for minutes with both workers up).
 */
export interface OverdueJob {
  state: 'waiting' | 'delayed';
  /** How long the job has been due. */
  overdueMs: number;
}

// BullMQ's delayed score is `dueTimestamp * 0x1000 + counter` (getDelayedScore.lua): the job
// hash's timestamp + delay is wrong for a retried job (delay is then counted from the retry).
const DELAYED_SCORE_SHIFT = 0x1000;

/** The most overdue job of a queue, or null when nothing is due. Throws when Redis cannot be read. */
export async function mostOverdue(queue: Queue, now = Date.now()): Promise<OverdueJob | null> {
  const [oldest] = await queue.getJobs(['wait'], 0, 0, true);
  const waiting = oldest ? now - oldest.timestamp - (oldest.opts.delay ?? 0) : Number.NEGATIVE_INFINITY;
  const client = await queue.getBackend().client;
  const [, score] = await client.zrange(queue.keys.delayed!, 0, 0, { WITHSCORES: true });
  const delayed = score === undefined ? Number.NEGATIVE_INFINITY : now - Math.floor(Number(score) / DELAYED_SCORE_SHIFT);
  if (waiting === Number.NEGATIVE_INFINITY && delayed <= 0) return null;
  return waiting >= delayed ? { state: 'waiting', overdueMs: Math.max(0, waiting) } : { state: 'delayed', overdueMs: delayed };
}

export const describeOverdue = (job: OverdueJob): string =>
  job.state === 'waiting' ? `oldest waiting job has waited ${Math.round(job.overdueMs / 1000)}s` : `a delayed job is ${Math.round(job.overdueMs / 1000)}s past its time`;

export interface ConsumptionWatch {
  stop(): void;
}

export interface ConsumptionWatchOptions {
  queueName: string;
  /** The queue's current Worker (the watch replaces it through `recreate`). */
  worker: () => Worker;
  queue: Queue;
  concurrency: number;
  /** Jobs this process runs on the queue now (across old and new Worker instances). */
  running: () => number;
  /** When this process last started a job of the queue (ms epoch; the start time before any). */
  lastStartedAt: () => number;
  /** A due job this old, with free slots and nothing started for as long, means this worker is wedged. */
  stallMs: number;
  intervalMs: number;
  log: Logger;
  /** Replaces the queue's Worker (and its connections) in-process. */
  recreate: () => Promise<void>;
}

/**
 * The consumption watchdog. A BullMQ Worker on an ioredis Cluster can stop fetching after the
 * master of its queue's slot restarts, with no error and both connections "ready" (see
 * docs/scaling.md): the worker needs a fresh Worker, not a process restart. Every `intervalMs`
 * this looks for "a job has been due for `stallMs`, this process has free slots on the queue and
 * has started nothing on it for `stallMs`, and Redis has answered for `stallMs`" and then
 * recreates the queue's Worker. A paused or closing Worker, or a paused queue, is left alone
 * (a pause is deliberate; /readyz still reports a paused Worker).
 */
export function watchConsumption(options: ConsumptionWatchOptions): ConsumptionWatch {
  let busy = false;
  // Since when every look at the queue has succeeded. Right after a Redis outage every job due
  // during it is overdue while a healthy Worker may still be in BullMQ's retry delay (up to
  // 15 s): only a Worker that stays idle once Redis has answered for `stallMs` is wedged.
  let reachableSince: number | null = null;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const worker = options.worker();
      if (worker.closing || worker.isPaused()) return;
      const lookStarted = Date.now();
      const overdue = await mostOverdue(options.queue).catch((err: unknown) => {
        reachableSince = null;
        throw err;
      });
      // A slow look met an outage too: a worker client's commands wait for Redis instead of failing.
      if (reachableSince === null || Date.now() - lookStarted > Math.max(2_000, options.intervalMs)) reachableSince = Date.now();
      if (Date.now() - reachableSince < options.stallMs) return;
      if (options.running() >= options.concurrency) return;
      const idleMs = Date.now() - options.lastStartedAt();
      if (idleMs < options.stallMs) return;
      if (!overdue || overdue.overdueMs < options.stallMs) return;
      // A queue paused by an operator (the board) keeps its jobs waiting on purpose.
      if (await options.queue.isPaused()) return;
      // The worker may have started a job while we looked.
      if (options.worker() !== worker || Date.now() - options.lastStartedAt() < options.stallMs) return;
      options.log.warn(
        { queue: options.queueName, due_state: overdue.state, overdue_ms: overdue.overdueMs, idle_ms: idleMs, running: options.running() },
        `worker not consuming: ${describeOverdue(overdue)} and no job started for ${Math.round(idleMs / 1000)}s with free slots; recreating this queue's worker`,
      );
      await options.recreate();
    } catch (err) {
      // Redis unreachable: readiness reports the outage; nothing to recreate yet.
      options.log.debug({ err, queue: options.queueName }, 'consumption watchdog could not look');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
