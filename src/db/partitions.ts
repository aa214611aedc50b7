/**
 * Month partitions of the time-partitioned tables (migration 20261202010000). A partition is
 * `<table>_YYYY_MM` and holds [month start, next month start) in UTC. The name is the
 * contract: retention parses it to find whole months to drop, so nothing here reads
 * partition bounds back from the catalog (their text depends on the session time zone).
 */
import { sql as raw, type Kysely } from 'kysely';
import type { DB } from './sql.ts';

export const PARTITIONED_TABLES = ['article', 'article_entity', 'job_run'] as const;
export type PartitionedTable = (typeof PARTITIONED_TABLES)[number];

/** Months made ahead of the current one by the maintenance job and on migrate. */
export const MONTHS_AHEAD = 3;

// Serialises partition creation between workers, the job and persist (create-if-missing races).
const PARTITION_LOCK_KEY = 4_242_031_003;

/** Start of the UTC month containing `date`. */
export function monthOf(date: Date): Date {
  if (!Number.isFinite(date.getTime())) throw new RangeError(`partitions: invalid date ${String(date)}`);
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));
}

export function addMonths(month: Date, n: number): Date {
  return new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + n, 1));
}

/** Every month start overlapping [from, to), in order. */
export function monthsInRange(from: Date, to: Date): Date[] {
  const out: Date[] = [];
  if (!(from < to)) return out;
  for (let m = monthOf(from); m < to; m = addMonths(m, 1)) out.push(m);
  return out;
}

export function partitionName(table: PartitionedTable, month: Date): string {
  return `${table}_${month.getUTCFullYear().toString().padStart(4, '0')}_${(month.getUTCMonth() + 1).toString().padStart(2, '0')}`;
}

/** The month a partition of `table` holds, or null when the name is not one of ours. */
export function partitionMonth(table: PartitionedTable, name: string): Date | null {
  const match = /^(\d{4})_(\d{2})$/.exec(name.startsWith(`${table}_`) ? name.slice(table.length + 1) : '');
  if (!match) return null;
  const month = Number(match[2]);
  if (month < 1 || month > 12) return null;
  return new Date(Date.UTC(Number(match[1]), month - 1, 1));
}

export interface Partition {
  name: string;
  month: Date;
}

/** The month partitions attached to `table`, oldest first. */
export async function listPartitions(db: Kysely<DB>, table: PartitionedTable): Promise<Partition[]> {
  const { rows } = await raw<{ name: string }>`
    select c.relname as name
      from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      join pg_class p on p.oid = i.inhparent
      join pg_namespace n on n.oid = p.relnamespace
     where p.relname = ${table} and n.nspname = current_schema()`.execute(db);
  const out: Partition[] = [];
  for (const { name } of rows) {
    const month = partitionMonth(table, name);
    if (month) out.push({ name, month });
  }
  return out.sort((a, b) => a.month.getTime() - b.month.getTime());
}

/**
 * Creates the missing month partitions of `table` covering [from, to); returns the names it
 * created. Cheap when nothing is missing (one catalog read); the lock is taken only to create.
 */
export async function ensurePartitions(db: Kysely<DB>, table: PartitionedTable, from: Date, to: Date): Promise<string[]> {
  const wanted = monthsInRange(from, to);
  if (wanted.length === 0) return [];
  const missingNow = async () => {
    const existing = new Set((await listPartitions(db, table)).map((p) => p.name));
    return wanted.filter((m) => !existing.has(partitionName(table, m)));
  };
  if ((await missingNow()).length === 0) return [];
  // A link month references its article month (below): that one first.
  if (table === 'article_entity') await ensurePartitions(db, 'article', from, to);
  await raw`select pg_advisory_xact_lock(${PARTITION_LOCK_KEY}::bigint)`.execute(db);
  // Read again under the lock: another process may have made some while this one waited.
  const missing = await missingNow();
  for (const month of missing) {
    const name = partitionName(table, month);
    await raw`create table ${raw.id(name)} partition of ${raw.id(table)}
      for values from (${raw.lit(month.toISOString())}) to (${raw.lit(addMonths(month, 1).toISOString())})`.execute(db);
    // Links and their article share published_at, so one month's links reference that month's
    // articles: a plain-table check per link (migration 20261202050500 says why).
    if (table === 'article_entity') {
      await raw`alter table ${raw.id(name)} add constraint ${raw.id(`${name}_article_foreign`)} foreign key (article_id, published_at)
        references ${raw.id(partitionName('article', month))} (id, published_at) on update cascade on delete cascade`.execute(db);
    }
  }
  return missing.map((m) => partitionName(table, m));
}

/** The database's clock: every process agrees on cutoffs and "the current month". */
export async function databaseNow(db: Kysely<DB>): Promise<Date> {
  const { rows } = await raw<{ now: Date | string }>`select now() as now`.execute(db);
  const value = rows[0]?.now;
  if (value === undefined) throw new Error('partitions: select now() returned no row');
  return new Date(value);
}

/** The current month through MONTHS_AHEAD months ahead, for every partitioned table (the maintenance job, migrate). */
export async function ensureAhead(db: Kysely<DB>, monthsAhead = MONTHS_AHEAD): Promise<string[]> {
  const now = await databaseNow(db);
  const created: string[] = [];
  for (const table of PARTITIONED_TABLES) created.push(...(await ensurePartitions(db, table, monthOf(now), addMonths(monthOf(now), monthsAhead + 1))));
  return created;
}

/**
 * The article retention cutoff on the database's clock: the start of the UTC day containing
 * now() - retentionDays (the same rule as rollup/buckets.ts retentionCutoff). Ingest skips
 * items published before it; rebuild and refresh never recompute buckets before it.
 */
export async function articleRetentionCutoff(db: Kysely<DB>, retentionDays: number): Promise<Date> {
  if (!Number.isFinite(retentionDays) || retentionDays < 0) throw new RangeError(`retention days must be >= 0, got ${retentionDays}`);
  const { rows } = await raw<{ cutoff: Date | string }>`
    select date_trunc('day', now() - ${retentionDays}::float8 * interval '24 hours', 'UTC') as cutoff`.execute(db);
  const value = rows[0]?.cutoff;
  if (value === undefined) throw new Error('partitions: cutoff query returned no row');
  return new Date(value);
}
