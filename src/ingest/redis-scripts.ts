import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import { Cluster, Redis } from 'ioredis';

/**
 * The Redis client a producer Queue was built with, for the few single-key Lua scripts the
 * fetch path runs beside BullMQ (source leases, host slots, the metrics exporter lease).
 * A script touches one key, or keys under one queue's prefix (one cluster slot), so they run
 * unchanged on Redis Cluster.
 */
export type RedisLike = Redis | Cluster;

export function redisOf(queue: Queue): RedisLike {
  const connection = queue.opts.connection;
  if (connection instanceof Redis || connection instanceof Cluster) return connection;
  throw new Error(`queue ${queue.name}: built from connection options, not an ioredis client; the fetch path needs the client itself`);
}

/** Keys live under the queue prefix, so a hash-tagged prefix keeps them in the queues' slot. */
export function keyUnder(queue: Queue, ...parts: string[]): string {
  return [queue.opts.prefix ?? 'bull', ...parts].join(':');
}

/** Redis' own clock in ms: every worker compares lease deadlines against the same clock. */
export const NOW_MS = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** Runs a one-key script; results are integers (Lua numbers are truncated by Redis). */
export async function runScript(redis: RedisLike, script: string, key: string, ...args: (string | number)[]): Promise<unknown> {
  return evalCached(redis, script, [key], args);
}

/**
 * Runs a script over several keys. On Redis Cluster they must share a slot: the fetch path
 * only passes keys under the ingest queue's prefix (see keyUnder), which a cluster
 * deployment always hash-tags.
 */
export async function runMultiKeyScript(redis: RedisLike, script: string, keys: string[], ...args: (string | number)[]): Promise<unknown> {
  return evalCached(redis, script, keys, args);
}

const shas = new Map<string, string>();

/**
 * EVALSHA, falling back to EVAL when the node has not cached the script yet (first use, a
 * restart, a cluster node new to it). The fetch path runs two scripts per job: sending only
 * their digest spares the client and Redis a kilobyte of script text each time.
 */
async function evalCached(redis: RedisLike, script: string, keys: string[], args: (string | number)[]): Promise<unknown> {
  let sha = shas.get(script);
  if (sha === undefined) {
    sha = createHash('sha1').update(script).digest('hex');
    shas.set(script, sha);
  }
  const rest = [...keys, ...args.map(String)];
  try {
    return await redis.evalsha(sha, keys.length, ...rest);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return redis.eval(script, keys.length, ...rest);
  }
}
