import { sql as raw, type Kysely } from 'kysely';
import type { EntityManager } from '../db/orm.ts';
import { sql, type DB } from '../db/sql.ts';

/** Consecutive failures after which scheduled fetches start being spaced out. */
export const BACKOFF_AFTER_FAILURES = 3;
const BACKOFF_BASE_MINUTES = 5;
const BACKOFF_MAX_MINUTES = 6 * 60;

/**
 * A successful fetch (200 or 304): new validators, failures cleared, backoff lifted, and the
 * lease's fencing token recorded. Returns false, writing nothing, when a fetch holding a newer
 * token already committed (this one's lease lapsed while it worked): the caller must then
 * roll back everything else it wrote, or validators and articles of an older response could
 * overwrite a newer one's.
 */
export async function recordSuccess(tx: EntityManager, sourceId: string, fence: number, validators: Validators, at: Date): Promise<boolean> {
  const result = await successWrite(sql(tx), sourceId, fence, validators, at).executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export interface Validators {
  etag: string | null;
  lastModified: string | null;
}

/** recordSuccess's statement, unexecuted: the 304 path runs it inside closeRunWith. */
export function successWrite(db: Kysely<DB>, sourceId: string, fence: number, validators: Validators, at: Date) {
  return db
    .updateTable('source')
    .set({
      fence,
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
    .where('fence', '<', fence);
}

/**
 * A failed attempt: counted and shown (CLI, dashboard). From the third failure in a row,
 * scheduled fetches are skipped until backoff_until (5 min, doubling, at most 6 h), so a
 * dead source is asked less often but never abandoned; one success resets everything.
 * Fenced like recordSuccess: a stale holder's failure does not count against a source that a
 * newer fetch already brought up to date.
 */
export async function recordFailure(em: EntityManager, sourceId: string, fence: number, message: string, at: Date): Promise<boolean> {
  const result = await failureWrite(sql(em), sourceId, fence, message, at).executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** recordFailure's statement, unexecuted: a failed fetch runs it inside closeRunWith. */
export function failureWrite(db: Kysely<DB>, sourceId: string, fence: number, message: string, at: Date) {
  return db
    .updateTable('source')
    .set((eb) => ({
      fence,
      consecutive_failures: eb('consecutive_failures', '+', 1),
      last_error: message.slice(0, 2_000),
      last_fetched_at: at,
      updated_at: at,
      backoff_until: raw<Date | null>`case when consecutive_failures + 1 >= ${BACKOFF_AFTER_FAILURES}
        then ${at}::timestamptz + least(${BACKOFF_MAX_MINUTES}::float8, ${BACKOFF_BASE_MINUTES}::float8 * power(2, consecutive_failures + 1 - ${BACKOFF_AFTER_FAILURES})) * interval '1 minute'
        else null end`,
    }))
    .where('id', '=', sourceId)
    .where('fence', '<', fence);
}
