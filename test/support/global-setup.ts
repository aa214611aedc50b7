import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { PG_ADMIN_URL, REDIS_URL, runStartedAt, STALE_AFTER_MS, TEST_PREFIX } from './env.ts';

/**
 * Fails early with one clear line when Postgres or Redis is not there; after the run,
 * removes every database and Redis key this run created (never FLUSHALL, never another
 * run's), plus leftovers of runs killed more than STALE_AFTER_MS ago.
 */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [major] = process.versions.node.split('.').map(Number);
  if ((major ?? 0) < 22) throw new Error(`tests need Node >= 22.17 (this is ${process.version}): run them through "npm test", which uses the node@24 devDependency`);
  const runId = `${Math.floor(Date.now() / 1000).toString(36)}${randomBytes(3).toString('hex')}`;
  project.provide('runId', runId);

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
  return () => teardown(`${TEST_PREFIX}_${runId}`);
}

function ours(name: string, namespace: string): boolean {
  if (name.startsWith(`${namespace}_`) || name.startsWith(`${namespace}:`)) return true;
  const started = runStartedAt(name);
  return started !== null && Date.now() - started > STALE_AFTER_MS;
}

async function teardown(namespace: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  const { rows } = await client.query<{ datname: string }>('select datname from pg_database where datname like $1', [`${TEST_PREFIX}_%`]);
  for (const { datname } of rows.filter((r) => ours(r.datname, namespace))) {
    await client.query(`drop database if exists ${pg.escapeIdentifier(datname)} with (force)`);
  }
  await client.end();
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${TEST_PREFIX}_*`, 'COUNT', 1000);
    cursor = next;
    const mine = keys.filter((k) => ours(k, namespace));
    if (mine.length) await redis.del(...mine);
  } while (cursor !== '0');
  redis.disconnect();
}
