import type { Handler } from '../queues/context.ts';
import { pruneRaw } from './prune.ts';

const PRUNE_BATCH = 5_000;

/** Drop months of raw articles and job runs past retention (and expired keys, old trends); rollups stay untouched. */
export const prune: Handler<'prune'> = async (_payload, { em, signal, services }) => {
  const { articleDays, jobRunDays } = services.config.retention;
  // No clock passed: the cutoffs come from the database's now(), the same for every worker.
  const stats = await pruneRaw(em, { articleRetentionDays: articleDays, jobRunRetentionDays: jobRunDays, batchSize: PRUNE_BATCH, signal });
  return { ...stats, droppedPartitions: stats.droppedPartitions.join(',') };
};
