import { MetricsTime, Worker } from 'bullmq';
import { closeRedis, type RedisClient } from './connection.ts';
import { JOB_NAMES, QUEUE_NAMES, type QueueName } from './catalogue.ts';
import { backoffStrategy, DEFAULT_JOB_OPTIONS } from './job-options.ts';
import { runJob, type RunDeps } from './run-job.ts';
import { withDeadline } from '../shutdown.ts';

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
    const worker = new Worker(queue, (job, _token, signal) => runJob(queue, job, signal, options), {
      connection,
      prefix: options.prefix,
      concurrency: options.concurrency[queue],
      metrics: { maxDataPoints: MetricsTime.TWO_WEEKS },
      // A job whose worker died is re-run, not failed: handlers are idempotent, and BullMQ's
      // default (1) fails a manual fetch killed twice and drops its items for good.
      maxStalledCount: DEFAULT_JOB_OPTIONS.attempts,
      settings: { backoffStrategy },
    });
    const log = options.log.child({ queue });
    worker.on('error', (err) => log.error({ err }, 'worker error'));
    worker.on('stalled', (jobId) => log.warn({ job_id: jobId }, 'job stalled: its worker died or blocked; it will run again'));
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
            await withDeadline(worker.close(true), 2_000, () => worker.disconnect());
          }),
        ),
      );
      await Promise.all(connections.map((c) => closeRedis(c)));
      return { forced };
    },
  };
}
