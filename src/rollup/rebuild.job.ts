import { PermanentError } from '../errors.ts';
import { parseInstant } from '../queues/catalogue.ts';
import type { Handler } from '../queues/context.ts';
import { sql } from '../db/sql.ts';
import { rebuildRange } from './rebuild.ts';

/** Recompute every hour and day of a range from the stored articles, one day per transaction. */
export const rebuild: Handler<'rebuild'> = async ({ from, to, entity }, { em, job, signal, services, log }) => {
  const fromDate = parseInstant(from);
  const toDate = parseInstant(to);
  if (!fromDate || !toDate) throw new PermanentError(`rebuild: invalid range ${from} .. ${to}`);
  let entityId: number | undefined;
  if (entity !== undefined) {
    const row = await sql(em).selectFrom('entity').select('id').where('slug', '=', entity).executeTakeFirst();
    if (!row) throw new PermanentError(`rebuild: unknown entity "${entity}" (no entity with that slug)`);
    entityId = row.id;
  }
  let stats: Awaited<ReturnType<typeof rebuildRange>>;
  try {
    stats = await rebuildRange(em, {
      from: fromDate,
      to: toDate,
      entityId,
      retentionDays: services.config.retention.articleDays,
      signal,
      onProgress: (done, total) => job.updateProgress({ done, total, percent: total === 0 ? 100 : Math.round((done / total) * 100) }),
    });
  } catch (err) {
    // A range wholly in the future is bad input, not a transient failure: no retries.
    if (err instanceof RangeError) throw new PermanentError(err.message);
    throw err;
  }
  if (stats.clampedTo) log.warn({ requested_to: to, clamped_to: stats.clampedTo }, `rebuild: "to" is more than a day in the future; rebuilding up to ${stats.clampedTo} only`);
  return { ...stats, entity: entity ?? null };
};
