import { raw } from '@mikro-orm/core';
import { sql as rawSql, type OperationNodeSource, type Selectable, type SqlBool } from 'kysely';
import type { EntityManager } from './orm.ts';
import { JobRun, type JobStats, type JobStatus } from './entities.ts';
import { sql, type DB } from './sql.ts';

export interface RunStart {
  queue: string;
  jobName: string;
  jobId: string | null;
  sourceId: string | null;
  attempt: number;
}

export type RunOutcome = { status: Exclude<JobStatus, 'running'>; stats?: JobStats | null; error?: string | null };

/**
 * Single-row job_run writes, one statement each (bench/job-path.ts counts them). The fetch
 * path folds its row into the statements that read and write its source (openRunReading,
 * closeRunWith), so a small fetch costs the same two statements as the bookkeeping alone.
 */

const startValues = (start: RunStart) => ({
  queue: start.queue,
  job_name: start.jobName,
  job_id: start.jobId,
  source_id: start.sourceId,
  attempt: start.attempt,
});

/**
 * Opens a `running` row in its own statement, so it is visible while the job runs. Through
 * Kysely rather than em.insert: with the partition key in job_run's primary key (id,
 * started_at), em.insert does not hand back the generated id.
 */
export async function openRun(em: EntityManager, start: RunStart): Promise<number> {
  const row = await sql(em)
    .insertInto('job_run')
    .values({ ...startValues(start), status: 'running', started_at: new Date() })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/**
 * Opens a `running` row and reads the job's source in ONE statement (a data-modifying CTE
 * joined to the source row): the fetch path's first round trip. `source` is undefined when
 * no such source exists; the row is opened either way, so the failure has a row to close.
 */
export async function openRunReading(em: EntityManager, start: RunStart, sourceId: string) {
  const db = sql(em);
  const row = await db
    .with('run', (q) =>
      q
        .insertInto('job_run')
        .values({ ...startValues(start), status: 'running', started_at: new Date() })
        .returning('id'),
    )
    .selectFrom('run')
    .leftJoin('source', (join) => join.on('source.id', '=', sourceId))
    .selectAll('source')
    .select(['run.id as run_id', rawSql<boolean>`source.id is not null`.as('found')])
    .executeTakeFirstOrThrow();
  const { run_id, found, ...source } = row;
  // The left join types every column nullable; a row whose key matched has them as stored.
  // Its id is the key it matched on: the converted `id` column may be read as job_run's (a number).
  return { runId: Number(run_id), source: found ? ({ ...source, id: sourceId } as SourceRow) : undefined };
}

/** A source row as openRunReading and readSource return it. */
export type SourceRow = Selectable<DB['source']>;

/** Reads one source row (the fetch path's re-read under the lease, see fetch.job.ts). */
export async function readSource(em: EntityManager, sourceId: string): Promise<SourceRow | undefined> {
  return sql(em).selectFrom('source').selectAll().where('id', '=', sourceId).executeTakeFirst();
}

/**
 * Closes a row that is still `running`. A handler may close its own row inside its
 * transaction (so results and the row commit together); the wrapper then skips its own
 * call, and a later call would be a no-op. Returns whether this call closed it.
 */
export async function closeRun(em: EntityManager, runId: number, outcome: RunOutcome): Promise<boolean> {
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

/**
 * A write that must commit with the closing of a run, or not at all: an UPDATE (built on the
 * same Kysely instance) returning one row per row it changed.
 */
export type SideWrite = OperationNodeSource;

/**
 * Closes a `running` row and applies `write` in ONE statement (two data-modifying CTEs, one
 * snapshot, one implicit transaction): the fetch path's second round trip. The row records
 * `outcome` when the write changed a row, `otherwise` when it did not (a fenced-out stale
 * fetch). Returns whether the write applied and whether the row was still open.
 */
export async function closeRunWith(
  em: EntityManager,
  runId: number,
  write: (db: ReturnType<typeof sql>) => SideWrite,
  outcome: RunOutcome,
  otherwise: RunOutcome,
): Promise<{ applied: boolean; closed: boolean }> {
  const db = sql(em);
  const json = (stats: JobStats | null | undefined) => (stats == null ? null : JSON.stringify(stats));
  const applied = rawSql<SqlBool>`exists (select 1 from w)`;
  const pick = <T>(a: T, b: T) => rawSql<T>`case when ${applied} then ${a} else ${b} end`;
  const result = await rawSql<{ applied: boolean; closed: boolean }>`
    with w as (${write(db)}),
    r as (
      update job_run set
        status = ${pick(outcome.status, otherwise.status)},
        finished_at = clock_timestamp(),
        duration_ms = greatest(0, round(extract(epoch from clock_timestamp() - started_at) * 1000))::int,
        stats = ${pick(json(outcome.stats), json(otherwise.stats))}::jsonb,
        error = ${pick(outcome.error ?? null, otherwise.error ?? null)}
      where id = ${runId} and status = 'running'
      returning 1)
    select ${applied} as applied, exists (select 1 from r) as closed`.execute(db);
  const row = result.rows[0];
  return { applied: row?.applied === true, closed: row?.closed === true };
}

/** Removes the row of an attempt that did no work because it was put back to wait (deferred). */
export async function dropRun(em: EntityManager, runId: number): Promise<void> {
  await em.nativeDelete(JobRun, { id: runId, status: 'running' });
}

/**
 * A finished attempt that never opened a row (it finished before needing one: a fetch that
 * skipped, or a job failed by BullMQ after repeated stalls): one insert of the closed row.
 */
export async function recordRun(em: EntityManager, start: RunStart, outcome: RunOutcome): Promise<void> {
  const now = new Date();
  await em.insert(JobRun, { ...start, status: outcome.status, startedAt: now, finishedAt: now, durationMs: 0, stats: outcome.stats ?? null, error: outcome.error ?? null });
}

/** A failure with no attempt row of its own (a job failed by BullMQ after repeated stalls). */
export async function recordFailedRun(em: EntityManager, start: RunStart, error: string): Promise<void> {
  await recordRun(em, start, { status: 'failed', error });
}
