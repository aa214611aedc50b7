import { Redis } from 'ioredis';
import { REDIS_URL } from './env.ts';
import { uniqueName } from './db.ts';
import { deleteKeysUnder } from './redis-keys.ts';

/** A random BullMQ prefix per test, and removal of exactly its keys afterwards. */
export function testPrefix(label = 'q'): string {
  return uniqueName(label);
}

export function deletePrefix(prefix: string): Promise<void> {
  return deleteKeysUnder(REDIS_URL, prefix);
}

export function workerRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: null });
}
