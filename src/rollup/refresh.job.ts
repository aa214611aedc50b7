import type { Handler } from '../queues/context.ts';
import { refreshDirty } from './refresh.ts';

/** Recompute exactly the dirty hours and their days; concurrent refreshes split the marks. */
export const refresh: Handler<'refresh'> = async (_payload, { em, log, signal, services }) => {
  const stats = await refreshDirty(em, { signal, retentionDays: services.config.retention.articleDays });
  if (stats.staleMarks > 0) log.warn({ stale_marks: stats.staleMarks }, 'ignored marks for hours older than the article retention window');
  return { ...stats };
};
