import { Redis } from 'ioredis';
import { REDIS_URL } from './env.ts';
import { uniqueName } from './db.ts';

/** A random BullMQ prefix per test, and removal of exactly its keys afterwards. */
export function testPrefix(label = 'q'): string {
  return uniqueName(label);
}

export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export function workerRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: null });
}
