import pg from 'pg';
import { Redis } from 'ioredis';
import { PG_ADMIN_URL, REDIS_URL, TEST_PREFIX } from './env.ts';

/**
 * Fails early with one clear line when Postgres or Redis is not there, and after the run
 * removes every database and Redis key the suite created (only ours: never FLUSHALL).
 */
export async function setup(): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await client.connect().catch((err: Error) => {
    throw new Error(`tests need PostgreSQL at ${PG_ADMIN_URL}: ${err.message}`);
  });
  await client.end();
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  await redis.connect().catch((err: Error) => {
    throw new Error(`tests need Redis at ${REDIS_URL}: ${err.message}`);
  });
  redis.disconnect();
  return teardown;
}

async function teardown(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  const { rows } = await client.query<{ datname: string }>('select datname from pg_database where datname like $1', [`${TEST_PREFIX}_%`]);
  for (const { datname } of rows) {
    await client.query(`drop database if exists ${pg.escapeIdentifier(datname)} with (force)`);
  }
  await client.end();
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${TEST_PREFIX}_*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}
