/** The handler for every job in the catalogue (a missing one is a type error). */
import type { HandlerMap } from './queues/context.ts';
import { fetchSource } from './ingest/fetch.job.ts';
import { refresh } from './rollup/refresh.job.ts';
import { rebuild } from './rollup/rebuild.job.ts';
import { prune } from './rollup/prune.job.ts';
import { reap } from './rollup/reap.job.ts';
import { partitions } from './rollup/partitions.job.ts';
import { rescore } from './ingest/rescore.job.ts';

export const handlers: HandlerMap = { fetch: fetchSource, refresh, rebuild, rescore, prune, reap, partitions };
