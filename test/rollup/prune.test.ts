import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneRaw } from '../../src/rollup/prune.ts';
import { refreshDirty } from '../../src/rollup/refresh.ts';
import { DAY_MS } from '../../src/rollup/buckets.ts';
import { persistItems } from '../../src/ingest/persist.ts';
import { ensurePartitions } from '../../src/db/partitions.ts';
import { sql } from '../../src/db/sql.ts';
import type { PreparedArticle } from '../../src/ingest/prepare.ts';
import { rollupSnapshot } from './oracle.ts';
import { createEntities, createRollupDatabase, ingestArticles, ingestTrends, SOURCE_ID, type SeedArticle } from './seed.ts';

let db: Awaited<ReturnType<typeof createRollupDatabase>>;
let entities: number[];

beforeAll(async () => {
  db = await createRollupDatabase('rollup_prune');
  entities = await createEntities(db.pool, 2);
});
afterAll(async () => {
  await db?.drop();
});

const count = async (table: string, where = 'true') =>
  (await db.pool.query<{ n: number }>(`select count(*)::int as n from ${table} where ${where}`)).rows[0]?.n;
const partitions = async (parent: string) =>
  (
    await db.pool.query<{ name: string }>(
      `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = $1::regclass order by 1`,
      [parent],
    )
  ).rows.map((r) => r.name);

describe('pruneRaw', () => {
  it('drops whole months past retention (partitions, never row deletes), their keys, old trends and job-run months; rollups byte-identical, nothing dirty', async () => {
    const now = new Date('2026-11-22T12:00:00Z');
    const start = Date.parse('2026-06-01T00:00:00Z');
    // 175 days of articles, 2 a day, June 1 .. Nov 22: retention 90 days -> cutoff 2026-08-24T00:00Z,
    // so June and July go whole; August (partly older than the cutoff) stays until its month has passed.
    const articles: SeedArticle[] = Array.from({ length: 350 }, (_, i) => ({
      externalId: `x${i}`,
      publishedAt: new Date(start + i * (DAY_MS / 2) + 1234),
      sentiment: ((i % 9) - 4) / 5,
      entityIds: entities,
    }));
    await ingestArticles(db.pool, articles);
    await ingestTrends(db.pool, [
      { key: 'old', observedAt: new Date('2026-08-10T05:00:00Z'), entityIds: entities },
      { key: 'new', observedAt: new Date('2026-11-10T05:00:00Z'), entityIds: entities },
    ]);
    await db.rollupOrm.em.fork().transactional((tx) => ensurePartitions(sql(tx), 'job_run', new Date('2026-07-01T00:00:00Z'), new Date('2026-12-01T00:00:00Z')));
    // One job run a day for 130 days: the job-run cutoff (30 days) is 2026-10-23T12:00Z, so July .. September go.
    await db.pool.query(
      `insert into job_run (queue, job_name, job_id, attempt, status, started_at)
       select 'ingest', 'fetch', 'j' || g, 1, 'completed', $1::timestamptz - g * interval '24 hours' from generate_series(1, 130) g`,
      [now.toISOString()],
    );
    await refreshDirty(db.rollupOrm.em.fork());
    const before = await rollupSnapshot(db.pool);
    const oldArticles = await count('article', `published_at < '2026-08-01T00:00:00Z'`);
    const oldRuns = await count('job_run', `started_at < '2026-10-01T00:00:00Z'`);
    expect(oldArticles).toBe(122);

    const stats = await pruneRaw(db.rollupOrm.em.fork(), { articleRetentionDays: 90, jobRunRetentionDays: 30, batchSize: 7, now });
    expect(stats).toMatchObject({ articles: oldArticles, articleKeys: oldArticles, trends: 1, jobRuns: oldRuns, articleCutoff: '2026-08-24T00:00:00.000Z' });
    expect(stats.droppedPartitions).toEqual(
      expect.arrayContaining(['article_2026_06', 'article_entity_2026_06', 'article_2026_07', 'article_entity_2026_07', 'job_run_2026_07', 'job_run_2026_08', 'job_run_2026_09']),
    );
    expect(await partitions('article')).not.toContain('article_2026_07');
    expect(await partitions('article')).toContain('article_2026_08');
    expect(await count('article', `published_at < '2026-08-01T00:00:00Z'`)).toBe(0);
    expect(await count('article_entity', `published_at < '2026-08-01T00:00:00Z'`)).toBe(0);
    expect(await count('article_key', `published_at < '2026-08-01T00:00:00Z'`)).toBe(0);
    expect(await count('article')).toBe(350 - 122);
    expect(await count('article_key')).toBe(350 - 122);
    // Trends are not partitioned and keep their exact (day) cutoff: the August 10 one went.
    expect(await count('trend')).toBe(1);
    expect(await count('job_run')).toBe(130 - oldRuns!);
    expect(await count('rollup_dirty')).toBe(0);
    expect(await rollupSnapshot(db.pool)).toEqual(before);
  });

  it('with the database clock: items older than retention are never re-inserted after a prune', async () => {
    const { rows } = await db.pool.query<{ now: Date }>('select now() as now');
    const dbNow = rows[0]!.now.getTime();
    const item = (id: string, ageDays: number): PreparedArticle => ({
      externalId: id,
      url: null,
      urlKey: `key-${id}`,
      title: id,
      summary: null,
      author: null,
      language: null,
      publishedAt: new Date(dbNow - ageDays * DAY_MS),
      sentiment: 0.1,
      entityIds: [entities[0]!],
      entitySentiment: new Map(),
    });
    const batch = [item('fresh', 1), item('edge', 9.5), item('stale', 12), item('ancient', 400)];
    const store = () =>
      db.rollupOrm.em.fork().transactional((tx) =>
        persistItems(tx, { sourceId: SOURCE_ID, fetchedAt: new Date(), scorerId: 'test', articles: batch, trends: [], retentionDays: 10 }),
      );
    // 'edge' (9.5 days) may fall either side of the day-aligned cutoff depending on the hour: compute it.
    const cutoff = Math.floor((dbNow - 10 * DAY_MS) / DAY_MS) * DAY_MS;
    const kept = batch.filter((a) => a.publishedAt.getTime() >= cutoff).length;
    expect(await store()).toMatchObject({ inserted: kept, tooOld: 4 - kept, duplicates: 0 });
    // No clock given: the prune reads now() from the database.
    await pruneRaw(db.rollupOrm.em.fork(), { articleRetentionDays: 10, jobRunRetentionDays: 30, batchSize: 100 });
    expect(await store()).toMatchObject({ inserted: 0, tooOld: 4 - kept, duplicates: kept });
    expect(await count('article', `external_id in ('stale', 'ancient')`)).toBe(0);
  });
});
