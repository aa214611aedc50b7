import { Redis, type RedisOptions } from 'ioredis';

/**
 * Workers block on Redis and must retry forever (BullMQ requires maxRetriesPerRequest:
 * null). Producers (CLI, HTTP) must fail fast instead of queueing commands offline.
 */
export type RedisRole = 'worker' | 'producer';

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const options: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true, retryStrategy: (times) => Math.min(times * 200, 5_000) }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5_000, retryStrategy: (times) => (times > 3 ? null : 200 * times) };
  return new Redis(url, { ...options, ...extra });
}
