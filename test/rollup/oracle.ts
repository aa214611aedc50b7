/**
 * The oracle: expected hour and day rollup rows computed directly from the raw tables with
 * Postgres' own aggregates (count, sum, min, max, avg, stddev_samp) over date_trunc in UTC.
 * Days come straight from the articles here, not from hours, so it checks the merge too.
 */
import type pg from 'pg';
import { expect } from 'vitest';

export interface RollupRow {
  entity_id: number;
  granularity: 'hour' | 'day';
  /** bucket_start as epoch milliseconds. */
  bucket: number;
  article_count: number;
  sentiment_sum: number;
  sentiment_sumsq: number;
  sentiment_min: number | null;
  sentiment_max: number | null;
  sentiment_mean: number | null;
  sentiment_stddev: number | null;
  positive_count: number;
  neutral_count: number;
  negative_count: number;
  trend_mentions: number;
}

const oracleFor = (unit: 'hour' | 'day') => `
with a as (
  select entity_id, date_trunc('${unit}', published_at, 'UTC') as b,
         count(*)::int as n, sum(sentiment) as s, sum(sentiment * sentiment) as ss,
         min(sentiment) as mn, max(sentiment) as mx, avg(sentiment) as mean, stddev_samp(sentiment) as sd,
         (count(*) filter (where sentiment > 0.05))::int as pos,
         (count(*) filter (where sentiment between -0.05 and 0.05))::int as neu,
         (count(*) filter (where sentiment < -0.05))::int as neg
    from article_entity group by 1, 2
),
t as (
  select entity_id, date_trunc('${unit}', observed_at, 'UTC') as b, count(*)::int as tm
    from trend_entity group by 1, 2
)
select coalesce(a.entity_id, t.entity_id) as entity_id, '${unit}' as granularity,
       (extract(epoch from coalesce(a.b, t.b)) * 1000)::float8 as bucket,
       coalesce(a.n, 0) as article_count, coalesce(a.s, 0) as sentiment_sum, coalesce(a.ss, 0) as sentiment_sumsq,
       a.mn as sentiment_min, a.mx as sentiment_max, a.mean as sentiment_mean, a.sd as sentiment_stddev,
       coalesce(a.pos, 0) as positive_count, coalesce(a.neu, 0) as neutral_count, coalesce(a.neg, 0) as negative_count,
       coalesce(t.tm, 0) as trend_mentions
  from a full join t on t.entity_id = a.entity_id and t.b = a.b`;

const ROLLUP_SELECT = `
select entity_id, granularity, (extract(epoch from bucket_start) * 1000)::float8 as bucket,
       article_count, sentiment_sum, sentiment_sumsq, sentiment_min, sentiment_max, sentiment_mean,
       sentiment_stddev, positive_count, neutral_count, negative_count, trend_mentions
  from sentiment_rollup`;

const ORDER = ' order by 2, 1, 3';

function sortRows(rows: RollupRow[]): RollupRow[] {
  return rows.sort((a, b) => a.granularity.localeCompare(b.granularity) || a.entity_id - b.entity_id || a.bucket - b.bucket);
}

/** Expected rows for both granularities, optionally only buckets starting at or after `since`. */
export async function oracleRows(pool: pg.Pool, since?: Date): Promise<RollupRow[]> {
  const { rows } = await pool.query<RollupRow>(`select * from ((${oracleFor('hour')}) union all (${oracleFor('day')})) o
    where $1::float8 is null or bucket >= $1::float8 ${ORDER}`, [since?.getTime() ?? null]);
  return sortRows(rows);
}

export async function rollupRows(pool: pg.Pool, since?: Date): Promise<RollupRow[]> {
  const { rows } = await pool.query<RollupRow>(`select * from (${ROLLUP_SELECT}) r where $1::float8 is null or bucket >= $1::float8 ${ORDER}`, [
    since?.getTime() ?? null,
  ]);
  return sortRows(rows);
}

/** The whole table as text (UTC), updated_at included: for "nothing changed" assertions. */
export async function rollupSnapshot(pool: pg.Pool): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query(`begin; set local time zone 'UTC'`);
    const { rows } = await client.query<{ r: string }>(`select r::text as r from sentiment_rollup r order by entity_id, granularity, bucket_start`);
    await client.query('commit');
    return rows.map((row) => row.r);
  } finally {
    client.release();
  }
}

export const TOLERANCE = 1e-9;

const FLOAT_KEYS = ['sentiment_sum', 'sentiment_sumsq', 'sentiment_min', 'sentiment_max', 'sentiment_mean', 'sentiment_stddev'] as const;
const EXACT_KEYS = ['article_count', 'positive_count', 'neutral_count', 'negative_count', 'trend_mentions'] as const;

const keyOf = (r: RollupRow) => `${r.granularity} e${r.entity_id} ${new Date(r.bucket).toISOString()}`;

/** Lists every difference between actual and expected rows (empty when equal to the tolerance). */
export function diffRollups(actual: RollupRow[], expected: RollupRow[], tolerance = TOLERANCE): string[] {
  const problems: string[] = [];
  const byKey = new Map(expected.map((r) => [keyOf(r), r]));
  const seen = new Set<string>();
  for (const row of actual) {
    const key = keyOf(row);
    seen.add(key);
    const want = byKey.get(key);
    if (!want) {
      problems.push(`${key}: unexpected row (count ${row.article_count}, trends ${row.trend_mentions})`);
      continue;
    }
    for (const k of EXACT_KEYS) if (Number(row[k]) !== Number(want[k])) problems.push(`${key}: ${k} ${row[k]} != ${want[k]}`);
    for (const k of FLOAT_KEYS) {
      const got = row[k];
      const exp = want[k];
      if (got === null || exp === null) {
        if (got !== exp) problems.push(`${key}: ${k} ${got} != ${exp}`);
      } else if (!(Math.abs(got - exp) <= tolerance)) {
        problems.push(`${key}: ${k} ${got} != ${exp} (diff ${Math.abs(got - exp)})`);
      }
    }
  }
  for (const key of byKey.keys()) if (!seen.has(key)) problems.push(`${key}: missing row`);
  return problems;
}

/** Asserts the rollup table equals the oracle (from `since` on, when given). */
export async function expectRollupsEqualOracle(pool: pg.Pool, context = '', since?: Date): Promise<void> {
  const [actual, expected] = await Promise.all([rollupRows(pool, since), oracleRows(pool, since)]);
  const problems = diffRollups(actual, expected);
  expect(problems.length, `${context} rollups differ from the oracle (${problems.length} problems):\n${problems.slice(0, 20).join('\n')}`).toBe(0);
}
