import { sql as rawSql, type Kysely, type OperationNodeSource, type SqlBool } from 'kysely';
import type { SourceKind } from '../sources/types.ts';
import type { EntityManager } from './orm.ts';
import { JobRun, type JobStats, type JobStatus } from './entities.ts';
import { runNamed } from './named.ts';
import type { DB } from './sql.ts';

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
 * The statements every job sends run named (see named.ts), and name the row by its whole
 * primary key, (id, started_at): Postgres then plans and touches one month partition, not
 * all of them.
 */

/** An open row: its id and its partition key. */
export interface OpenedRun {
  id: number;
  startedAt: Date;
}

const startValues = (start: RunStart, startedAt: Date) => ({
  queue: start.queue,
  job_name: start.jobName,
  job_id: start.jobId,
  source_id: start.sourceId,
  attempt: start.attempt,
  status: 'running' as const,
  started_at: startedAt,
});

/** Typed SQL without MikroORM's value conversions: for statements compiled for runNamed. */
const plain = (em: EntityManager) => em.getKysely<DB>();

/** Opens a `running` row in its own statement, so it is visible while the job runs. */
export async function openRun(em: EntityManager, start: RunStart): Promise<OpenedRun> {
  const startedAt = new Date();
  const [row] = await runNamed(em, plain(em).insertInto('job_run').values(startValues(start, startedAt)).returning('id').compile());
  if (!row) throw new Error('job_run: the insert returned no id');
  return { id: Number(row.id), startedAt };
}

/**
 * What the fetch path reads of its source. Read without MikroORM's conversions (see
 * named.ts), so the two columns pg would hand back as text come as numbers.
 */
export interface FetchSource {
  id: string;
  kind: SourceKind;
  url: string | null;
  query: string | null;
  enabled: boolean;
  etag: string | null;
  last_modified: string | null;
  consecutive_failures: number;
  backoff_until: Date | null;
  fence: number;
}

const FETCH_COLUMNS = [
  'source.kind',
  'source.url',
  'source.query',
  'source.enabled',
  'source.etag',
  'source.last_modified',
  'source.consecutive_failures',
  rawSql<number | null>`(extract(epoch from source.backoff_until) * 1000)::float8`.as('backoff_until_ms'),
  rawSql<number>`source.fence::float8`.as('fence'),
] as const;

type FetchColumns = Omit<FetchSource, 'id' | 'backoff_until'> & { backoff_until_ms: number | null };

function fetchSource(id: string, { backoff_until_ms, ...row }: FetchColumns): FetchSource {
  return { id, ...row, backoff_until: backoff_until_ms === null ? null : new Date(backoff_until_ms) };
}

/**
 * Opens a `running` row and reads the job's source in ONE statement (a data-modifying CTE
 * joined to the source row): the fetch path's first round trip. `source` is undefined when
 * no such source exists; the row is opened either way, so the failure has a row to close.
 */
export async function openRunReading(em: EntityManager, start: RunStart, sourceId: string): Promise<{ run: OpenedRun; source: FetchSource | undefined }> {
  const startedAt = new Date();
  const query = plain(em)
    .with('run', (q) => q.insertInto('job_run').values(startValues(start, startedAt)).returning('id'))
    .selectFrom('run')
    .leftJoin('source', (join) => join.on('source.id', '=', sourceId))
    .select(FETCH_COLUMNS)
    .select(['run.id as run_id', rawSql<boolean>`source.id is not null`.as('found')])
    .compile();
  const [row] = await runNamed(em, query);
  if (!row) throw new Error('job_run: the insert returned no id');
  const { run_id, found, ...source } = row;
  // The left join types every column nullable; a row whose key matched has them as stored.
  return { run: { id: Number(run_id), startedAt }, source: found ? fetchSource(sourceId, source as FetchColumns) : undefined };
}

/** Reads one source as the fetch path needs it (its re-read under the lease, see fetch.job.ts). */
export async function readSource(em: EntityManager, sourceId: string): Promise<FetchSource | undefined> {
  const [row] = await runNamed(em, plain(em).selectFrom('source').select(FETCH_COLUMNS).where('source.id', '=', sourceId).compile());
  return row && fetchSource(sourceId, row);
}

const json = (stats: JobStats | null | undefined) => (stats == null ? null : JSON.stringify(stats));
// The database's clock for both ends, so durations never go negative across hosts.
const DURATION_MS = rawSql<number>`greatest(0, round(extract(epoch from clock_timestamp() - started_at) * 1000))::int`;

/**
 * Closes a row that is still `running`. A handler may close its own row inside its
 * transaction (so results and the row commit together); the wrapper then skips its own
 * call, and a later call would be a no-op. Returns whether this call closed it.
 */
export async function closeRun(em: EntityManager, run: OpenedRun, outcome: RunOutcome): Promise<boolean> {
  const query = plain(em)
    .updateTable('job_run')
    .set({
      status: outcome.status,
      finished_at: rawSql<Date>`clock_timestamp()`,
      duration_ms: DURATION_MS,
      stats: rawSql<JobStats | null>`${json(outcome.stats)}::jsonb`,
      error: outcome.error ?? null,
    })
    .where('id', '=', run.id)
    .where('started_at', '=', run.startedAt)
    .where('status', '=', 'running')
    .returning('id')
    .compile();
  return (await runNamed(em, query)).length === 1;
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
  run: OpenedRun,
  write: (db: Kysely<DB>) => SideWrite,
  outcome: RunOutcome,
  otherwise: RunOutcome,
): Promise<{ applied: boolean; closed: boolean }> {
  const db = plain(em);
  const applied = rawSql<SqlBool>`exists (select 1 from w)`;
  const pick = <T>(a: T, b: T) => rawSql<T>`case when ${applied} then ${a} else ${b} end`;
  const query = rawSql<{ applied: boolean; closed: boolean }>`
    with w as (${write(db)}),
    r as (
      update job_run set
        status = ${pick(outcome.status, otherwise.status)},
        finished_at = clock_timestamp(),
        duration_ms = ${DURATION_MS},
        stats = ${pick(json(outcome.stats), json(otherwise.stats))}::jsonb,
        error = ${pick(outcome.error ?? null, otherwise.error ?? null)}
      where id = ${run.id} and started_at = ${run.startedAt} and status = 'running'
      returning 1)
    select ${applied} as applied, exists (select 1 from r) as closed`.compile(db);
  const [row] = await runNamed(em, query);
  return { applied: row?.applied === true, closed: row?.closed === true };
}

/** Removes the row of an attempt that did no work because it was put back to wait (deferred). */
export async function dropRun(em: EntityManager, run: OpenedRun): Promise<void> {
  await runNamed(em, plain(em).deleteFrom('job_run').where('id', '=', run.id).where('started_at', '=', run.startedAt).where('status', '=', 'running').compile());
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
