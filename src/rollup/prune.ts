/**
 * Retention: delete raw articles (article_entity cascades), trends (trend_entity cascades)
 * and job_run rows past their windows, in batches so no delete holds one giant transaction.
 * Rollups are never touched and nothing is marked dirty: the rollups are what outlives the
 * raw data (rebuild refuses to recompute buckets before the same cutoff).
 */
import { sql as kysql, type RawBuilder } from 'kysely';
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import { addDays, retentionCutoff } from './buckets.ts';
import { lockRollups } from './statements.ts';

export interface PruneOptions {
  articleRetentionDays: number;
  jobRunRetentionDays: number;
  /** Rows per delete statement (and transaction). */
  batchSize: number;
  now?: Date;
  signal?: AbortSignal;
}

export interface PruneStats {
  articles: number;
  trends: number;
  jobRuns: number;
  batches: number;
  /** ISO cutoffs: raw data published / observed before them was deleted. */
  articleCutoff: string;
  jobRunCutoff: string;
}

export async function pruneRaw(em: EntityManager, options: PruneOptions): Promise<PruneStats> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`prune: batchSize must be a positive integer, got ${batchSize}`);
  const now = options.now ?? new Date();
  // Day-aligned, the same cutoff rebuild uses: every bucket at or after it keeps all its articles.
  const articleCutoff = retentionCutoff(now, options.articleRetentionDays).toISOString();
  const jobRunCutoff = addDays(now, -options.jobRunRetentionDays).toISOString();
  const stats: PruneStats = { articles: 0, trends: 0, jobRuns: 0, batches: 0, articleCutoff, jobRunCutoff };

  // Raw data deletes hold the rollup lock per batch so a rebuild chunk never reads a half-pruned day.
  stats.articles = await deleteInBatches(em, options, true, kysql`
    delete from article where id in (
      select id from article where published_at < ${articleCutoff}::timestamptz order by published_at limit ${batchSize})`, stats);
  stats.trends = await deleteInBatches(em, options, true, kysql`
    delete from trend where id in (
      select id from trend where observed_at < ${articleCutoff}::timestamptz order by observed_at limit ${batchSize})`, stats);
  stats.jobRuns = await deleteInBatches(em, options, false, kysql`
    delete from job_run where id in (
      select id from job_run where started_at < ${jobRunCutoff}::timestamptz order by started_at limit ${batchSize})`, stats);
  return stats;
}

async function deleteInBatches(em: EntityManager, options: PruneOptions, lock: boolean, statement: RawBuilder<unknown>, stats: PruneStats): Promise<number> {
  let total = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const deleted = await em.fork().transactional(async (tx) => {
      const db = sql(tx);
      if (lock) await lockRollups(db, true);
      const result = await statement.execute(db);
      return Number(result.numAffectedRows ?? 0n);
    });
    stats.batches += 1;
    total += deleted;
    if (deleted < options.batchSize) return total;
  }
}
