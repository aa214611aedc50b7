/** What every benchmark needs: where Postgres and Redis are, a throwaway namespace, cleanup. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { deleteKeysUnder } from '../test/support/redis-keys.ts';

export const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * `BENCH_SMOKE=1` runs every module at a token size: test/bench/smoke.test.ts proves with it
 * that each still runs to its end and exits (a module that broke or hung went unnoticed
 * otherwise). Figures at that size mean nothing.
 */
export const SMOKE = process.env.BENCH_SMOKE === '1';

/** `full`, or `smoke` under BENCH_SMOKE=1. */
export function sized(full: number, smoke: number): number {
  return SMOKE ? smoke : full;
}

/**
 * What every bench database and key prefix starts with: `np_bench`, or BENCH_NAMESPACE (the
 * smoke test passes its own run's namespace, so the suite's teardown sweeps what a killed
 * bench left).
 */
export const BENCH_STEM = process.env.BENCH_NAMESPACE ?? 'np_bench';

/** A database name, its URL and a Redis prefix unique to this run: `<stem>_<label>_<random>`. */
export function benchNamespace(label: string): { dbName: string; dbUrl: string; prefix: string } {
  const name = `${BENCH_STEM}_${label}_${randomBytes(4).toString('hex')}`;
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
