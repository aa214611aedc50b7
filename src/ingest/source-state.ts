import { sql as raw } from 'kysely';
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';

/** Consecutive failures after which scheduled fetches start being spaced out. */
export const BACKOFF_AFTER_FAILURES = 3;
const BACKOFF_BASE_MINUTES = 5;
const BACKOFF_MAX_MINUTES = 6 * 60;

/** A successful fetch (200 or 304): new validators, failures cleared, backoff lifted. */
export async function recordSuccess(tx: EntityManager, sourceId: string, validators: { etag: string | null; lastModified: string | null }, at: Date): Promise<void> {
  await sql(tx)
    .updateTable('source')
    .set({
      etag: validators.etag,
      last_modified: validators.lastModified,
      last_fetched_at: at,
      last_success_at: at,
      consecutive_failures: 0,
      last_error: null,
      backoff_until: null,
      updated_at: at,
    })
    .where('id', '=', sourceId)
    .execute();
}

/**
 * A failed attempt: counted and shown (CLI, dashboard). From the third failure in a row,
 * scheduled fetches are skipped until backoff_until (5 min, doubling, at most 6 h), so a
 * dead source is asked less often but never abandoned; one success resets everything.
 */
export async function recordFailure(em: EntityManager, sourceId: string, message: string, at: Date): Promise<void> {
  await sql(em)
    .updateTable('source')
    .set((eb) => ({
      consecutive_failures: eb('consecutive_failures', '+', 1),
      last_error: message.slice(0, 2_000),
      last_fetched_at: at,
      updated_at: at,
      backoff_until: raw<Date | null>`case when consecutive_failures + 1 >= ${BACKOFF_AFTER_FAILURES}
        then ${at}::timestamptz + least(${BACKOFF_MAX_MINUTES}::float8, ${BACKOFF_BASE_MINUTES}::float8 * power(2, consecutive_failures + 1 - ${BACKOFF_AFTER_FAILURES})) * interval '1 minute'
        else null end`,
    }))
    .where('id', '=', sourceId)
    .execute();
}

/**
 * At most one fetch of a source at a time, across every worker: a transaction-scoped
 * advisory lock keyed by the source id. Scheduled runs skip when it is taken; manual runs
 * wait for it (bounded by lock_timeout, which surfaces as a retryable error).
 */
export async function lockSource(tx: EntityManager, sourceId: string, mode: 'try' | 'wait'): Promise<boolean> {
  const key = `fetch:${sourceId}`;
  if (mode === 'try') {
    const result = await raw<{ locked: boolean }>`select pg_try_advisory_xact_lock(hashtextextended(${key}, 0)) as locked`.execute(sql(tx));
    return result.rows[0]?.locked === true;
  }
  await raw`set local lock_timeout = '60s'`.execute(sql(tx));
  await raw`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(sql(tx));
  await raw`set local lock_timeout = 0`.execute(sql(tx));
  return true;
}
