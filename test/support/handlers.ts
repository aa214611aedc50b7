import type { HandlerMap } from '../../src/queues/context.ts';

/** Handlers for worker tests: the ones given, every other job a no-op that returns no stats. */
export function handlersWith(some: Partial<HandlerMap>): HandlerMap {
  const none = async () => ({});
  return { fetch: none, refresh: none, rebuild: none, rescore: none, prune: none, reap: none, partitions: none, ...some };
}
