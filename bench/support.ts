/** What every benchmark needs: where Postgres and Redis are, a throwaway namespace, cleanup. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { deleteKeysUnder } from '../test/support/redis-keys.ts';

export const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A database name, its URL and a Redis prefix unique to this run: `np_bench_<label>_<random>`. */
export function benchNamespace(label: string): { dbName: string; dbUrl: string; prefix: string } {
  const name = `np_bench_${label}_${randomBytes(4).toString('hex')}`;
  return { dbName: name, dbUrl: Object.assign(new URL(PG_URL), { pathname: `/${name}` }).toString(), prefix: name };
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
  } finally {
    await admin.end();
  }
}

/** Deletes exactly the keys under `prefix` (never FLUSHALL). */
export function deletePrefix(prefix: string): Promise<void> {
  return deleteKeysUnder(REDIS_URL, prefix);
}
