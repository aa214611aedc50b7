import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import pg from 'pg';
import { ensureDatabase, migrate } from '../../src/db/migrate.ts';
import { openOrm } from '../../src/db/orm.ts';
import { addMonths, monthOf, partitionName } from '../../src/db/partitions.ts';
import { databaseUrl } from '../support/env.ts';
import { createTestDatabase, dropDatabase, uniqueName, type TestDatabase } from '../support/db.ts';

const TABLES = ['api_key', 'article', 'article_entity', 'article_key', 'entity', 'job_run', 'rollup_dirty', 'sentiment_rollup', 'source', 'trend', 'trend_entity'];
const MIGRATIONS = readdirSync(new URL('../../migrations/', import.meta.url)).filter((f) => /^Migration\d+.*\.ts$/.test(f)).length;
const BEFORE_PARTITIONING = 'Migration20261122164726';

/** Tables (not partitions) of the public schema. */
const TABLES_SQL = `select c.relname as table_name from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition and c.relname <> 'mikro_orm_migrations' order by 1`;

/** The columns each data table has now (later migrations may add some: the comparison keeps to these). */
async function columnsOf(pool: pg.Pool): Promise<Record<string, string[]>> {
  const { rows } = await pool.query<{ table_name: string; column_name: string }>(
    `select table_name, column_name from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`,
  );
  const out: Record<string, string[]> = {};
  for (const r of rows) (out[r.table_name] ??= []).push(pg.escapeIdentifier(r.column_name));
  return out;
}

/** Every row of every data table, in a stable order, as text (what "no row lost or changed" compares). */
async function dump(pool: pg.Pool, columns: Record<string, string[]>): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of TABLES.filter((t) => t !== 'article_key' && columns[t])) {
    const { rows } = await pool.query<{ r: string }>(`select row(${columns[table]!.join(', ')})::text as r from ${table} t order by 1`);
    out[table] = rows.map((r) => r.r);
  }
  return out;
}

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
      expect(first).toHaveLength(MIGRATIONS);
      const second = await migrate(orm);
      expect(second).toEqual([]);
      const rows = await orm.em.fork().execute<{ table_name: string }[]>(TABLES_SQL);
      expect(rows.map((r) => r.table_name)).toEqual(TABLES);
      // The entities describe exactly the migrated database (partitioning aside: see
      // src/db/entities.ts), and the snapshot migration:create diffs against is current.
      expect((await orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
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
      expect(results.flat()).toHaveLength(MIGRATIONS);
      const { rows } = await db.pool.query('select count(*)::int as n from mikro_orm_migrations');
      expect(rows[0].n).toBe(MIGRATIONS);
    } finally {
      await Promise.all(orms.map((orm) => orm.close(true)));
    }
  });

  it('enforces the constraints the data model names; article, article_entity and job_run are partitioned by month', async () => {
    const db = await createTestDatabase('constraints');
    created.push(db);
    await db.pool.query(`insert into source (id, kind) values ('s1', 'feed')`);
    const insert = (sentiment: number) =>
      db.pool.query(
        `insert into article (source_id, external_id, url_key, title, published_at, fetched_at, sentiment, scorer)
         values ('s1', 'x', 'k', 't', now(), now(), $1, 'test')`,
        [sentiment],
      );
    const key = (urlKey: string, ext: string) =>
      db.pool.query(`insert into article_key (source_id, external_id, url_key, article_id, published_at) values ('s1', $2, $1, 1, now())`, [urlKey, ext]);
    await insert(0.5);
    await expect(insert(1.5)).rejects.toThrow(/article_sentiment_check/);
    await key('a', '1');
    await expect(key('a', '3')).rejects.toThrow(/article_key_url_key_unique/);
    await expect(key('c', '1')).rejects.toThrow(/article_key_pkey/);
    const { rows } = await db.pool.query(
      `select data_type from information_schema.columns where table_name = 'article' and column_name in ('published_at', 'sentiment') order by column_name`,
    );
    expect(rows.map((r) => r.data_type)).toEqual(['timestamp with time zone', 'double precision']);
    const scorer = await db.pool.query(`select is_nullable from information_schema.columns where table_name = 'article_entity' and column_name = 'scorer'`);
    expect(scorer.rows).toEqual([{ is_nullable: 'NO' }]);

    const parts = await db.pool.query<{ parent: string; def: string }>(
      `select c.relname as parent, pg_get_partkeydef(c.oid) as def from pg_class c where c.relkind = 'p' order by 1`,
    );
    expect(parts.rows).toEqual([
      { parent: 'article', def: 'RANGE (published_at)' },
      { parent: 'article_entity', def: 'RANGE (published_at)' },
      { parent: 'job_run', def: 'RANGE (started_at)' },
    ]);
    // The current month and three ahead exist for each (made on migrate).
    const { rows: now } = await db.pool.query<{ now: Date }>('select now() as now');
    const month = monthOf(now[0]!.now);
    for (const table of ['article', 'article_entity', 'job_run'] as const) {
      for (let i = 0; i <= 3; i++) {
        const { rows: found } = await db.pool.query(`select to_regclass($1) as r`, [partitionName(table, addMonths(month, i))]);
        expect(found[0].r, `${table} +${i}`).not.toBeNull();
      }
    }

    // Besides the primary key only its covering copy for the read API's series (migration
    // 20261202061000); "latest buckets first" scans one of the two backward.
    const idx = await db.pool.query(`select indexname from pg_indexes where tablename = 'sentiment_rollup' order by 1`);
    expect(idx.rows.map((r) => r.indexname)).toEqual(['sentiment_rollup_pkey', 'sentiment_rollup_series_index']);
    const client = await db.pool.connect();
    try {
      await client.query('set enable_seqscan = off');
      const plan = await client.query(`explain select * from sentiment_rollup where entity_id = 1 and granularity = 'hour' order by bucket_start desc limit 24`);
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index (Only )?Scan Backward using sentiment_rollup_(pkey|series_index)/);
    } finally {
      client.release();
    }
  });

  it('converts a database filled through the previous schema in place, every row kept, and back down', async () => {
    const db = await createTestDatabase('convert', { migrate: false });
    created.push(db);
    await db.orm.migrator.up({ to: BEFORE_PARTITIONING });
    // Rows across many months (a year back, this month, a far-future date a feed got wrong), every table.
    await db.pool.query(`
      insert into source (id, kind, url) values ('s1', 'feed', 'http://127.0.0.1/a'), ('s2', 'hn', null);
      insert into entity (slug, name, aliases) values ('acme', 'Acme', '{ACME}'), ('globex', 'Globex', '{}');
      insert into article (source_id, external_id, url, url_key, title, summary, author, language, published_at, fetched_at, sentiment, scorer)
      select case when g % 3 = 0 then 's2' else 's1' end, 'x' || g, 'http://127.0.0.1/a/' || g, case when g % 5 = 0 then null else 'k' || g end,
             'title ' || g, case when g % 2 = 0 then 'summary ' || g end, null, 'en',
             now() - (g * interval '37 hours'), now(), ((g % 21) - 10) / 10.0, 'vader'
        from generate_series(1, 300) g;
      insert into article (source_id, external_id, url_key, title, published_at, fetched_at, sentiment, scorer)
        values ('s1', 'future', 'kfuture', 'from the future', '2031-05-05T05:05:05Z', now(), 0, 'vader');
      insert into article_entity (article_id, entity_id, published_at, sentiment)
      select a.id, e.id, a.published_at, a.sentiment from article a cross join entity e where a.id % 2 = 0 or e.slug = 'acme';
      insert into trend (source_id, key, title, rank, observed_at) select 's2', 't' || g, 'trend ' || g, g, now() - g * interval '5 hours' from generate_series(1, 20) g;
      insert into trend_entity (trend_id, entity_id, observed_at) select t.id, e.id, t.observed_at from trend t, entity e;
      insert into job_run (queue, job_name, job_id, source_id, attempt, status, started_at, finished_at, duration_ms, stats, error)
      select 'ingest', 'fetch', 'j' || g, 's1', 1, case when g % 4 = 0 then 'failed' else 'completed' end, now() - g * interval '11 hours',
             now() - g * interval '11 hours' + interval '2 seconds', 2000, jsonb_build_object('inserted', g), case when g % 4 = 0 then 'boom' end
        from generate_series(1, 200) g;
      insert into sentiment_rollup (entity_id, granularity, bucket_start, article_count, sentiment_sum, sentiment_sumsq, sentiment_min, sentiment_max,
                                    sentiment_mean, sentiment_stddev, positive_count, neutral_count, negative_count, trend_mentions, updated_at)
      select e.id, 'hour', date_trunc('hour', now(), 'UTC') - g * interval '1 hour', 2, 0.5, 0.25, 0, 0.5, 0.25, 0.35, 1, 1, 0, 0, now()
        from entity e, generate_series(1, 10) g;
      insert into rollup_dirty (entity_id, hour_start) select id, date_trunc('hour', now(), 'UTC') from entity;`);
    const columns = await columnsOf(db.pool);
    const before = await dump(db.pool, columns);
    expect(before.article).toHaveLength(301);
    const keysBefore = await db.pool.query(`select source_id, external_id, url_key, id::text, published_at from article order by source_id, external_id`);

    await migrate(db.orm);
    expect(await dump(db.pool, columns)).toEqual(before);
    const keys = await db.pool.query(`select source_id, external_id, url_key, article_id::text as id, published_at from article_key order by source_id, external_id`);
    expect(keys.rows).toEqual(keysBefore.rows);
    // Rows landed in their months, ids continue from the old sequence, the keys still deduplicate.
    const { rows: future } = await db.pool.query(`select tableoid::regclass::text as part from article where external_id = 'future'`);
    expect(future[0].part).toBe('article_2031_05');
    const { rows: ids } = await db.pool.query(`select nextval('article_id_seq')::int as next, (select max(id)::int from article) as max`);
    expect(ids[0].next).toBeGreaterThan(ids[0].max);
    await expect(
      db.pool.query(`insert into article_key (source_id, external_id, article_id, published_at) values ('s1', 'x1', 0, now())`),
    ).rejects.toThrow(/article_key_pkey/);
    expect((await db.orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');

    await db.orm.migrator.down({ to: BEFORE_PARTITIONING });
    expect(await dump(db.pool, columns)).toEqual(before);
    const { rows: kinds } = await db.pool.query(`select relname, relkind from pg_class where relname in ('article', 'article_entity', 'job_run') order by 1`);
    expect(kinds.map((r) => r.relkind)).toEqual(['r', 'r', 'r']);
    await expect(
      db.pool.query(`insert into article (source_id, external_id, title, published_at, fetched_at, sentiment, scorer) values ('s1', 'x1', 't', now(), now(), 0, 'v')`),
    ).rejects.toThrow(/article_source_id_external_id_unique/);
  });
});
