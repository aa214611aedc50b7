import { raw } from '@mikro-orm/core';
import type { EntityManager } from './orm.ts';
import { JobRun, type JobStats, type JobStatus } from './entities.ts';
import { sql } from './sql.ts';

export interface RunStart {
  queue: string;
  jobName: string;
  jobId: string | null;
  sourceId: string | null;
  attempt: number;
}

/**
 * Single-row job_run writes go through the EntityManager (one statement each, like the
 * hand-written SQL they replaced: bench/job-path.ts measures the job path with them).
 */

/**
 * Opens a `running` row in its own statement, so it is visible while the job runs. Through
 * Kysely rather than em.insert: with the partition key in job_run's primary key (id,
 * started_at), em.insert does not hand back the generated id.
 */
export async function openRun(em: EntityManager, start: RunStart): Promise<number> {
  const row = await sql(em)
    .insertInto('job_run')
    .values({ queue: start.queue, job_name: start.jobName, job_id: start.jobId, source_id: start.sourceId, attempt: start.attempt, status: 'running', started_at: new Date() })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/**
 * Closes a row that is still `running`. A handler may close its own row inside its
 * transaction (so results and the row commit together); the wrapper then skips its own
 * call, and a later call would be a no-op. Returns whether this call closed it.
 */
export async function closeRun(
  em: EntityManager,
  runId: number,
  outcome: { status: Exclude<JobStatus, 'running'>; stats?: JobStats | null; error?: string | null },
): Promise<boolean> {
  // The database's clock for both ends, so durations never go negative across hosts.
  const affected = await em.nativeUpdate(
    JobRun,
    { id: runId, status: 'running' },
    {
      status: outcome.status,
      finishedAt: raw('clock_timestamp()'),
      durationMs: raw('greatest(0, round(extract(epoch from clock_timestamp() - started_at) * 1000))::int'),
      stats: outcome.stats ?? null,
      error: outcome.error ?? null,
    },
  );
  return affected === 1;
}

/** Removes the row of an attempt that did no work because it was put back to wait (deferred). */
export async function dropRun(em: EntityManager, runId: number): Promise<void> {
  await em.nativeDelete(JobRun, { id: runId, status: 'running' });
}

/** A failure with no attempt row of its own (a job failed by BullMQ after repeated stalls). */
export async function recordFailedRun(em: EntityManager, start: RunStart, error: string): Promise<void> {
  const now = new Date();
  await em.insert(JobRun, { ...start, status: 'failed', startedAt: now, finishedAt: now, durationMs: 0, error });
}
