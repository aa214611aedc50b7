import { inject } from 'vitest';

/** Where the suite finds the machine's Postgres and Redis; override for other machines. */
export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Every database and key prefix the suite creates starts with this. */
export const TEST_PREFIX = 'np_test';
/** Leftovers of runs that were killed before their teardown are removed after this long. */
export const STALE_AFTER_MS = 6 * 3600_000;

declare module 'vitest' {
  export interface ProvidedContext {
    runId: string;
  }
}

/**
 * This run's namespace, `np_test_<base36 start time>_<random>`: teardown removes exactly
 * what this run made, so two suites on one machine never drop each other's databases.
 */
export function runNamespace(): string {
  return `${TEST_PREFIX}_${inject('runId')}`;
}

/** The start time encoded in a namespaced name, or null for names not made by this suite. */
export function runStartedAt(name: string): number | null {
  const match = new RegExp(`^${TEST_PREFIX}_([0-9a-z]+)_`).exec(name);
  return match ? parseInt(match[1]!, 36) * 1000 : null;
}

export function databaseUrl(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
