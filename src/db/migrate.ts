import pg from 'pg';
import type { Logger } from '../logger.ts';
import type { Orm } from './orm.ts';
import { ensureAhead } from './partitions.ts';
import { sql } from './sql.ts';

// Any fixed 64-bit key shared by every process that migrates this database.
const MIGRATION_LOCK_KEY = 4_242_031_001;

/**
 * Creates the database named in the URL when it does not exist. Races between starters
 * are expected (compose, replicas): "already exists" is success.
 */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!name) throw new Error('DATABASE_URL names no database');
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`create database ${pg.escapeIdentifier(name)}`);
      return true;
    } catch (err) {
      // 42P04 duplicate_database; 23505 when two creates race on pg_database's unique index.
      const code = (err as { code?: string }).code;
      if (code === '42P04' || code === '23505') return false;
      throw err;
    }
  } finally {
    await client.end();
  }
}

/**
 * Applies pending migrations inside one transaction that holds an advisory lock, so
 * concurrent starters queue up instead of racing on the same DDL.
 */
export async function migrate(orm: Orm, log?: Logger): Promise<string[]> {
  const applied = await orm.em.fork().transactional(async (em) => {
    await em.execute('select pg_advisory_xact_lock(?)', [MIGRATION_LOCK_KEY]);
    const migrations = await orm.migrator.up({ transaction: em.getTransactionContext() });
    // Month partitions through MONTHS_AHEAD ahead on every start too, in case the job has not run.
    await ensureAhead(sql(em));
    return migrations.map((m) => m.name);
  });
  log?.info({ applied }, applied.length ? 'migrations applied' : 'schema up to date');
  return applied;
}
