import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ensureDatabase, migrate } from '../../src/db/migrate.ts';
import { openOrm, type Orm } from '../../src/db/orm.ts';
import { databaseUrl, PG_ADMIN_URL, runNamespace } from './env.ts';

export function uniqueName(label: string): string {
  return `${runNamespace()}_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  name: string;
  url: string;
  orm: Orm;
  /** A plain pg pool for oracle queries that must not go through the code under test. */
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A fresh database, migrated through the real migrations. Call drop() in afterAll. */
export async function createTestDatabase(label: string, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = uniqueName(label);
  const url = databaseUrl(name);
  await ensureDatabase(url);
  const orm = await openOrm(url);
  if (options.migrate !== false) await migrate(orm);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // An idle client cut off by the final DROP ... WITH (FORCE) is expected, not a test failure.
  pool.on('error', () => {});
  return {
    name,
    url,
    orm,
    pool,
    async drop() {
      await orm.close(true);
      await pool.end();
      await dropDatabase(name);
    },
  };
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
  } finally {
    await admin.end();
  }
}
