import type { CompiledQuery } from 'kysely';
import type { EntityManager } from './orm.ts';

/**
 * Runs a statement that every job sends (its job_run row; the fetch path's source read and
 * write) as a named statement, so Postgres parses it once per connection instead of once per
 * job. It still plans each run: on the month-partitioned job_run a generic plan covers every
 * partition and costs more than a custom one, so Postgres keeps custom plans, which prune to
 * one partition because the row is named by (id, started_at). Closing a row by id alone
 * planned in 0.25-0.4 ms and ran in 0.05 ms; by its whole key it plans in 0.11-0.18 ms.
 *
 * Inside a transaction the statement runs on the transaction's connection, unnamed (Kysely
 * holds that connection, not pg). Either way the rows come back as pg parses them on
 * MikroORM's pool, not converted to entity types: timestamps and bigints as text, so
 * callers select what they need in a form they can read (see job-runs.ts). Outside a
 * transaction it bypasses MikroORM: its query log does not show these statements, and an
 * abort signal given to the ORM does not reach them (single-row statements, over in a ms).
 */
export async function runNamed<R>(em: EntityManager, query: CompiledQuery<R>): Promise<R[]> {
  if (em.isInTransaction()) return (await em.getKysely().executeQuery(query)).rows;
  const pool = await em.getConnection().getNativeClient();
  const { rows } = await pool.query({ name: nameOf(query.sql), text: query.sql, values: [...query.parameters] });
  return rows as R[];
}

// One name per statement text. The texts are a handful of constants (values travel as
// parameters); the cap keeps a text that varied by mistake from preparing without bound.
const names = new Map<string, string>();
const MAX_NAMES = 64;

function nameOf(text: string): string | undefined {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMES) {
    name = `newspulse_${names.size + 1}`;
    names.set(text, name);
  }
  return name;
}
