import { PermanentError } from '../errors.ts';
import { parseInstant } from '../queues/catalogue.ts';
import type { Handler } from '../queues/context.ts';
import { loadEntityMatcher } from './entities.ts';
import { rescoreArticles } from './rescore.ts';

/** Re-score stored articles with the current scorer in batches, then rebuild the rollups they touch. */
export const rescore: Handler<'rescore'> = async ({ from, to, batchSize }, { em, job, signal, services }) => {
  const fromDate = from === undefined ? undefined : (parseInstant(from) ?? undefined);
  const toDate = to === undefined ? undefined : (parseInstant(to) ?? undefined);
  if ((from !== undefined && !fromDate) || (to !== undefined && !toDate)) throw new PermanentError(`rescore: invalid range ${from ?? ''} .. ${to ?? ''}`);
  // Every entity, enabled or not: stored links of a disabled entity are rescored too.
  const matcher = await loadEntityMatcher(em, { includeDisabled: true });
  const stats = await rescoreArticles(em, {
    scorer: services.scorer,
    matcher,
    from: fromDate,
    to: toDate,
    batchSize,
    retentionDays: services.config.retention.articleDays,
    signal,
    onProgress: ({ phase, done, total }) => job.updateProgress({ phase, done, total, percent: total === 0 ? 100 : Math.round((done / total) * 100) }),
  });
  // Job stats are flat: previous scorers as "id:count" pairs, the rebuild's figures prefixed.
  const { previous, rebuild, ...counts } = stats;
  return {
    ...counts,
    from: from ?? null,
    to: to ?? null,
    previous: Object.entries(previous).map(([id, n]) => `${id}:${n}`).join(', '),
    rebuild_from: rebuild?.from ?? null,
    rebuild_to: rebuild?.to ?? null,
    rebuild_chunks: rebuild?.chunks ?? 0,
    rebuild_hours: rebuild?.hours ?? 0,
    rebuild_days: rebuild?.days ?? 0,
    rebuild_written: rebuild?.written ?? 0,
  };
};
