import type { Handler } from '../queues/context.ts';
import { pruneRaw } from './prune.ts';

const PRUNE_BATCH = 5_000;

/** Delete raw articles, trends and job runs past retention; rollups stay untouched. */
export const prune: Handler<'prune'> = async (_payload, { em, signal, services }) => {
  const { articleDays, jobRunDays } = services.config.retention;
  return { ...(await pruneRaw(em, { articleRetentionDays: articleDays, jobRunRetentionDays: jobRunDays, batchSize: PRUNE_BATCH, signal })) };
};
