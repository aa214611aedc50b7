import { MetricsTime, UnrecoverableError, Worker, type Job } from 'bullmq';
import { closeRedis, type RedisClient } from './connection.ts';
import { checkPayload, isJobName, JOB_NAMES, QUEUE_NAMES, type QueueName } from './catalogue.ts';
import { backoffStrategy } from './job-options.ts';
import { runJob, type RunDeps } from './run-job.ts';
import { withDeadline } from '../shutdown.ts';
import { queuePrefix } from './keys.ts';
import { recordFailedRun, type RunStart } from '../db/job-runs.ts';
import { freezeMsFor, lossVerdict, MAX_FREEZES, settleLosses, startFreezeWatch } from './stalls.ts';
import { watchConsumption } from './consumption.ts';
import type { Queues } from './queues.ts';

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

/**
 * The consumption watchdog's limit (consumption.ts): a job due this long while this process has
 * free slots on its queue and has started none of its jobs for as long replaces that queue's
 * Worker. Well above a healthy worker's pick-up delay (a due delayed job is promoted within a
 * second; after a Redis outage BullMQ's own retry waits up to 15 s, runRetryDelay) and well
 * under READINESS_STALL, so a wedge is cured before liveness gives up on the process.
 */
export const CONSUMPTION_STALL_MS = 20_000;

export interface WorkerOptions extends RunDeps {
  prefix: string;
  /** Each Worker gets its own connection: BullMQ blocks on it. */
  connection: () => RedisClient;
  concurrency: Record<QueueName, number>;
  /** Where the freeze watchdog thread connects (the workers' Redis); without it, no watchdog. */
  freezeWatch?: { redisUrl: string };
  /**
   * The consumption watchdog (consumption.ts) reads the queues' due jobs through these Queues;
   * without it, no watchdog. `stallMs` defaults to CONSUMPTION_STALL_MS.
   */
  consumptionWatch?: { queues: Queues; stallMs?: number; intervalMs?: number };
  /** Shorter locks for tests: a lost job runs again sooner. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export interface WorkerSet {
  /** Each queue's current Worker: a live view, since the consumption watchdog may replace one. */
  workers: Record<QueueName, Worker>;
  /** Jobs of `queue` this process is running now (replaced Workers finishing theirs included). */
  running(queue: QueueName): number;
  /**
   * Stops taking jobs and waits for active ones up to `graceMs`; past it, active jobs are
   * told to abort and left to BullMQ's stalled-job recovery (another worker re-runs them).
   */
  close(graceMs: number): Promise<{ forced: boolean }>;
}

/** One Worker instance and what it owns; a queue has one current instance and maybe retired ones. */
interface Instance {
  worker: Worker;
  connection: RedisClient;
  /** Jobs this instance runs now. */
  running: number;
}

interface QueueState {
  current: Instance;
  /** Replaced instances still finishing their jobs (their lock managers keep renewing those locks). */
  retired: Set<Instance>;
  lastStartedAt: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One BullMQ Worker per queue. Refuses to start when a catalogue job has no handler. */
export function startWorkers(options: WorkerOptions): WorkerSet {
  const missing = JOB_NAMES.filter((name) => typeof options.handlers[name] !== 'function');
  if (missing.length) throw new Error(`worker: no handler for job(s) ${missing.join(', ')}`);

  const lockDuration = options.lockDurationMs ?? LOCK_DURATION_MS;
  const freezeMs = freezeMsFor(lockDuration);
  const watch = options.freezeWatch ? startFreezeWatch({ redisUrl: options.freezeWatch.redisUrl, freezeMs }) : undefined;
  let closing = false;

  function startInstance(queue: QueueName, state: () => QueueState): Instance {
    const connection = options.connection();
    const log = options.log.child({ queue });
    const instance: Instance = { worker: undefined as unknown as Worker, connection, running: 0 };
    instance.worker = new Worker(
      queue,
      async (job, token, signal) => {
        state().lastStartedAt = Date.now();
        instance.running += 1;
        try {
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
        } finally {
          instance.running -= 1;
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
    const worker = instance.worker;
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
    return instance;
  }

  const states = {} as Record<QueueName, QueueState>;
  for (const queue of QUEUE_NAMES) {
    states[queue] = { current: undefined as unknown as Instance, retired: new Set(), lastStartedAt: Date.now() };
    states[queue].current = startInstance(queue, () => states[queue]);
  }

  /** Jobs this process runs on `queue`: its current Worker's and those of replaced ones still finishing. */
  const runningOn = (queue: QueueName): number => {
    let n = states[queue].current.running;
    for (const instance of states[queue].retired) n += instance.running;
    return n;
  };

  // Forced close and disconnect can wait on a command a restarted Redis node never answers, and
  // disconnect() on a cluster connection may never see 'end': every step is bounded.
  const closeForced = (instance: Instance) =>
    withDeadline(instance.worker.close(true), 2_000, () => withDeadline(instance.worker.disconnect(), 1_000, () => undefined));

  /**
   * Lets a replaced Worker finish the jobs it runs, then closes it. Paused without waiting: it
   * takes no new job should it come unstuck, and its lock manager keeps renewing the locks of
   * the jobs it still runs (closing it now would stop that and hand them to another worker).
   */
  async function retire(queue: QueueName, instance: Instance): Promise<void> {
    const state = states[queue];
    state.retired.add(instance);
    void instance.worker.pause(true).catch(() => undefined);
    while (instance.running > 0 && !closing) await sleep(500);
    if (closing) return; // close() takes it from here, with the grace period.
    await closeForced(instance);
    await closeRedis(instance.connection);
    state.retired.delete(instance);
  }

  const consumption = options.consumptionWatch;
  const watchdogs = consumption
    ? QUEUE_NAMES.map((queue) =>
        watchConsumption({
          queueName: queue,
          worker: () => states[queue].current.worker,
          queue: consumption.queues[queue],
          concurrency: options.concurrency[queue],
          running: () => runningOn(queue),
          lastStartedAt: () => states[queue].lastStartedAt,
          stallMs: consumption.stallMs ?? CONSUMPTION_STALL_MS,
          intervalMs: consumption.intervalMs ?? Math.max(500, Math.round((consumption.stallMs ?? CONSUMPTION_STALL_MS) / 4)),
          log: options.log,
          recreate: async () => {
            if (closing) return;
            const state = states[queue];
            const old = state.current;
            state.current = startInstance(queue, () => state);
            // A fresh Worker gets a full stall period before it can be judged.
            state.lastStartedAt = Date.now();
            options.services.metrics.recordWorkerRecreated(queue);
            void retire(queue, old).catch((err: unknown) => options.log.warn({ err, queue }, 'could not close the replaced worker'));
          },
        }),
      )
    : [];

  const workers = {} as Record<QueueName, Worker>;
  for (const queue of QUEUE_NAMES) Object.defineProperty(workers, queue, { enumerable: true, get: () => states[queue].current.worker });
  return {
    workers,
    running: runningOn,
    async close(graceMs) {
      closing = true;
      for (const w of watchdogs) w.stop();
      let forced = false;
      const current = QUEUE_NAMES.map((queue) => states[queue].current);
      const retired = QUEUE_NAMES.flatMap((queue) => [...states[queue].retired]);
      const instances = [...current, ...retired];
      // A replaced Worker's fetch loop may never return (that is why it was replaced), so its
      // close() would never resolve: wait for its jobs instead, then close it forced.
      const finish = async (instance: Instance) => {
        if (!retired.includes(instance)) return instance.worker.close();
        while (instance.running > 0) await sleep(200);
        await closeForced(instance);
      };
      await Promise.all(
        instances.map((instance) =>
          withDeadline(finish(instance), graceMs, async () => {
            forced = true;
            options.log.warn({ queue: instance.worker.name, grace_ms: graceMs }, 'active jobs did not finish in time: aborting them');
            instance.worker.cancelAllJobs('shutdown grace period over');
            await closeForced(instance);
          }),
        ),
      );
      await Promise.all(instances.map((instance) => closeRedis(instance.connection)));
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
