import { sql as raw } from 'kysely';
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';

/** Up to this many known ids are listed in full; past it a message names the count and neighbours. */
export const LIST_ALL_UP_TO = 20;
const NEIGHBOURS = 5;

/**
 * The ids among `ids` that are not sources: one anti-join of an unnest array against the
 * primary key, so 100k ids cost one parameter and index probes, never an `in (…)` list or a
 * scan of every source in JS.
 */
export async function missingSources(em: EntityManager, ids: readonly string[]): Promise<string[]> {
  if (!ids.length) return [];
  const rows = await raw<{ id: string }>`
    select f.id from unnest(${[...ids]}::text[]) with ordinality as f(id, n)
     where not exists (select 1 from source s where s.id = f.id)
     order by f.n`.execute(sql(em));
  return rows.rows.map((r) => r.id);
}

/** What the database knows, enough for a hint: every id when few, else the count and the ids beside `near` in id order. */
export interface KnownSources {
  total: number;
  /** Every id (total <= LIST_ALL_UP_TO) or the neighbours of the unknown id. */
  ids: string[];
}

/** Index-only reads: the first ids (LIMIT), and when there are more, the count and the neighbours of `near` on both sides. */
export async function knownSources(em: EntityManager, near?: string): Promise<KnownSources> {
  const db = sql(em);
  const first = await db.selectFrom('source').select('id').orderBy('id').limit(LIST_ALL_UP_TO + 1).execute();
  if (first.length <= LIST_ALL_UP_TO) return { total: first.length, ids: first.map((r) => r.id) };
  const { n } = await db.selectFrom('source').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  if (near === undefined) return { total: Number(n), ids: first.slice(0, NEIGHBOURS).map((r) => r.id) };
  const after = await db.selectFrom('source').select('id').where('id', '>=', near).orderBy('id').limit(NEIGHBOURS - 2).execute();
  const before = await db.selectFrom('source').select('id').where('id', '<', near).orderBy('id', 'desc').limit(NEIGHBOURS - after.length).execute();
  return { total: Number(n), ids: [...before.map((r) => r.id).reverse(), ...after.map((r) => r.id)] };
}

/** The parenthesised hint after "unknown source x" or "fetch needs a source id". Pure, for tests. */
export function describeKnown(known: KnownSources, near?: string): string {
  if (known.total === 0) return 'known sources: none: has the worker synced its config?';
  if (known.total <= LIST_ALL_UP_TO) return `known sources: ${known.ids.join(', ')}`;
  const which = near === undefined ? 'first ids' : `ids next to "${near}"`;
  return `${known.total.toLocaleString('en-US')} known sources; ${which}: ${known.ids.join(', ')}; find one with npm run enqueue -- status --source 'PATTERN*'`;
}
