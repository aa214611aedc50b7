import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { rebuildRange } from '../../src/rollup/rebuild.ts';
import { refreshDirty } from '../../src/rollup/refresh.ts';
import { ROLLUP_LOCK_KEY } from '../../src/rollup/statements.ts';
import { DAY_MS, HOUR_MS } from '../../src/rollup/buckets.ts';
import { diffRollups, expectRollupsEqualOracle, oracleRows, rollupRows, rollupSnapshot } from './oracle.ts';
import { createEntities, createRollupDatabase, ingestArticles, ingestTrends, prng, type SeedArticle } from './seed.ts';

let db: Awaited<ReturnType<typeof createRollupDatabase>>;
let entities: number[];
const em = () => db.rollupOrm.em.fork();
const NOW = new Date('2026-11-22T12:00:00Z');
const now = () => NOW;
// retention 30 days at NOW -> cutoff 2026-10-23T00:00Z
const CUTOFF = Date.parse('2026-10-23T00:00:00Z');

beforeAll(async () => {
  db = await createRollupDatabase('rollup_rebuild');
  entities = await createEntities(db.pool, 3);
});
afterAll(async () => {
  await db?.drop();
});

/** 600 articles over 2026-10-15 .. 2026-11-22 for three entities, plus trends; rollups refreshed. */
beforeEach(async () => {
  await db.pool.query('truncate article, article_key, trend, sentiment_rollup, rollup_dirty cascade');
  const rnd = prng(20261122);
  const start = Date.parse('2026-10-15T00:00:00Z');
  const articles: SeedArticle[] = Array.from({ length: 600 }, (_, i) => ({
    externalId: `r${i}`,
    publishedAt: new Date(start + Math.floor(rnd.next() * 38 * DAY_MS)),
    sentiment: Math.round((rnd.next() * 2 - 1) * 1e4) / 1e4,
    entityIds: [rnd.pick(entities), rnd.pick(entities)],
  }));
  await ingestArticles(db.pool, articles);
  await ingestTrends(
    db.pool,
    Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 5}`, observedAt: new Date(start + Math.floor(rnd.next() * 38 * DAY_MS)), entityIds: [rnd.pick(entities)] })),
  );
  await refreshDirty(em());
});

/** Damage the rollups in range the ways a repair must fix: wrong values, stray rows, missing rows. */
async function corrupt(): Promise<void> {
  await db.pool.query(`update sentiment_rollup set article_count = article_count + 5, sentiment_stddev = 42 where bucket_start >= '2026-11-01'`);
  await db.pool.query(
    `insert into sentiment_rollup (entity_id, granularity, bucket_start, article_count, sentiment_sum, sentiment_sumsq, positive_count, neutral_count, negative_count, trend_mentions, updated_at)
     select e.id, g, '2026-11-05T03:00:00Z'::timestamptz + interval '37 minutes' * 0, 9, 1, 1, 9, 0, 0, 0, now() from entity e, unnest(array['hour', 'day']) g
     on conflict do nothing`,
  );
  await db.pool.query(`delete from sentiment_rollup where bucket_start >= '2026-11-10' and bucket_start < '2026-11-12'`);
}

describe('rebuildRange', () => {
  it('recomputes every hour and day of the range from scratch, equal to the oracle, with progress', async () => {
    await corrupt();
    const progress: Array<[number, number]> = [];
    const stats = await rebuildRange(em(), {
      from: new Date('2026-10-25T00:00:00Z'),
      to: new Date('2026-11-23T00:00:00Z'),
      retentionDays: 30,
      now,
      onProgress: (done, total) => {
        progress.push([done, total]);
      },
    });
    expect(stats).toMatchObject({ chunks: 29, skippedHours: 0, skippedDays: 0 });
    expect(stats.deletedHours).toBeGreaterThan(0);
    expect(progress[0]).toEqual([0, 29]);
    expect(progress.at(-1)).toEqual([29, 29]);
    expect(progress.map(([done]) => done)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    await expectRollupsEqualOracle(db.pool);

    // Idempotent: a re-run (e.g. after a kill) rewrites nothing.
    const before = await rollupSnapshot(db.pool);
    const again = await rebuildRange(em(), { from: new Date('2026-10-25T00:00:00Z'), to: new Date('2026-11-23T00:00:00Z'), retentionDays: 30, now });
    expect(again.written).toBe(0);
    expect(await rollupSnapshot(db.pool)).toEqual(before);
  });

  it('skips buckets older than the retention window, says so, and leaves them as they were', async () => {
    // Retention removed raw articles before the cutoff; the rollups keep what they had.
    await db.pool.query(`delete from article where published_at < $1`, [new Date(CUTOFF).toISOString()]);
    await db.pool.query(`delete from trend where observed_at < $1`, [new Date(CUTOFF).toISOString()]);
    const old = (await rollupRows(db.pool)).filter((r) => r.bucket < CUTOFF);
    expect(old.length).toBeGreaterThan(0);
    await corrupt();
    const stats = await rebuildRange(em(), { from: new Date('2026-10-15T00:00:00Z'), to: new Date('2026-11-23T00:00:00Z'), retentionDays: 30, now });
    expect(stats).toMatchObject({ skippedDays: 8, skippedHours: 8 * 24, chunks: 31, retentionCutoff: '2026-10-23T00:00:00.000Z' });
    expect((await rollupRows(db.pool)).filter((r) => r.bucket < CUTOFF)).toEqual(old);
    await expectRollupsEqualOracle(db.pool, 'after the cutoff', new Date(CUTOFF));
  });

  it('clamps "to" at now + 1 day and walks the chunks lazily (a range to 9999-12-31 is bounded, and says so)', async () => {
    await corrupt();
    const progress: Array<[number, number]> = [];
    const stats = await rebuildRange(em(), {
      from: new Date('2026-11-01T00:00:00Z'),
      to: new Date('9999-12-31T00:00:00Z'),
      retentionDays: 30,
      now,
      onProgress: (done, total) => {
        progress.push([done, total]);
      },
    });
    // NOW is 2026-11-22T12:00Z: the range ends at 2026-11-23T12:00Z, 22.5 days -> 23 day chunks.
    expect(stats).toMatchObject({ clampedTo: '2026-11-23T12:00:00.000Z', to: '2026-11-23T12:00:00.000Z', chunks: 23 });
    expect(progress.at(-1)).toEqual([23, 23]);
    await expectRollupsEqualOracle(db.pool, 'after a clamped rebuild', new Date('2026-11-01T00:00:00Z'));
    await expect(rebuildRange(em(), { from: new Date('2027-01-01T00:00:00Z'), to: new Date('9999-12-31T00:00:00Z'), retentionDays: 30, now })).rejects.toThrow(
      /more than 1 day past now/,
    );
    // Without a pinned clock the database's now() decides (the real date is past 2026-11-22): nothing clamped here.
    const dbClock = await rebuildRange(em(), { from: new Date('2026-11-20T00:00:00Z'), to: new Date('2026-11-21T00:00:00Z'), retentionDays: 3650 });
    expect(dbClock.clampedTo).toBeNull();
  });

  it('a range entirely before the cutoff does nothing and reports every bucket skipped', async () => {
    const before = await rollupSnapshot(db.pool);
    const stats = await rebuildRange(em(), { from: new Date('2026-10-16T06:30:00Z'), to: new Date('2026-10-18T00:00:00Z'), retentionDays: 30, now });
    expect(stats).toMatchObject({ chunks: 0, skippedHours: 42, skippedDays: 2 });
    expect(await rollupSnapshot(db.pool)).toEqual(before);
  });

  it('re-merges whole days partly inside the range, and only the hours inside it', async () => {
    await db.pool.query(`update sentiment_rollup set trend_mentions = trend_mentions + 100 where granularity = 'hour' and bucket_start >= '2026-11-10T00:00:00Z' and bucket_start < '2026-11-10T06:00:00Z'`);
    await db.pool.query(`update sentiment_rollup set article_count = 0 where granularity = 'day'`);
    await rebuildRange(em(), { from: new Date('2026-11-10T06:00:00Z'), to: new Date('2026-11-10T18:30:00Z'), retentionDays: 30, now, chunkHours: 5 });
    const actual = await rollupRows(db.pool);
    const expected = await oracleRows(db.pool);
    const problems = diffRollups(actual, expected);
    // The hours before 06:00 were outside the range: untouched (still inflated), and the day
    // merged from them shows it; every other day stays as damaged (not in range).
    expect(problems.some((p) => p.startsWith('hour') && p.includes('2026-11-10T05:00'))).toBe(true);
    expect(problems.some((p) => p.startsWith('hour') && p.includes('2026-11-10T06:00'))).toBe(false);
    expect(problems.filter((p) => p.startsWith('hour') && !p.includes('2026-11-10T0'))).toEqual([]);
    const day = actual.filter((r) => r.granularity === 'day' && r.bucket === Date.parse('2026-11-10T00:00:00Z'));
    const hours = actual.filter((r) => r.granularity === 'hour' && r.bucket >= Date.parse('2026-11-10T00:00:00Z') && r.bucket < Date.parse('2026-11-11T00:00:00Z'));
    for (const row of day) {
      const own = hours.filter((h) => h.entity_id === row.entity_id);
      expect(row.article_count).toBe(own.reduce((n, h) => n + h.article_count, 0));
      expect(row.trend_mentions).toBe(own.reduce((n, h) => n + h.trend_mentions, 0));
    }
    expect(actual.filter((r) => r.granularity === 'day' && r.bucket !== Date.parse('2026-11-10T00:00:00Z')).every((r) => r.article_count === 0)).toBe(true);
  });

  it('limits itself to one entity when asked', async () => {
    await corrupt();
    const [target, other] = entities;
    await rebuildRange(em(), { from: new Date('2026-10-25T00:00:00Z'), to: new Date('2026-11-23T00:00:00Z'), entityId: target, retentionDays: 30, now });
    const problems = diffRollups(await rollupRows(db.pool), await oracleRows(db.pool));
    expect(problems.filter((p) => p.includes(` e${target} `))).toEqual([]);
    expect(problems.filter((p) => p.includes(` e${other} `)).length).toBeGreaterThan(0);
  });

  it('waits for the rollup lock (never interleaves with a refresh) instead of skipping', async () => {
    await corrupt();
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select pg_advisory_xact_lock($1::bigint)', [ROLLUP_LOCK_KEY]);
      const rebuilding = rebuildRange(em(), { from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-11-23T00:00:00Z'), retentionDays: 30, now });
      // Latch: the rebuild's backend is waiting on the advisory lock.
      for (;;) {
        const { rows } = await holder.query(
          `select 1 from pg_locks where locktype = 'advisory' and not granted and objid = $1::bigint::oid
              and database = (select oid from pg_database where datname = current_database())`,
          [ROLLUP_LOCK_KEY % 2 ** 32],
        );
        if (rows.length > 0) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const { rows: unchanged } = await holder.query(`select count(*)::int as n from sentiment_rollup where sentiment_stddev = 42`);
      expect(unchanged[0].n).toBeGreaterThan(0);
      await holder.query('commit');
      const stats = await rebuilding;
      expect(stats.chunks).toBe(22);
    } finally {
      await holder.end();
    }
    await expectRollupsEqualOracle(db.pool, 'from Nov 1', new Date('2026-11-01T00:00:00Z'));
  });

  it('chunks align to UTC days by default and to hours for a partial range', async () => {
    const stats = await rebuildRange(em(), { from: new Date('2026-11-20T10:30:00Z'), to: new Date('2026-11-22T01:00:00Z'), retentionDays: 30, now });
    expect(stats).toMatchObject({ from: '2026-11-20T10:00:00.000Z', to: '2026-11-22T01:00:00.000Z', chunks: 3 });
    expect(HOUR_MS * 24).toBe(DAY_MS);
    await expectRollupsEqualOracle(db.pool);
  });
});
