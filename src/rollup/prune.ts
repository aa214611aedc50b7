/**
 * Retention. Raw articles (with their article_entity links) and job runs live in month
 * partitions: a month whose every row is older than its cutoff is DETACHed and DROPped whole,
 * never deleted row by row. Retention is therefore whole months: rows between the start of
 * the cutoff's month and the cutoff stay until their month goes (the rollups and rebuild
 * only rely on "nothing at or after the cutoff is missing", which still holds).
 *
 * The deduplication keys of a dropped month (article_key, unpartitioned) are deleted after
 * the drop, in batches on their published_at index. Keys do not outlive their articles: ingest
 * skips items published before the retention cutoff (persist.ts), so a pruned article is never
 * re-inserted even though its key is gone. Trends are not partitioned (small) and keep their
 * batched delete.
 *
 * Cutoffs come from the database's now(), so every worker agrees. Rollups are never touched
 * and nothing is marked dirty: the rollups outlive the raw data.
 */
import { sql as kysql } from 'kysely';
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import { addMonths, databaseNow, listPartitions, type PartitionedTable } from '../db/partitions.ts';
import { addDays, retentionCutoff } from './buckets.ts';
import { lockRollups } from './statements.ts';

export interface PruneOptions {
  articleRetentionDays: number;
  jobRunRetentionDays: number;
  /** Rows per delete statement (and transaction) for article keys and trends. */
  batchSize: number;
  /** The clock for the cutoffs; the database's now() when absent (tests pin it). */
  now?: Date;
  signal?: AbortSignal;
}

export interface PruneStats {
  articles: number;
  articleKeys: number;
  trends: number;
  jobRuns: number;
  /** Partitions detached and dropped, by name. */
  droppedPartitions: string[];
  batches: number;
  /** ISO cutoffs: raw data published / observed before them is past retention. */
  articleCutoff: string;
  jobRunCutoff: string;
}

export async function pruneRaw(em: EntityManager, options: PruneOptions): Promise<PruneStats> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`prune: batchSize must be a positive integer, got ${batchSize}`);
  const now = options.now ?? (await databaseNow(sql(em.fork())));
  // Day-aligned, the same cutoff rebuild and ingest use.
  const articleCutoff = retentionCutoff(now, options.articleRetentionDays);
  const jobRunCutoff = addDays(now, -options.jobRunRetentionDays);
  const stats: PruneStats = {
    articles: 0,
    articleKeys: 0,
    trends: 0,
    jobRuns: 0,
    droppedPartitions: [],
    batches: 0,
    articleCutoff: articleCutoff.toISOString(),
    jobRunCutoff: jobRunCutoff.toISOString(),
  };

  // article_entity references article, so a month's links go first, in the same transaction.
  stats.articles = await dropMonths(em, ['article_entity', 'article'], articleCutoff, true, options, stats);
  const keyCutoff = (await oldestMonth(em, 'article')) ?? articleCutoff;
  stats.articleKeys = await deleteInBatches(em, options, false, (limit) => kysql`
    delete from article_key where (source_id, external_id) in (
      select source_id, external_id from article_key where published_at < ${keyCutoff.toISOString()}::timestamptz limit ${limit})`, stats);
  stats.trends = await deleteInBatches(em, options, true, (limit) => kysql`
    delete from trend where id in (
      select id from trend where observed_at < ${articleCutoff.toISOString()}::timestamptz order by observed_at limit ${limit})`, stats);
  stats.jobRuns = await dropMonths(em, ['job_run'], jobRunCutoff, false, options, stats);
  return stats;
}

/** Start of the oldest remaining month partition of `table` (keys before it belong to dropped months). */
async function oldestMonth(em: EntityManager, table: PartitionedTable): Promise<Date | null> {
  return (await listPartitions(sql(em.fork()), table))[0]?.month ?? null;
}

/**
 * Detaches and drops, one month per transaction, the partitions of `tables` whose month ends
 * at or before `cutoff`. Returns the rows the last table's dropped partitions held.
 */
async function dropMonths(em: EntityManager, tables: PartitionedTable[], cutoff: Date, lock: boolean, options: PruneOptions, stats: PruneStats): Promise<number> {
  const main = tables[tables.length - 1]!;
  const expired = (await listPartitions(sql(em.fork()), main)).filter((p) => addMonths(p.month, 1) <= cutoff);
  let rows = 0;
  for (const { month } of expired) {
    options.signal?.throwIfAborted();
    rows += await em.fork().transactional(async (tx) => {
      const db = sql(tx);
      // A rebuild chunk never reads a half-dropped month; DETACH waits for readers of the
      // parent, but not forever (the next prune retries).
      if (lock) await lockRollups(db, true);
      await kysql`set local lock_timeout = '30s'`.execute(db);
      let count = 0;
      for (const table of tables) {
        const partition = (await listPartitions(db, table)).find((p) => p.month.getTime() === month.getTime());
        if (!partition) continue;
        if (table === main) {
          const { rows: counted } = await kysql<{ n: number }>`select count(*)::int as n from ${kysql.id(partition.name)}`.execute(db);
          count = counted[0]?.n ?? 0;
        }
        await kysql`alter table ${kysql.id(table)} detach partition ${kysql.id(partition.name)}`.execute(db);
        await kysql`drop table ${kysql.id(partition.name)}`.execute(db);
        stats.droppedPartitions.push(partition.name);
      }
      return count;
    });
    stats.batches += 1;
  }
  return rows;
}

async function deleteInBatches(
  em: EntityManager,
  options: PruneOptions,
  lock: boolean,
  statement: (limit: number) => ReturnType<typeof kysql>,
  stats: PruneStats,
): Promise<number> {
  let total = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const deleted = await em.fork().transactional(async (tx) => {
      const db = sql(tx);
      if (lock) await lockRollups(db, true);
      const result = await statement(options.batchSize).execute(db);
      return Number(result.numAffectedRows ?? 0n);
    });
    stats.batches += 1;
    total += deleted;
    if (deleted < options.batchSize) return total;
  }
}
