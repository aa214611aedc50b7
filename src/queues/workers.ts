import { MetricsTime, Worker } from 'bullmq';
import { closeRedis, type RedisClient } from './connection.ts';
import { checkPayload, isJobName, JOB_NAMES, QUEUE_NAMES, type QueueName } from './catalogue.ts';
import { backoffStrategy } from './job-options.ts';
import { runJob, type RunDeps } from './run-job.ts';
import { withDeadline } from '../shutdown.ts';
import { queuePrefix } from './keys.ts';
import { recordFailedRun } from '../db/job-runs.ts';

/**
 * Times a job may lose its worker (killed, or frozen past its lock) and still run again; the
 * next loss fails it for good, with a message and a failed job_run row that say why.
 * Measured: with 2, fault scenario 1 (a kill -9 every round, recovered jobs killed again on the
 * next workers) failed 10 of 21 fetch jobs and lost their items, so kill -9 safety through a
 * crash loop needs the old allowance; a poison job therefore still costs up to 6 freezes.
 */
export const MAX_STALLS = 5;
const STALLED_REASON = 'job stalled more than allowable limit';

export interface WorkerOptions extends RunDeps {
  prefix: string;
  /** Each Worker gets its own connection: BullMQ blocks on it. */
  connection: () => RedisClient;
  concurrency: Record<QueueName, number>;
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
  const entries = QUEUE_NAMES.map((queue) => {
    const connection = options.connection();
    connections.push(connection);
    const worker = new Worker(queue, (job, token, signal) => runJob(queue, job, token, signal, options), {
      connection,
      prefix: queuePrefix(options.prefix, queue),
      concurrency: options.concurrency[queue],
      metrics: { maxDataPoints: MetricsTime.TWO_WEEKS },
      // A job whose worker died is re-run, not failed (handlers are idempotent), but not forever.
      maxStalledCount: MAX_STALLS,
      settings: { backoffStrategy },
    });
    const log = options.log.child({ queue });
    worker.on('error', (err) => log.error({ err }, 'worker error'));
    worker.on('stalled', (jobId) => log.warn({ job_id: jobId }, 'job stalled: its worker died or blocked; it will run again'));
    // BullMQ's own reason says nothing about why: name the job, say what happened, and leave a
    // failed job_run row beside the abandoned ones so `status` and the board show it.
    worker.on('failed', (job, err) => {
      if (!job || err.message !== STALLED_REASON) return;
      const error = `${job.name} ${job.id ?? ''}: failed for good after its worker died or froze ${MAX_STALLS + 1} times while running it (a poison input? see this job's abandoned job_run rows)`;
      const checked = isJobName(job.name) ? checkPayload(job.name, job.data) : null;
      const sourceId = checked?.ok && 'sourceId' in checked.data ? checked.data.sourceId : null;
      log.error({ job_id: job.id, job_name: job.name, source_id: sourceId }, error);
      recordFailedRun(options.orm.em.fork(), { queue, jobName: job.name, jobId: job.id ?? null, sourceId, attempt: job.attemptsMade + 1 }, error).catch((recordErr: unknown) =>
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
      return { forced };
    },
  };
}
