import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('rollup_read_index');
});
afterAll(async () => {
  await db?.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}
const INDEXES = ['sentiment_rollup_entity_granularity_bucket_desc_index', 'sentiment_rollup_pkey'];
const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

describe('reading rollups', () => {
  it('"last 7 days of hourly rows for one entity" reads through the (entity_id, granularity, bucket_start DESC) index', async () => {
    // 60 entities x 120 days of hourly and daily rows (~177k), written time-major as refreshes write them, analyzed.
    await db.pool.query(`insert into entity (slug, name) select 'e' || g, 'E' || g from generate_series(1, 60) g`);
    await db.pool.query(`
      insert into sentiment_rollup (entity_id, granularity, bucket_start, article_count, sentiment_sum, sentiment_sumsq,
        sentiment_min, sentiment_max, sentiment_mean, sentiment_stddev, positive_count, neutral_count, negative_count, trend_mentions, updated_at)
      select e.id, g.granularity, t, 2, 0.2, 0.1, 0, 0.2, 0.1, 0.14, 1, 1, 0, 0, now()
        from (values ('hour', interval '1 hour'), ('day', interval '24 hours')) as g(granularity, step)
       cross join lateral generate_series(timestamptz '2026-07-25T00:00:00Z', timestamptz '2026-11-22T00:00:00Z', g.step) as t
       cross join entity e
       order by t, e.id`);
    await db.pool.query('analyze sentiment_rollup');
    const explain = async (query: string, randomPageCost = 4) => {
      const client = await db.pool.connect();
      try {
        await client.query(`begin; set local random_page_cost = ${randomPageCost}`);
        const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`explain (format json) ${query}`);
        await client.query('commit');
        const plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
        if (!plan) throw new Error('no plan');
        return nodes(plan);
      } finally {
        client.release();
      }
    };
    const plainIndexScan = (plan: PlanNode[]) => {
      const scans = plan.filter((n) => n['Relation Name'] === 'sentiment_rollup');
      expect(scans.map((n) => n['Node Type'])).toEqual([expect.stringMatching(/^Index (Only )?Scan$/)]);
      expect(INDEXES).toContain(scans[0]?.['Index Name']);
      // The DESC order comes straight from the index: no sort.
      expect(plan.some((n) => n['Node Type'] === 'Sort')).toBe(false);
    };
        const lastWeek = `
      select bucket_start, article_count, sentiment_mean, sentiment_stddev
        from sentiment_rollup
       where entity_id = (select id from entity where slug = 'e17') and granularity = 'hour'
         and bucket_start >= timestamptz '2026-11-22T00:00:00Z' - interval '7 days'
       order by bucket_start desc`;

    // Default costs (random_page_cost 4, spinning disks): 168 rows on 168 pages may become a
    // bitmap scan of the same index plus a sort; never a seq scan.
    const week = await explain(lastWeek);
    expect(week.some((n) => n['Node Type'] === 'Seq Scan')).toBe(false);
    const weekIndex = week.filter((n) => /^(Bitmap )?Index (Only )?Scan$/.test(n['Node Type']) && INDEXES.includes(n['Index Name'] ?? ''));
    expect(weekIndex).toHaveLength(1);

    // SSD costs (random_page_cost 1.1, what managed Postgres on SSD uses): a plain Index Scan.
    plainIndexScan(await explain(lastWeek, 1.1));
    // The dashboard form (newest first, bounded) at default costs: a plain Index Scan too.
    plainIndexScan(await explain(`${lastWeek} limit 100`));
  });
});
