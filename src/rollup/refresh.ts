/**
 * Incremental refresh: consume the rollup_dirty marks, recompute exactly the hours marked for
 * recomputation, merge the insert-only deltas of the others (delta.ts), then re-merge the days
 * they belong to. Each batch of marks is consumed and applied in ONE transaction, so
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
import { lockDays, lockRollupsShared, mergeDeltas, refreshDays, refreshHours, type DeltaArrays, type MarkArrays } from './statements.ts';

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
  /** Hourly rows updated by merging an insert-only delta (counted in `hours` too). */
  mergedHours: number;
  /** Marks consumed but not applied because their hour is older than the retention cutoff. */
  staleMarks: number;
}

export const DEFAULT_REFRESH_LIMIT = 10_000;

interface ConsumedMarks {
  count: number;
  /** Hours to recompute from their articles. */
  recompute: MarkArrays;
  /** Hours that only gained links since they were last written: merged from the deltas. */
  deltas: DeltaArrays;
}

interface MarkRow {
  entity_id: number;
  hour_epoch: number;
  recompute: boolean;
  delta_count: number;
  delta_sum: number;
  delta_sumsq: number;
  delta_m2: number;
  delta_min: number | null;
  delta_max: number | null;
  delta_positive: number;
  delta_neutral: number;
  delta_negative: number;
  delta_trends: number;
}

const emptyDeltas = (): DeltaArrays => ({
  entityIds: [],
  hourEpochs: [],
  counts: [],
  sums: [],
  sumsqs: [],
  m2s: [],
  mins: [],
  maxs: [],
  positives: [],
  neutrals: [],
  negatives: [],
  trends: [],
});

/** Splits consumed mark rows into recomputations and deltas (a pure function, tested on fixtures). */
export function splitMarks(rows: readonly MarkRow[]): { recompute: MarkArrays; deltas: DeltaArrays } {
  const recompute: MarkArrays = { entityIds: [], hourEpochs: [] };
  const deltas = emptyDeltas();
  for (const r of rows) {
    if (r.recompute) {
      recompute.entityIds.push(r.entity_id);
      recompute.hourEpochs.push(Number(r.hour_epoch));
      continue;
    }
    deltas.entityIds.push(r.entity_id);
    deltas.hourEpochs.push(Number(r.hour_epoch));
    deltas.counts.push(r.delta_count);
    deltas.sums.push(r.delta_sum);
    deltas.sumsqs.push(r.delta_sumsq);
    deltas.m2s.push(r.delta_m2);
    deltas.mins.push(r.delta_min);
    deltas.maxs.push(r.delta_max);
    deltas.positives.push(r.delta_positive);
    deltas.neutrals.push(r.delta_neutral);
    deltas.negatives.push(r.delta_negative);
    deltas.trends.push(r.delta_trends);
  }
  return { recompute, deltas };
}

/**
 * The UTC days (days since the epoch) of the oldest `limit` marks. Read without locking: the
 * refresh takes these days' locks BEFORE consuming, so a rebuild chunk holding a day never
 * sees a mark of that day consumed-but-unapplied (it could not tell whether a delta mark it
 * turns into a recompute mark was already taken by a refresh that would merge it).
 */
async function oldestMarkDays(db: Kysely<DB>, limit: number): Promise<number[]> {
  const { rows } = await kysql<{ d: number }>`
select distinct floor(extract(epoch from hour_start) / 86400)::int as d
  from (select hour_start from rollup_dirty order by marked_at, entity_id, hour_start limit ${limit}) m`.execute(db);
  return rows.map((r) => r.d);
}

/**
 * Deletes up to `limit` marks of the locked `days` and returns them. FOR UPDATE SKIP LOCKED
 * leaves marks that an in-flight ingest transaction is re-marking to that transaction (it
 * commits them; the next refresh takes them). This MUST be its own statement: READ COMMITTED
 * gives the recompute statements a later snapshot, so when the lock follows a mark updated by
 * an ingest that committed after this statement began, that ingest's articles are visible to
 * the recompute. A delta mark is exact on its own: it is merged, never compared with articles,
 * and an ingest that wants to add to a consumed mark waits for this transaction's row lock,
 * so its links can be neither in the merged delta nor in a recompute of this transaction.
 */
async function consumeMarks(db: Kysely<DB>, limit: number, days: readonly number[]): Promise<ConsumedMarks> {
  const { rows } = await kysql<MarkRow>`
with picked as (
  select entity_id, hour_start from rollup_dirty
   where floor(extract(epoch from hour_start) / 86400)::int = any(${days}::int[])
   order by marked_at, entity_id, hour_start
   limit ${limit}
   for update skip locked
)
delete from rollup_dirty d
 using picked p
 where d.entity_id = p.entity_id and d.hour_start = p.hour_start
returning d.entity_id, extract(epoch from d.hour_start)::float8 as hour_epoch, d.recompute, d.delta_count, d.delta_sum, d.delta_sumsq,
          d.delta_m2, d.delta_min, d.delta_max, d.delta_positive, d.delta_neutral, d.delta_negative, d.delta_trends`.execute(db);
  return { count: rows.length, ...splitMarks(rows) };
}

/** Keeps the entries of parallel arrays (every array field of `arrays`) whose `keep(i)` holds. */
export function keepWhere<T extends MarkArrays>(arrays: T, keep: (i: number) => boolean): T {
  const out = Object.fromEntries(Object.entries(arrays).map(([k, v]) => [k, (v as unknown[]).filter((_, i) => keep(i))]));
  return out as unknown as T;
}

/** The retention cutoff in epoch seconds, or null without retention. */
async function cutoffSeconds(db: Kysely<DB>, options: RefreshOptions): Promise<number | null> {
  if (options.retentionDays === undefined) return null;
  // Every worker agrees on the cutoff: the database's clock, not this process's.
  const cutoff = options.now ? retentionCutoff(options.now(), options.retentionDays) : await articleRetentionCutoff(db, options.retentionDays);
  return cutoff.getTime() / 1000;
}

async function pendingMarks(db: Kysely<DB>): Promise<number> {
  const { rows } = await kysql<{ n: number }>`select count(*)::int as n from rollup_dirty`.execute(db);
  return rows[0]?.n ?? 0;
}

/** Refreshes every dirty (entity, hour) and its day. */
export async function refreshDirty(em: EntityManager, options: RefreshOptions = {}): Promise<RefreshStats> {
  const limit = options.limit ?? DEFAULT_REFRESH_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`refresh: limit must be a positive integer, got ${limit}`);
  const stats: RefreshStats = { marks: 0, hours: 0, days: 0, written: 0, deletedHours: 0, deletedDays: 0, batches: 0, staleMarks: 0, mergedHours: 0 };
  // A batch is confined to the days it locked, so a short batch no longer means "drained": a
  // concurrent refresh may have taken part of those days. So a refresh works until a batch finds
  // nothing (another refresh took it, and goes on itself) or it has consumed as many marks as
  // there were when it began (marks arriving meanwhile wait for the refresh their ingest requested).
  const budget = await pendingMarks(sql(em));

  for (;;) {
    if (options.signal?.aborted) break;
    const batch = await em.fork().transactional(async (tx) => {
      const db = sql(tx);
      const none = { present: 0, written: 0, deleted: 0 };
      await lockRollupsShared(db);
      const days = await oldestMarkDays(db, limit);
      if (days.length === 0) return { marks: 0, stale: 0, hours: none, merged: none, days: none };
      // Before consuming (see oldestMarkDays); the statements below then run on snapshots
      // taken after any rebuild chunk of these days has committed.
      await lockDays(db, days.map((d) => d * 86_400));
      const consumed = await consumeMarks(db, limit, days);
      if (consumed.count === 0) return { marks: 0, stale: 0, hours: none, merged: none, days: none };
      await options.afterConsume?.(consumed.count);
      // Buckets before the cutoff stay as they were (DESIGN: rebuild and refresh never touch
      // them), for deltas too: persist already skips items that old, so only hand-made data lands there.
      const cutoff = await cutoffSeconds(db, options);
      const inWindow = (epochs: number[]) => (i: number) => cutoff === null || (epochs[i] ?? 0) >= cutoff;
      const recompute = keepWhere(consumed.recompute, inWindow(consumed.recompute.hourEpochs));
      const deltas = keepWhere(consumed.deltas, inWindow(consumed.deltas.hourEpochs));
      const stale = consumed.count - recompute.entityIds.length - deltas.entityIds.length;
      const hours = recompute.entityIds.length > 0 ? await refreshHours(db, recompute) : none;
      const merged = deltas.entityIds.length > 0 ? await mergeDeltas(db, deltas, 'hour') : none;
      // A day with a recomputed hour is re-merged from its hours; a day that only gained links takes the deltas.
      const recomputedDays = new Set(recompute.entityIds.map((id, i) => `${id}:${Math.floor((recompute.hourEpochs[i] ?? 0) / 86_400)}`));
      const dayOfDelta = (i: number) => `${deltas.entityIds[i]}:${Math.floor((deltas.hourEpochs[i] ?? 0) / 86_400)}`;
      const deltaOnly = keepWhere(deltas, (i) => !recomputedDays.has(dayOfDelta(i)));
      const withRecompute = keepWhere(deltas, (i) => recomputedDays.has(dayOfDelta(i)));
      const touched: MarkArrays = {
        entityIds: [...recompute.entityIds, ...withRecompute.entityIds],
        hourEpochs: [...recompute.hourEpochs, ...withRecompute.hourEpochs],
      };
      const remerged = touched.entityIds.length > 0 ? await refreshDays(db, touched) : none;
      const dayMerged = deltaOnly.entityIds.length > 0 ? await mergeDeltas(db, deltaOnly, 'day') : none;
      const daysResult = { present: remerged.present + dayMerged.present, written: remerged.written + dayMerged.written, deleted: remerged.deleted };
      return { marks: consumed.count, stale, hours, merged, days: daysResult };
    });
    if (batch.marks === 0) break;
    stats.batches += 1;
    stats.marks += batch.marks;
    stats.staleMarks += batch.stale;
    stats.hours += batch.hours.present + batch.merged.present;
    stats.mergedHours += batch.merged.present;
    stats.days += batch.days.present;
    stats.written += batch.hours.written + batch.merged.written + batch.days.written;
    stats.deletedHours += batch.hours.deleted;
    stats.deletedDays += batch.days.deleted;
    if (stats.marks >= budget) break;
  }
  return stats;
}
