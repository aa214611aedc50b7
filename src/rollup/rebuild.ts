/**
 * Rebuild: recompute every hour and day of a range from scratch, the backfill and repair
 * path. Works in chunks (one UTC day by default), each its own transaction holding the
 * locks of its days (statements.ts, "Locking"), so a killed rebuild leaves whole chunks behind
 * and simply runs again, and refreshes of other days go on while it runs.
 */
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import { databaseNow } from '../db/partitions.ts';
import { addDays, chunksOf, daysInRange, countChunks, countDays, countHours, dayCeil, dayOf, hourCeil, hourOf, retentionCutoff } from './buckets.ts';
import { demoteDeltas, lockDays, lockRollupsShared, rebuildDays, rebuildHours } from './statements.ts';

export interface RebuildOptions {
  from: Date;
  /** Exclusive. Hours overlapping [from, to) are rebuilt; days overlapping it are re-merged whole. */
  to: Date;
  /** Only this entity; all entities when absent. */
  entityId?: number;
  /** Hours per chunk (transaction); chunk boundaries are multiples of it since the epoch. Default 24. */
  chunkHours?: number;
  /** Raw-article retention: buckets starting before the cutoff are skipped, never emptied. */
  retentionDays: number;
  /** The clock for the retention cutoff and the clamp, read again for every chunk; the database's now() when absent (tests pin it). */
  now?: () => Date;
  onProgress?: (done: number, total: number) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface RebuildStats {
  from: string;
  to: string;
  chunks: number;
  /** Hourly / daily rows present after recomputation. */
  hours: number;
  days: number;
  written: number;
  deletedHours: number;
  deletedDays: number;
  /** Hour / day buckets of the range older than the retention cutoff, left as they were. */
  skippedHours: number;
  skippedDays: number;
  /** Chunks that fell out of the retention window while the rebuild ran (counted in skippedHours, not skippedDays). */
  lateSkippedChunks: number;
  /** ISO start of the oldest bucket a rebuild may recompute. */
  retentionCutoff: string;
  /** Set when `to` lay more than a day in the future: the range was cut to this (no data can be there yet). */
  clampedTo: string | null;
}

/** How far past now a rebuild may reach: articles can be dated slightly ahead (clock skew, time zones). */
export const REBUILD_FUTURE_DAYS = 1;

export async function rebuildRange(em: EntityManager, options: RebuildOptions): Promise<RebuildStats> {
  const { from, entityId } = options;
  if (!(from.getTime() < options.to.getTime())) throw new RangeError(`rebuild: "from" (${from.toISOString()}) must be before "to" (${options.to.toISOString()})`);
  const clock = async (): Promise<Date> => (options.now ? options.now() : databaseNow(sql(em.fork())));
  const startedAt = await clock();
  // Nothing can be stored beyond now + a day yet: a range to 9999-12-31 is cut there (and said so).
  const limit = hourCeil(addDays(startedAt, REBUILD_FUTURE_DAYS));
  const to = options.to > limit ? limit : options.to;
  if (!(from.getTime() < to.getTime())) throw new RangeError(`rebuild: "from" (${from.toISOString()}) is more than ${REBUILD_FUTURE_DAYS} day past now (${startedAt.toISOString()}): nothing to rebuild`);
  const cutoff = retentionCutoff(startedAt, options.retentionDays);
  const hourStart = hourOf(from);
  const hourEnd = hourCeil(to);
  // The cutoff is day-aligned, so every bucket at or after it still has all its articles.
  const start = new Date(Math.max(hourStart.getTime(), cutoff.getTime()));
  const stats: RebuildStats = {
    from: hourStart.toISOString(),
    to: hourEnd.toISOString(),
    chunks: 0,
    hours: 0,
    days: 0,
    written: 0,
    deletedHours: 0,
    deletedDays: 0,
    skippedHours: countHours(hourStart, new Date(Math.min(hourEnd.getTime(), cutoff.getTime()))),
    skippedDays: countDays(dayOf(from), new Date(Math.min(dayCeil(to).getTime(), cutoff.getTime()))),
    lateSkippedChunks: 0,
    retentionCutoff: cutoff.toISOString(),
    clampedTo: to === options.to ? null : to.toISOString(),
  };
  const chunkHours = options.chunkHours ?? 24;
  // Counted, then iterated lazily: the chunks are never all built at once.
  const total = start < hourEnd ? countChunks(start, hourEnd, chunkHours) : 0;
  await options.onProgress?.(0, total);
  const chunks = total > 0 ? chunksOf(start, hourEnd, chunkHours) : [];

  for (const chunk of chunks) {
    options.signal?.throwIfAborted();
    // Whole days around the chunk: a day partly inside the range is re-merged from all its hours.
    const days = { from: dayOf(chunk.from), to: dayCeil(chunk.to) };
    const result = await em.fork().transactional(async (tx) => {
      const db = sql(tx);
      await lockRollupsShared(db);
      // The days this chunk re-merges: a refresh of another day goes on meanwhile.
      await lockDays(db, daysInRange(days.from, days.to).map((d) => d.getTime() / 1000));
      // Prune takes the rollup lock exclusively: if the retention window moved past this chunk while the
      // rebuild ran (midnight), its articles may be gone now, so it must be left alone.
      const now = options.now ? options.now() : await databaseNow(db);
      if (chunk.from < retentionCutoff(now, options.retentionDays)) return null;
      const hours = await rebuildHours(db, { ...chunk, entityId });
      // After the recompute, never before: a delta committed before its snapshot is now counted (statements.ts).
      await demoteDeltas(db, { ...chunk, entityId });
      const daysResult = await rebuildDays(db, { ...days, entityId });
      return { hours, days: daysResult };
    });
    stats.chunks += 1;
    if (result === null) {
      stats.skippedHours += countHours(chunk.from, chunk.to);
      stats.lateSkippedChunks += 1;
      await options.onProgress?.(stats.chunks, total);
      continue;
    }
    stats.hours += result.hours.present;
    stats.days += result.days.present;
    stats.written += result.hours.written + result.days.written;
    stats.deletedHours += result.hours.deleted;
    stats.deletedDays += result.days.deleted;
    await options.onProgress?.(stats.chunks, total);
  }
  return stats;
}
