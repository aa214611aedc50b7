import type { QueryResult } from '@mikro-orm/core';
import type { EntityManager } from './orm.ts';
import type { JobStats, JobStatus } from './entities.ts';
import { sql } from './sql.ts';

export interface RunStart {
  queue: string;
  jobName: string;
  jobId: string | null;
  sourceId: string | null;
  attempt: number;
}

/** Opens a `running` row in its own statement, so it is visible while the job runs. */
export async function openRun(em: EntityManager, start: RunStart): Promise<number> {
  const row = await sql(em)
    .insertInto('job_run')
    .values({
      queue: start.queue,
      job_name: start.jobName,
      job_id: start.jobId,
      source_id: start.sourceId,
      attempt: start.attempt,
      status: 'running',
      started_at: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/**
 * Closes a row that is still `running`. A handler may close its own row inside its
 * transaction (so results and the row commit together); the wrapper's later call is then
 * a no-op. Returns whether this call closed it.
 */
export async function closeRun(
  em: EntityManager,
  runId: number,
  outcome: { status: Exclude<JobStatus, 'running'>; stats?: JobStats | null; error?: string | null },
): Promise<boolean> {
  const result = await em.execute<QueryResult>(
    `update job_run
        set status = ?, finished_at = clock_timestamp(),
            duration_ms = greatest(0, round(extract(epoch from clock_timestamp() - started_at) * 1000))::int,
            stats = ?::jsonb, error = ?
      where id = ? and status = 'running'`,
    [outcome.status, outcome.stats ? JSON.stringify(outcome.stats) : null, outcome.error ?? null, runId],
    'run',
  );
  return result.affectedRows === 1;
}
