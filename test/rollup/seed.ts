/**
 * Test data written the way ingest writes it: articles, their article_entity copies and the
 * dirty marks in ONE transaction; a re-fetch of a known article (on conflict do nothing)
 * marks nothing. Plus a seeded PRNG for property-style tests.
 */
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { openOrm, type Orm } from '../../src/db/orm.ts';
import { hourDeltas, MARK_DELTAS_SQL, markDeltaParams } from '../../src/rollup/delta.ts';

export const SOURCE_ID = 'test-source';

export interface SeedArticle {
  externalId: string;
  publishedAt: Date;
  sentiment: number;
  entityIds: number[];
}

export interface SeedTrend {
  key: string;
  observedAt: Date;
  entityIds: number[];
}

/**
 * A fresh migrated database whose default session time zone has a half-hour offset and a DST
 * switch (St John's: UTC-2:30 -> -3:30 on 2026-11-01T04:30Z), so a bucket computed in session
 * time instead of UTC, or a day spanned with interval '1 day', shows up as a wrong row. `orm` is opened
 * after the change, so all its connections use that zone.
 */
export async function createRollupDatabase(label: string, timeZone = 'America/St_Johns'): Promise<TestDatabase & { rollupOrm: Orm }> {
  const db = await createTestDatabase(label);
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    await admin.query(`alter database ${pg.escapeIdentifier(db.name)} set timezone to ${pg.escapeLiteral(timeZone)}`);
    await admin.query(`insert into source (id, kind, url) values ($1, 'feed', 'http://localhost/feed')`, [SOURCE_ID]);

  } finally {
    await admin.end();
  }
  // db.pool has not connected yet, so its connections start in the new zone; the migration ORM has.
  const rollupOrm = await openOrm(db.url);
  return {
    ...db,
    rollupOrm,
    async drop() {
      await rollupOrm.close(true);
      await db.drop();
    },
  };
}

export async function createEntities(pool: pg.Pool, count: number, prefix = 'e'): Promise<number[]> {
  const { rows } = await pool.query<{ id: number }>(
    `insert into entity (slug, name) select $1 || '-' || g, 'Entity ' || g from generate_series(1, $2::int) g
     on conflict (slug) do update set name = excluded.name returning id`,
    [prefix, count],
  );
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

/** Month partitions for [from, to) (ingest makes them on demand; the seed writes directly, and a prune may have dropped some). */
async function ensureSeedPartitions(client: pg.PoolClient, from: Date, to: Date): Promise<void> {
  await client.query(
    `do $$ declare m timestamp := date_trunc('month', ${pg.escapeLiteral(from.toISOString())}::timestamptz at time zone 'UTC'); begin
      while m < ${pg.escapeLiteral(to.toISOString())}::timestamptz at time zone 'UTC' loop
        execute format('create table if not exists %I partition of article for values from (%L) to (%L)', 'article_' || to_char(m, 'YYYY_MM'), m at time zone 'UTC', (m + interval '1 month') at time zone 'UTC');
        execute format('create table if not exists %I partition of article_entity for values from (%L) to (%L)', 'article_entity_' || to_char(m, 'YYYY_MM'), m at time zone 'UTC', (m + interval '1 month') at time zone 'UTC');
        -- As src/db/partitions.ts does: each link month references its article month.
        if not exists (select 1 from pg_constraint where conname = 'article_entity_' || to_char(m, 'YYYY_MM') || '_article_foreign') then
          execute format('alter table %I add constraint %I foreign key (article_id, published_at) references %I (id, published_at) on update cascade on delete cascade',
                         'article_entity_' || to_char(m, 'YYYY_MM'), 'article_entity_' || to_char(m, 'YYYY_MM') || '_article_foreign', 'article_' || to_char(m, 'YYYY_MM'));
        end if;
        m := m + interval '1 month';
      end loop; end $$`,
  );
}

const MARK_SQL = `
  insert into rollup_dirty (entity_id, hour_start)
  select distinct entity_id, date_trunc('hour', ts, 'UTC') from unnest($1::int[], $2::timestamptz[]) as m(entity_id, ts)
  on conflict (entity_id, hour_start) do update set marked_at = clock_timestamp(), recompute = true`;

/** How a seed write marks its hours: as ingest does (insert-only deltas) or for recomputation (like rescore). */
export type MarkKind = 'delta' | 'recompute';

async function markLinks(client: pg.PoolClient, kind: MarkKind, links: { entityId: number; at: string; sentiment: number }[], trends: { entityId: number; at: string }[] = []) {
  if (links.length + trends.length === 0) return;
  if (kind === 'recompute') {
    const all = [...links, ...trends];
    await client.query(MARK_SQL, [all.map((l) => l.entityId), all.map((l) => l.at)]);
    return;
  }
  const deltas = hourDeltas(
    links.map((l) => ({ entityId: l.entityId, at: new Date(l.at), sentiment: l.sentiment })),
    trends.map((t) => ({ entityId: t.entityId, at: new Date(t.at) })),
  );
  await client.query(MARK_DELTAS_SQL, markDeltaParams(deltas));
}

/** Inserts articles (skipping known ones) and marks the hours of the new ones, in one transaction. */
export async function ingestArticles(
  pool: pg.Pool | pg.PoolClient,
  articles: SeedArticle[],
  options: { inTransaction?: boolean; marks?: MarkKind } = {},
): Promise<number> {
  const client = 'release' in pool ? pool : await pool.connect();
  const own = !('release' in pool);
  try {
    if (options.inTransaction !== false) await client.query('begin');
    const times = articles.map((a) => a.publishedAt.getTime());
    if (times.length > 0) await ensureSeedPartitions(client, new Date(Math.min(...times)), new Date(Math.max(...times) + 1));
    const { rows } = await client.query<{ id: string; external_id: string }>(
      `with u as (select * from unnest($2::text[], $3::timestamptz[], $4::float8[]) as u(x, p, s)),
       k as (
         insert into article_key (source_id, external_id, article_id, published_at)
         select $1, x, nextval('article_id_seq'), p from u
         on conflict do nothing
         returning article_id, external_id
       )
       insert into article (id, source_id, external_id, title, published_at, fetched_at, sentiment, scorer)
       select k.article_id, $1, u.x, 'title ' || u.x, u.p, clock_timestamp(), u.s, 'test'
         from k join u on u.x = k.external_id
       returning id, external_id`,
      [SOURCE_ID, articles.map((a) => a.externalId), articles.map((a) => a.publishedAt.toISOString()), articles.map((a) => a.sentiment)],
    );
    const byExternal = new Map(articles.map((a) => [a.externalId, a]));
    const ids: string[] = [];
    const entityIds: number[] = [];
    const published: string[] = [];
    const sentiments: number[] = [];
    for (const row of rows) {
      const article = byExternal.get(row.external_id);
      if (!article) continue;
      for (const entityId of new Set(article.entityIds)) {
        ids.push(row.id);
        entityIds.push(entityId);
        published.push(article.publishedAt.toISOString());
        sentiments.push(article.sentiment);
      }
    }
    if (ids.length > 0) {
      await client.query(
        `insert into article_entity (article_id, entity_id, published_at, sentiment, scorer)
         select *, 'test' from unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::float8[])`,
        [ids, entityIds, published, sentiments],
      );
      await markLinks(
        client,
        options.marks ?? 'delta',
        entityIds.map((entityId, i) => ({ entityId, at: published[i]!, sentiment: sentiments[i]! })),
      );
    }
    if (options.inTransaction !== false) await client.query('commit');
    return rows.length;
  } catch (err) {
    if (options.inTransaction !== false) await client.query('rollback');
    throw err;
  } finally {
    if (own) client.release();
  }
}

/** Inserts trend observations matched to entities, marking their hours (as ingest will). */
export async function ingestTrends(pool: pg.Pool, trends: SeedTrend[], marks: MarkKind = 'delta'): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    for (const trend of trends) {
      const { rows } = await client.query<{ id: string }>(
        `insert into trend (source_id, key, title, rank, observed_at) values ($1, $2, $2, 1, $3)
         on conflict (source_id, key, observed_at) do nothing returning id`,
        [SOURCE_ID, trend.key, trend.observedAt.toISOString()],
      );
      const id = rows[0]?.id;
      if (!id) continue;
      const entityIds = [...new Set(trend.entityIds)];
      await client.query(
        `insert into trend_entity (trend_id, entity_id, observed_at) select $1, e, $2 from unnest($3::int[]) e`,
        [id, trend.observedAt.toISOString(), entityIds],
      );
      await markLinks(client, marks, [], entityIds.map((entityId) => ({ entityId, at: trend.observedAt.toISOString() })));
    }
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
}

/** Retracts articles (a correction, not retention): deletes them and marks their hours dirty. */
export async function retractArticles(pool: pg.Pool, externalIds: string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<{ entity_id: number; published_at: string }>(
      `select ae.entity_id, ae.published_at::text from article a join article_entity ae on ae.article_id = a.id
        where a.source_id = $1 and a.external_id = any($2::text[])`,
      [SOURCE_ID, externalIds],
    );
    await client.query(`delete from article where source_id = $1 and external_id = any($2::text[])`, [SOURCE_ID, externalIds]);
    await client.query(`delete from article_key where source_id = $1 and external_id = any($2::text[])`, [SOURCE_ID, externalIds]);
    if (rows.length) await client.query(MARK_SQL, [rows.map((r) => r.entity_id), rows.map((r) => r.published_at)]);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
}

/** mulberry32: a tiny seeded PRNG, so a failing property run can be replayed from its seed. */
export function prng(seed: number): { next(): number; int(min: number, max: number): number; pick<T>(items: readonly T[]): T; bool(p?: number): boolean } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new Error('prng.pick: empty list');
      return item;
    },
    bool: (p = 0.5) => next() < p,
  };
}
