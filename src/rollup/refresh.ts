/**
 * Incremental refresh: consume the rollup_dirty marks, recompute exactly those hours, then
 * the days they belong to. Each batch of marks is consumed and applied in ONE transaction, so
 * a crash mid-refresh rolls the marks back with the partial work. Concurrent refreshes (one
 * per worker) consume disjoint marks and serialise per UTC day (statements.ts, "Locking"): a
 * refresh never waits for a whole rebuild, only for a chunk of the same day, and is never
 * skipped because another holds a lock.
 */
import { sql as kysql, type Kysely } from 'kysely';
import type { EntityManager } from '../db/orm.ts';
import { sql, type DB } from '../db/sql.ts';
import { articleRetentionCutoff } from '../db/partitions.ts';
import { retentionCutoff } from './buckets.ts';
import { lockDays, lockRollupsShared, refreshDays, refreshHours, type MarkArrays } from './statements.ts';

export interface RefreshOptions {
  /** Marks per transaction; a backlog (after a backfill) is worked off in batches of this size. */
  limit?: number;
  /** Stop between batches when aborted (the remaining marks wait for the next refresh). */
  signal?: AbortSignal;
  /**
   * Raw-article retention. Marks for hours before the retention cutoff (a re-fetched or very
   * late article older than the window) are consumed but not applied: those buckets lost raw
   * articles to prune, so recomputing them would empty them. Counted in `staleMarks`.
   */
  retentionDays?: number;
  /** The clock for the retention cutoff; the database's now() when absent (tests pin it). */
  now?: () => Date;
  /** Test hook: runs inside each batch's transaction after its marks were consumed, before recomputing. */
  afterConsume?: (marks: number) => Promise<void>;
}

export interface RefreshStats {
  /** Marks consumed. */
  marks: number;
  /** Hourly rows recomputed that still have data. */
  hours: number;
  /** Daily rows recomputed that still have data. */
  days: number;
  /** Rows actually inserted or changed (hour + day). */
  written: number;
  deletedHours: number;
  deletedDays: number;
  batches: number;
  /** Marks consumed but not applied because their hour is older than the retention cutoff. */
  staleMarks: number;
}

export const DEFAULT_REFRESH_LIMIT = 10_000;

interface ConsumedMarks extends MarkArrays {
  count: number;
}

/**
 * Deletes up to `limit` marks and returns them. FOR UPDATE SKIP LOCKED leaves marks that an
 * in-flight ingest transaction is re-marking to that transaction (it commits them; the next
 * refresh takes them). This MUST be its own statement: READ COMMITTED gives the recompute
 * statements a later snapshot, so when the lock follows a mark updated by an ingest that
 * committed after this statement began, that ingest's articles are visible to the recompute.
 */
async function consumeMarks(em: EntityManager, limit: number): Promise<ConsumedMarks> {
  const { rows } = await kysql<{ entity_ids: number[] | null; hour_epochs: number[] | null; count: number }>`
with picked as (
  select entity_id, hour_start from rollup_dirty
   order by marked_at, entity_id, hour_start
   limit ${limit}
   for update skip locked
),
consumed as (
  delete from rollup_dirty d
   using picked p
   where d.entity_id = p.entity_id and d.hour_start = p.hour_start
  returning d.entity_id, d.hour_start
)
select array_agg(entity_id) as entity_ids,
       array_agg(extract(epoch from hour_start)::float8) as hour_epochs,
       count(*)::int as count
  from consumed`.execute(sql(em));
  const row = rows[0];
  return { entityIds: row?.entity_ids ?? [], hourEpochs: (row?.hour_epochs ?? []).map(Number), count: row?.count ?? 0 };
}

async function withinRetention(db: Kysely<DB>, marks: MarkArrays, options: RefreshOptions): Promise<MarkArrays> {
  if (options.retentionDays === undefined) return marks;
  // Every worker agrees on the cutoff: the database's clock, not this process's.
  const cutoff = options.now ? retentionCutoff(options.now(), options.retentionDays) : await articleRetentionCutoff(db, options.retentionDays);
  const cutoffSeconds = cutoff.getTime() / 1000;
  const kept: MarkArrays = { entityIds: [], hourEpochs: [] };
  marks.hourEpochs.forEach((epoch, i) => {
    const entityId = marks.entityIds[i];
    if (epoch >= cutoffSeconds && entityId !== undefined) {
      kept.entityIds.push(entityId);
      kept.hourEpochs.push(epoch);
    }
  });
  return kept;
}

/** Refreshes every dirty (entity, hour) and its day. */
export async function refreshDirty(em: EntityManager, options: RefreshOptions = {}): Promise<RefreshStats> {
  const limit = options.limit ?? DEFAULT_REFRESH_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`refresh: limit must be a positive integer, got ${limit}`);
  const stats: RefreshStats = { marks: 0, hours: 0, days: 0, written: 0, deletedHours: 0, deletedDays: 0, batches: 0, staleMarks: 0 };

  for (;;) {
    if (options.signal?.aborted) break;
    const batch = await em.fork().transactional(async (tx) => {
      const db = sql(tx);
      await lockRollupsShared(db);
      const consumed = await consumeMarks(tx, limit);
      const none = { present: 0, written: 0, deleted: 0 };
      if (consumed.count === 0) return { marks: 0, stale: 0, hours: none, days: none };
      await options.afterConsume?.(consumed.count);
      const marks = await withinRetention(db, consumed, options);
      const stale = consumed.count - marks.entityIds.length;
      if (marks.entityIds.length === 0) return { marks: consumed.count, stale, hours: none, days: none };
      // After consuming (a separate statement, see consumeMarks): the statements below run on
      // snapshots taken after any rebuild chunk of these days has committed.
      await lockDays(db, marks.hourEpochs);
      const hours = await refreshHours(db, marks);
      const days = await refreshDays(db, marks);
      return { marks: consumed.count, stale, hours, days };
    });
    if (batch.marks === 0) break;
    stats.batches += 1;
    stats.marks += batch.marks;
    stats.staleMarks += batch.stale;
    stats.hours += batch.hours.present;
    stats.days += batch.days.present;
    stats.written += batch.hours.written + batch.days.written;
    stats.deletedHours += batch.hours.deleted;
    stats.deletedDays += batch.days.deleted;
    // A short batch drained everything this refresh could see; newer marks wait for the next one.
    if (batch.marks < limit) break;
  }
  return stats;
}
