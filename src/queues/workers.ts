import { MetricsTime, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_NAMES, QUEUE_NAMES, type QueueName } from './catalogue.ts';
import { backoffStrategy } from './job-options.ts';
import { runJob, type RunDeps } from './run-job.ts';

export interface WorkerOptions extends RunDeps {
  prefix: string;
  /** Each Worker gets its own connection: BullMQ blocks on it. */
  connection: () => Redis;
  concurrency: Record<QueueName, number>;
}

/** One BullMQ Worker per queue. Refuses to start when a catalogue job has no handler. */
export function startWorkers(options: WorkerOptions): Record<QueueName, Worker> {
  const missing = JOB_NAMES.filter((name) => typeof options.handlers[name] !== 'function');
  if (missing.length) throw new Error(`worker: no handler for job(s) ${missing.join(', ')}`);

  const entries = QUEUE_NAMES.map((queue) => {
    const worker = new Worker(queue, (job, _token, signal) => runJob(queue, job, signal, options), {
      connection: options.connection(),
      prefix: options.prefix,
      concurrency: options.concurrency[queue],
      metrics: { maxDataPoints: MetricsTime.TWO_WEEKS },
      settings: { backoffStrategy },
    });
    const log = options.log.child({ queue });
    worker.on('error', (err) => log.error({ err }, 'worker error'));
    worker.on('stalled', (jobId) => log.warn({ job_id: jobId }, 'job stalled: its worker died or blocked; it will run again'));
    return [queue, worker] as const;
  });
  return Object.fromEntries(entries) as Record<QueueName, Worker>;
}
