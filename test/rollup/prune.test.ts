import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneRaw } from '../../src/rollup/prune.ts';
import { refreshDirty } from '../../src/rollup/refresh.ts';
import { DAY_MS } from '../../src/rollup/buckets.ts';
import { rollupSnapshot } from './oracle.ts';
import { createEntities, createRollupDatabase, ingestArticles, ingestTrends, type SeedArticle } from './seed.ts';

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

describe('pruneRaw', () => {
  it('deletes old articles, trends and job runs in batches, leaving rollups byte-identical and nothing dirty', async () => {
    const now = new Date('2026-11-22T12:00:00Z');
    const start = Date.parse('2026-08-01T00:00:00Z');
    // 113 days of articles, 2 a day: retention 90 days -> cutoff 2026-08-24T00:00Z.
    const articles: SeedArticle[] = Array.from({ length: 226 }, (_, i) => ({
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
    await db.pool.query(
      `insert into job_run (queue, job_name, job_id, attempt, status, started_at)
       select 'ingest', 'fetch', 'j' || g, 1, 'completed', $1::timestamptz - g * interval '24 hours' from generate_series(1, 40) g`,
      [now.toISOString()],
    );
    await refreshDirty(db.rollupOrm.em.fork());
    const before = await rollupSnapshot(db.pool);

    const stats = await pruneRaw(db.rollupOrm.em.fork(), { articleRetentionDays: 90, jobRunRetentionDays: 30, batchSize: 7, now });
    expect(stats).toMatchObject({ articles: 46, trends: 1, jobRuns: 10, articleCutoff: '2026-08-24T00:00:00.000Z' });
    expect(stats.batches).toBeGreaterThan(46 / 7);
    expect(await count('article', `published_at < '2026-08-24T00:00:00Z'`)).toBe(0);
    expect(await count('article_entity', `published_at < '2026-08-24T00:00:00Z'`)).toBe(0);
    expect(await count('article')).toBe(180);
    expect(await count('trend_entity')).toBe(2);
    expect(await count('job_run')).toBe(30);
    expect(await count('rollup_dirty')).toBe(0);
    expect(await rollupSnapshot(db.pool)).toEqual(before);

    // A second prune finds nothing more.
    expect(await pruneRaw(db.rollupOrm.em.fork(), { articleRetentionDays: 90, jobRunRetentionDays: 30, batchSize: 7, now })).toMatchObject({ articles: 0, trends: 0, jobRuns: 0 });
  });
});
