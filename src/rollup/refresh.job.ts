import type { Handler } from '../queues/context.ts';
import { refreshDirty } from './refresh.ts';

/** Recompute exactly the dirty hours and their days; a second concurrent refresh exits quietly. */
export const refresh: Handler<'refresh'> = async (_payload, { em, log, signal }) => {
  const stats = await refreshDirty(em, { signal });
  if (stats.skipped) log.debug('another refresh holds the rollup lock; its marks wait for the next run');
  return { ...stats, skipped: stats.skipped ?? null };
};
