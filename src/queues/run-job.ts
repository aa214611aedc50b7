import type { Job } from 'bullmq';
import { DelayedError, UnrecoverableError } from 'bullmq';
import { errorMessage, PermanentError, toBullError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Orm } from '../db/orm.ts';
import type { JobStats } from '../db/entities.ts';
import { closeRun, dropRun, openRun, recordRun, type OpenedRun, type RunOutcome, type RunStart } from '../db/job-runs.ts';
import { checkPayload, isJobName, JOBS, type QueueName } from './catalogue.ts';
import type { HandlerMap, JobContext, RunRef } from './context.ts';
import type { Services } from '../services.ts';

export interface RunDeps {
  orm: Orm;
  log: Logger;
  handlers: HandlerMap;
  services: Services;
}

/**
 * The one wrapper every job runs in: opens a job_run row (running; a job marked `opensRun`
 * opens it itself, see RunRef), forks an
 * EntityManager, hands the handler a child logger, and closes the row as completed (with
 * stats) or failed (with the error) whatever happens. Permanent errors become BullMQ's
 * UnrecoverableError so they are not retried. A job the handler put back to wait
 * (DelayedError: its host or source was busy) did no work: its row is dropped.
 */
export async function runJob(queue: QueueName, job: Job, token: string | undefined, signal: AbortSignal | undefined, deps: RunDeps): Promise<JobStats> {
  const name = job.name;
  if (!isJobName(name) || JOBS[name].queue !== queue) {
    throw new UnrecoverableError(`worker ${queue}: unknown job "${name}" (known: ${Object.keys(JOBS).join(', ')})`);
  }
  const data: unknown = job.data;
  const checked = checkPayload(name, data);
  // Only a validated payload names a source: job data never reaches logs or rows unchecked.
  const sourceId = checked.ok && 'sourceId' in checked.data ? checked.data.sourceId : null;
  const attempt = job.attemptsMade + 1;
  const log = deps.log.child({ queue, job_name: name, job_id: job.id ?? null, source_id: sourceId, attempt });
  const metrics = deps.services.metrics;

  const start = { queue, jobName: name, jobId: job.id ?? null, sourceId, attempt };
  const run = runRef(start);
  // Jobs that open their own row do it in the statement that reads what they need.
  if (!('opensRun' in JOBS[name]) || !checked.ok) run.opened(await openRun(deps.orm.em.fork(), start));
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  /** Closes the row with `outcome`, or inserts it closed when the handler finished before opening it. */
  const finish = async (outcome: RunOutcome) => {
    if (run.isClosed) return;
    if (run.isOpen) await closeRun(deps.orm.em.fork(), run.row, outcome);
    else await recordRun(deps.orm.em.fork(), start, outcome);
  };
  try {
    if (!checked.ok) throw new PermanentError(`job ${name}: invalid payload: ${checked.problems.join('; ')}`);
    // The catalogue guarantees handlers[name] takes exactly the payload checkPayload(name) returned.
    const handler = deps.handlers[name] as (payload: unknown, ctx: JobContext) => Promise<JobStats>;
    const stats = await handler(checked.data, {
      em: deps.orm.em.fork(),
      log,
      job,
      signal,
      run,
      token,
      services: deps.services,
      async completeRun(tx, result) {
        if (await closeRun(tx, run.row, { status: 'completed', stats: result })) run.closed();
      },
    });
    await finish({ status: 'completed', stats });
    metrics.recordJob(queue, name, 'completed', seconds(), stats);
    log.info({ stats, duration_ms: Math.round(seconds() * 1000) }, 'job completed');
    return stats;
  } catch (thrown) {
    if (thrown instanceof DelayedError) {
      if (run.isOpen && !run.isClosed) await dropRun(deps.orm.em.fork(), run.row).catch((dropErr: unknown) => log.warn({ err: dropErr }, 'could not drop the row of a deferred job'));
      metrics.recordJob(queue, name, 'deferred', seconds(), null);
      log.debug({ reason: thrown.message }, 'job deferred');
      throw thrown;
    }
    const err = thrown instanceof Error ? thrown : new Error(`non-Error thrown: ${errorMessage(thrown)}`);
    await finish({ status: 'failed', error: err.message }).catch((closeErr: unknown) =>
      log.warn({ err: closeErr }, 'could not record job failure (the reaper will mark the row abandoned)'),
    );
    metrics.recordJob(queue, name, 'failed', seconds(), null);
    const permanent = err instanceof PermanentError || err instanceof UnrecoverableError;
    log[permanent ? 'error' : 'warn']({ err, duration_ms: Math.round(seconds() * 1000), will_retry: !permanent && attempt < (job.opts.attempts ?? 1) }, 'job failed');
    throw toBullError(err);
  }
}

/** The attempt's row as the wrapper and its handler share it: open or not, closed or not. */
function runRef(start: RunStart): RunRef & { readonly isClosed: boolean } {
  let row: OpenedRun | undefined;
  let closed = false;
  return {
    start,
    get row() {
      if (row === undefined) throw new Error(`job ${start.jobName} ${start.jobId ?? ''}: its job_run row is not open yet`);
      return row;
    },
    get isOpen() {
      return row !== undefined;
    },
    get isClosed() {
      return closed;
    },
    opened(opened) {
      row = opened;
    },
    closed() {
      closed = true;
    },
  };
}
