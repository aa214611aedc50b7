import { afterAll, describe, expect, it } from 'vitest';
import { ensureDatabase, migrate } from '../../src/db/migrate.ts';
import { openOrm } from '../../src/db/orm.ts';
import { databaseUrl } from '../support/env.ts';
import { createTestDatabase, dropDatabase, uniqueName, type TestDatabase } from '../support/db.ts';

const TABLES = ['api_key', 'article', 'article_entity', 'entity', 'job_run', 'rollup_dirty', 'sentiment_rollup', 'source', 'trend', 'trend_entity'];

describe('migrations', () => {
  const created: TestDatabase[] = [];
  const names: string[] = [];
  afterAll(async () => {
    await Promise.all(created.map((db) => db.drop()));
    await Promise.all(names.map(dropDatabase));
  });

  it('creates a missing database and every table on an empty one, then re-runs as a no-op', async () => {
    const name = uniqueName('migrate');
    names.push(name);
    const url = databaseUrl(name);
    expect(await ensureDatabase(url)).toBe(true);
    expect(await ensureDatabase(url)).toBe(false);
    const orm = await openOrm(url);
    try {
      const first = await migrate(orm);
      expect(first).toHaveLength(2);
      const second = await migrate(orm);
      expect(second).toEqual([]);
      const rows = await orm.em.fork().execute<{ table_name: string }[]>(
        `select table_name from information_schema.tables where table_schema = 'public' and table_name <> 'mikro_orm_migrations' order by 1`,
      );
      expect(rows.map((r) => r.table_name)).toEqual(TABLES);
      expect(await orm.migrator.checkSchema()).toBe(false);
    } finally {
      await orm.close(true);
    }
  });

  it('lets concurrent migrators on an empty database finish with one applied set', async () => {
    const db = await createTestDatabase('concurrent', { migrate: false });
    created.push(db);
    const orms = await Promise.all([1, 2, 3, 4].map(() => openOrm(db.url)));
    try {
      const results = await Promise.all(orms.map((orm) => migrate(orm)));
      expect(results.flat()).toHaveLength(2);
      const { rows } = await db.pool.query('select count(*)::int as n from mikro_orm_migrations');
      expect(rows[0].n).toBe(2);
    } finally {
      await Promise.all(orms.map((orm) => orm.close(true)));
    }
  });

  it('enforces the constraints the data model names', async () => {
    const db = await createTestDatabase('constraints');
    created.push(db);
    await db.pool.query(`insert into source (id, kind) values ('s1', 'feed')`);
    const insert = (sentiment: number, key: string, ext: string) =>
      db.pool.query(
        `insert into article (source_id, external_id, url_key, title, published_at, fetched_at, sentiment, scorer)
         values ('s1', $3, $2, 't', now(), now(), $1, 'test')`,
        [sentiment, key, ext],
      );
    await insert(0.5, 'a', '1');
    await expect(insert(1.5, 'b', '2')).rejects.toThrow(/article_sentiment_check/);
    await expect(insert(0, 'a', '3')).rejects.toThrow(/article_url_key_unique/);
    await expect(insert(0, 'c', '1')).rejects.toThrow(/article_source_id_external_id_unique/);
    const { rows } = await db.pool.query(
      `select data_type from information_schema.columns where table_name = 'article' and column_name in ('published_at', 'sentiment') order by column_name`,
    );
    expect(rows.map((r) => r.data_type)).toEqual(['timestamp with time zone', 'double precision']);
    const idx = await db.pool.query(`select indexdef from pg_indexes where tablename = 'sentiment_rollup' and indexdef like '%DESC%'`);
    expect(idx.rows[0]?.indexdef).toContain('(entity_id, granularity, bucket_start DESC)');
  });
});
