import { MetricsTime, UnrecoverableError, Worker, type Job } from 'bullmq';
import { closeRedis, type RedisClient } from './connection.ts';
import { checkPayload, isJobName, JOB_NAMES, QUEUE_NAMES, type QueueName } from './catalogue.ts';
import { backoffStrategy } from './job-options.ts';
import { runJob, type RunDeps } from './run-job.ts';
import { withDeadline } from '../shutdown.ts';
import { queuePrefix } from './keys.ts';
import { recordFailedRun, type RunStart } from '../db/job-runs.ts';
import { freezeMsFor, lossVerdict, MAX_FREEZES, settleLosses, startFreezeWatch } from './stalls.ts';

/**
 * BullMQ's bound on lost workers. It only ever counts freezes (see stalls.ts: a restarted
 * job's worker deaths are moved out of its counter and have their own allowance, MAX_DEATHS),
 * so a poison job that freezes the event loop fails on its third run, within a few lock
 * durations, instead of freezing six workers in turn.
 */
export const MAX_STALLS = MAX_FREEZES;
const STALLED_REASON = 'job stalled more than allowable limit';
/** BullMQ's default lock; a frozen or dead worker's job runs again once it lapses. */
const LOCK_DURATION_MS = 30_000;

export interface WorkerOptions extends RunDeps {
  prefix: string;
  /** Each Worker gets its own connection: BullMQ blocks on it. */
  connection: () => RedisClient;
  concurrency: Record<QueueName, number>;
  /** Where the freeze watchdog thread connects (the workers' Redis); without it, no watchdog. */
  freezeWatch?: { redisUrl: string };
  /** Shorter locks for tests: a lost job runs again sooner. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export interface WorkerSet {
  workers: Record<QueueName, Worker>;
  /**
   * Stops taking jobs and waits for active ones up to `graceMs`; past it, active jobs are
   * told to abort and left to BullMQ's stalled-job recovery (another worker re-runs them).
   */
  close(graceMs: number): Promise<{ forced: boolean }>;
}

/** One BullMQ Worker per queue. Refuses to start when a catalogue job has no handler. */
export function startWorkers(options: WorkerOptions): WorkerSet {
  const missing = JOB_NAMES.filter((name) => typeof options.handlers[name] !== 'function');
  if (missing.length) throw new Error(`worker: no handler for job(s) ${missing.join(', ')}`);

  const connections: RedisClient[] = [];
  const lockDuration = options.lockDurationMs ?? LOCK_DURATION_MS;
  const freezeMs = freezeMsFor(lockDuration);
  const watch = options.freezeWatch ? startFreezeWatch({ redisUrl: options.freezeWatch.redisUrl, freezeMs }) : undefined;
  const entries = QUEUE_NAMES.map((queue) => {
    const connection = options.connection();
    connections.push(connection);
    const log = options.log.child({ queue });
    const worker: Worker = new Worker(
      queue,
      async (job, token, signal) => {
        const verdict = lossVerdict(`${job.name} ${job.id ?? ''}`, await settleLosses(job, connection), freezeMs);
        if (verdict) {
          log.error({ job_id: job.id, job_name: job.name }, verdict);
          await recordFailedRun(options.orm.em.fork(), runStartOf(queue, job), verdict).catch((err: unknown) => log.warn({ err }, 'could not record the poison job as failed'));
          throw new UnrecoverableError(verdict);
        }
        watch?.started(job);
        try {
          return await runJob(queue, job, token, signal, options);
        } finally {
          watch?.ended(job);
        }
      },
      {
      connection,
      prefix: queuePrefix(options.prefix, queue),
      concurrency: options.concurrency[queue],
      metrics: { maxDataPoints: MetricsTime.TWO_WEEKS },
      lockDuration,
      ...(options.stalledIntervalMs ? { stalledInterval: options.stalledIntervalMs } : {}),
      // A job whose worker froze is re-run, not failed (it may have been a neighbour's fault), but not forever.
      maxStalledCount: MAX_STALLS,
      settings: { backoffStrategy },
      },
    );
    worker.on('error', (err) => log.error({ err }, 'worker error'));
    worker.on('stalled', (jobId) => log.warn({ job_id: jobId }, 'job stalled: its worker died or blocked; it will run again'));
    // BullMQ's own reason says nothing about why: name the job, say what happened, and leave a
    // failed job_run row beside the abandoned ones so `status` and the board show it.
    worker.on('failed', (job, err) => {
      if (!job || err.message !== STALLED_REASON) return;
      const error = `${job.name} ${job.id ?? ''}: failed for good after its worker froze (or died just before) ${MAX_STALLS + 1} times while running it (a poison input? see this job's abandoned job_run rows)`;
      const start = runStartOf(queue, job);
      log.error({ job_id: job.id, job_name: job.name, source_id: start.sourceId }, error);
      recordFailedRun(options.orm.em.fork(), start, error).catch((recordErr: unknown) =>
        log.warn({ err: recordErr }, 'could not record the stalled job as failed'),
      );
    });
    return [queue, worker] as const;
  });
  const workers = Object.fromEntries(entries) as Record<QueueName, Worker>;
  return {
    workers,
    async close(graceMs) {
      let forced = false;
      await Promise.all(
        Object.values(workers).map((worker) =>
          withDeadline(worker.close(), graceMs, async () => {
            forced = true;
            options.log.warn({ queue: worker.name, grace_ms: graceMs }, 'active jobs did not finish in time: aborting them');
            worker.cancelAllJobs('shutdown grace period over');
            // Forced close can itself wait on a command a restarted Redis node never answers.
            // So can disconnect() on a cluster connection that never emits 'end': bound both.
            await withDeadline(worker.close(true), 2_000, () => withDeadline(worker.disconnect(), 1_000, () => undefined));
          }),
        ),
      );
      await Promise.all(connections.map((c) => closeRedis(c)));
      await watch?.stop();
      return { forced };
    },
  };
}

/** A job's row fields as far as its (validated) payload names them. */
function runStartOf(queue: QueueName, job: Job): RunStart {
  const checked = isJobName(job.name) ? checkPayload(job.name, job.data) : null;
  const sourceId = checked?.ok && 'sourceId' in checked.data ? checked.data.sourceId : null;
  return { queue, jobName: job.name, jobId: job.id ?? null, sourceId, attempt: job.attemptsMade + 1 };
}
