/**
 * The set-based statements refresh and rebuild share. Each one recomputes a set of buckets
 * and, in the same statement, deletes the rows of buckets that turned out empty. Hours are
 * aggregated from article_entity (+ trend_entity counts); days only from hourly rows.
 *
 * Exactness. Hour rows take `stddev_samp` straight from the articles. Day rows merge their
 * hours with Chan et al.'s parallel formula, M2 = sum(M2_h) + sum(n_h * (mean_h - mean)^2),
 * where M2_h = stddev_h^2 * (n_h - 1) is recovered from the stored hourly stddev: the stored
 * stddev is the per-hour M2 carrier, so no extra column is needed. The textbook
 * (sumsq - sum^2/n) / (n - 1) loses up to ~1e-8 of absolute stddev to cancellation when
 * values are (nearly) equal (three articles at 0.7 give 1.05e-8 instead of 0), which breaks
 * the 1e-9 oracle tolerance; sumsq is still stored, exactly summed, for SQL users.
 *
 * Time. Buckets use `date_trunc(unit, ts, 'UTC')` and spans use `interval '1 hour'` /
 * `interval '24 hours'` (never '1 day', which timestamptz arithmetic stretches across DST in
 * the session time zone), so the session time zone cannot move a bucket.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../db/sql.ts';
import { chanCross } from './delta.ts';

/**
 * Locking. Prune holds ROLLUP_LOCK_KEY exclusively (a rebuild never reads a half-pruned day);
 * refreshes and rebuild chunks hold it shared and, in addition, one exclusive lock per UTC day
 * they recompute (DAY_LOCK_CLASS, day number), taken in ascending day order so they cannot
 * deadlock. A refresh therefore waits only for a rebuild chunk of the same day (one chunk,
 * not the whole rebuild), and two refreshes on two workers split the marks (SKIP LOCKED)
 * instead of one being skipped.
 */
export const ROLLUP_LOCK_KEY = 4_242_031_002;
/** The first key of the two-key advisory locks, one per UTC day (second key: days since the epoch). */
export const DAY_LOCK_CLASS = 424_203_100;

export interface WriteCounts {
  /** Buckets that have data after the statement (rows present). */
  present: number;
  /** Rows inserted or changed (unchanged rows are not rewritten). */
  written: number;
  /** Rows deleted because their bucket lost all its articles and trend mentions. */
  deleted: number;
}

/** The aggregate columns of sentiment_rollup (the read API selects the same list). */
export const ROLLUP_COLUMNS = [
  'article_count',
  'sentiment_sum',
  'sentiment_sumsq',
  'sentiment_min',
  'sentiment_max',
  'sentiment_mean',
  'sentiment_stddev',
  'positive_count',
  'neutral_count',
  'negative_count',
  'trend_mentions',
] as const;

const COLUMN_LIST = sql.raw(ROLLUP_COLUMNS.join(', '));
const UPDATE_SET = sql.raw(ROLLUP_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', '));
const CHANGED = sql.raw(
  `(${ROLLUP_COLUMNS.map((c) => `sentiment_rollup.${c}`).join(', ')}) is distinct from (${ROLLUP_COLUMNS.map((c) => `excluded.${c}`).join(', ')})`,
);

/** Aggregates of one hour's article_entity rows `ae` (nulls from a left join count as nothing). */
const HOUR_AGGREGATES = sql`
  count(ae.sentiment)::int as article_count,
  coalesce(sum(ae.sentiment), 0)::float8 as sentiment_sum,
  coalesce(sum(ae.sentiment * ae.sentiment), 0)::float8 as sentiment_sumsq,
  min(ae.sentiment) as sentiment_min,
  max(ae.sentiment) as sentiment_max,
  avg(ae.sentiment) as sentiment_mean,
  stddev_samp(ae.sentiment) as sentiment_stddev,
  (count(*) filter (where ae.sentiment > 0.05::float8))::int as positive_count,
  (count(*) filter (where ae.sentiment >= -0.05::float8 and ae.sentiment <= 0.05::float8))::int as neutral_count,
  (count(*) filter (where ae.sentiment < -0.05::float8))::int as negative_count`;

/**
 * Aggregates of one day's hourly rows `h`; `h.day_n` / `h.day_sum` are the day's totals
 * (window sums), which Chan's merge needs for the between-hours term.
 */
const DAY_AGGREGATES = sql`
  coalesce(sum(h.article_count), 0)::int as article_count,
  coalesce(sum(h.sentiment_sum), 0)::float8 as sentiment_sum,
  coalesce(sum(h.sentiment_sumsq), 0)::float8 as sentiment_sumsq,
  min(h.sentiment_min) as sentiment_min,
  max(h.sentiment_max) as sentiment_max,
  case when sum(h.article_count) > 0 then (sum(h.sentiment_sum) / sum(h.article_count))::float8 end as sentiment_mean,
  case when sum(h.article_count) >= 2 then sqrt(greatest(0::float8, sum(
      case when h.article_count >= 2 then h.sentiment_stddev * h.sentiment_stddev * (h.article_count - 1) else 0::float8 end
    + case when h.article_count > 0 then h.article_count * (h.sentiment_mean - h.day_sum / h.day_n) ^ 2 else 0::float8 end
  ) / (sum(h.article_count) - 1)))::float8 end as sentiment_stddev,
  coalesce(sum(h.positive_count), 0)::int as positive_count,
  coalesce(sum(h.neutral_count), 0)::int as neutral_count,
  coalesce(sum(h.negative_count), 0)::int as negative_count,
  coalesce(sum(h.trend_mentions), 0)::int as trend_mentions`;

/** Hourly rows of `ents`/`days` joined in, plus each day's totals for the merge. */
const HOUR_ROW_COLUMNS = sql`
  h.article_count, h.sentiment_sum, h.sentiment_sumsq, h.sentiment_min, h.sentiment_max, h.sentiment_mean,
  h.sentiment_stddev, h.positive_count, h.neutral_count, h.negative_count, h.trend_mentions,
  sum(h.article_count) over w as day_n, sum(h.sentiment_sum) over w as day_sum`;

/** The shared tail: upsert non-empty `computed` rows of one granularity, report counts. */
function upsertTail(granularity: 'hour' | 'day'): RawBuilder<unknown> {
  return sql`
upserted as (
  insert into sentiment_rollup (entity_id, granularity, bucket_start, ${COLUMN_LIST}, updated_at)
  select c.entity_id, ${granularity}, c.bucket_start, ${COLUMN_LIST}, now()
    from computed c
   where c.article_count > 0 or c.trend_mentions > 0
  on conflict (entity_id, granularity, bucket_start) do update
     set ${UPDATE_SET}, updated_at = excluded.updated_at
   where ${CHANGED}
  returning 1
)
select (select count(*) from computed c where c.article_count > 0 or c.trend_mentions > 0)::int as present,
       (select count(*) from upserted)::int as written,
       (select count(*) from removed)::int as deleted`;
}

async function run(db: Kysely<DB>, statement: RawBuilder<WriteCounts>): Promise<WriteCounts> {
  const { rows } = await statement.execute(db);
  const row = rows[0];
  return { present: row?.present ?? 0, written: row?.written ?? 0, deleted: row?.deleted ?? 0 };
}

/** A marks set passed as two parallel arrays (entity ids, hour starts as epoch seconds). */
export interface MarkArrays {
  entityIds: number[];
  hourEpochs: number[];
}

const markRows = (m: MarkArrays) =>
  sql`unnest(${m.entityIds}::int[], ${m.hourEpochs}::float8[]) as mk(entity_id, hour_epoch)`;

/**
 * Recomputes exactly the marked (entity, hour) buckets: each mark probes the
 * (entity_id, published_at) and (entity_id, observed_at) indexes for its one hour, so cost
 * follows the number of marks, not the history.
 */
export function refreshHours(db: Kysely<DB>, marks: MarkArrays): Promise<WriteCounts> {
  return run(
    db,
    sql<WriteCounts>`
with marks as (
  select distinct mk.entity_id, date_trunc('hour', to_timestamp(mk.hour_epoch), 'UTC') as bucket_start
    from ${markRows(marks)}
),
computed as (
  -- LATERAL pins the plan to one index range probe per mark (a join could be hashed against a
  -- seq scan of the whole history); an aggregate without GROUP BY yields a row even for an
  -- hour that lost all its articles, which is how its row gets deleted.
  select m.entity_id, m.bucket_start, a.*,
         (select count(*) from trend_entity te
           where te.entity_id = m.entity_id
             and te.observed_at >= m.bucket_start and te.observed_at < m.bucket_start + interval '1 hour')::int as trend_mentions
    from marks m
   cross join lateral (
     select ${HOUR_AGGREGATES}
       from article_entity ae
      where ae.entity_id = m.entity_id
        and ae.published_at >= m.bucket_start and ae.published_at < m.bucket_start + interval '1 hour'
   ) a
),
removed as (
  delete from sentiment_rollup r
   using computed c
   where c.article_count = 0 and c.trend_mentions = 0
     and r.entity_id = c.entity_id and r.granularity = 'hour' and r.bucket_start = c.bucket_start
  returning 1
),
${upsertTail('hour')}`,
  );
}

/** Recomputes the days containing the marked hours, from their hourly rows only. */
export function refreshDays(db: Kysely<DB>, marks: MarkArrays): Promise<WriteCounts> {
  return run(
    db,
    sql<WriteCounts>`
with days as (
  select distinct mk.entity_id, date_trunc('day', to_timestamp(mk.hour_epoch), 'UTC') as bucket_start
    from ${markRows(marks)}
),
hours as (
  select d.entity_id, d.bucket_start, ${HOUR_ROW_COLUMNS}
    from days d
   cross join lateral (
     select * from sentiment_rollup hr
      where hr.entity_id = d.entity_id and hr.granularity = 'hour'
        and hr.bucket_start >= d.bucket_start and hr.bucket_start < d.bucket_start + interval '24 hours'
     offset 0 -- a fence: kept as a per-row index probe, never flattened into a hash join over the whole table
   ) h
  window w as (partition by d.entity_id, d.bucket_start)
),
computed as (
  select h.entity_id, h.bucket_start, ${DAY_AGGREGATES}
    from hours h
   group by h.entity_id, h.bucket_start
),
removed as (
  delete from sentiment_rollup r
   using days d
   where r.entity_id = d.entity_id and r.granularity = 'day' and r.bucket_start = d.bucket_start
     and not exists (select 1 from computed c where c.entity_id = d.entity_id and c.bucket_start = d.bucket_start)
  returning 1
),
${upsertTail('day')}`,
  );
}

/** Entities a range statement covers: one, or all (read through IN_SCOPE). */
const entityScope = (entityId: number | undefined) =>
  entityId === undefined ? sql`select id from entity` : sql`select id from entity where id = ${entityId}`;

/**
 * The scope's entities as ONE index condition: `entity_id = any(array(select id from ents))`
 * is an init-plan parameter, so the planner can neither flatten it into a hash join over the
 * whole table (the reason for the old LATERAL + offset 0 fences) nor probe entity by entity:
 * a bitmap scan reads each heap page of the range once, in physical order (EXPLAIN ANALYZE
 * of one day at 1M articles: 1,014 buffers and 124 ms, against 29,984 and 1,018 ms per entity).
 */
const IN_SCOPE = (alias: string) => sql.raw(`${alias}.entity_id = any(array(select id from ents))`);

/** Existing rows of the scope in [from, to) that `computed` no longer has, found per entity through the primary key. */
const staleRows = (granularity: 'hour' | 'day', from: string, to: string) => sql`
  select x.entity_id, ${granularity}, x.bucket_start
    from sentiment_rollup x
   where ${IN_SCOPE('x')} and x.granularity = ${granularity}
     and x.bucket_start >= ${from}::timestamptz and x.bucket_start < ${to}::timestamptz
     and not exists (select 1 from computed c where c.entity_id = x.entity_id and c.bucket_start = x.bucket_start)`;

/**
 * Recomputes every hour in [from, to) (hour-aligned) from scratch for the scope, deleting
 * hourly rows in the range whose articles and trend mentions are all gone.
 */
export function rebuildHours(db: Kysely<DB>, range: { from: Date; to: Date; entityId: number | undefined }): Promise<WriteCounts> {
  const from = range.from.toISOString();
  const to = range.to.toISOString();
  return run(
    db,
    sql<WriteCounts>`
with ents as (${entityScope(range.entityId)}),
art as (
  select ae.entity_id, date_trunc('hour', ae.published_at, 'UTC') as bucket_start, ${HOUR_AGGREGATES}
    from article_entity ae
   where ${IN_SCOPE('ae')} and ae.published_at >= ${from}::timestamptz and ae.published_at < ${to}::timestamptz
   group by 1, 2
),
tr as (
  select te.entity_id, date_trunc('hour', te.observed_at, 'UTC') as bucket_start, count(*)::int as trend_mentions
    from trend_entity te
   where ${IN_SCOPE('te')} and te.observed_at >= ${from}::timestamptz and te.observed_at < ${to}::timestamptz
   group by 1, 2
),
computed as (
  select coalesce(a.entity_id, t.entity_id) as entity_id, coalesce(a.bucket_start, t.bucket_start) as bucket_start,
         coalesce(a.article_count, 0) as article_count, coalesce(a.sentiment_sum, 0)::float8 as sentiment_sum,
         coalesce(a.sentiment_sumsq, 0)::float8 as sentiment_sumsq, a.sentiment_min, a.sentiment_max, a.sentiment_mean,
         a.sentiment_stddev, coalesce(a.positive_count, 0) as positive_count, coalesce(a.neutral_count, 0) as neutral_count,
         coalesce(a.negative_count, 0) as negative_count, coalesce(t.trend_mentions, 0) as trend_mentions
    from art a
    full join tr t on t.entity_id = a.entity_id and t.bucket_start = a.bucket_start
),
removed as (
  delete from sentiment_rollup r
   where (r.entity_id, r.granularity, r.bucket_start) in (${staleRows('hour', from, to)})
  returning 1
),
${upsertTail('hour')}`,
  );
}

/** Recomputes every day in [from, to) (day-aligned) for the scope from its hourly rows. */
export function rebuildDays(db: Kysely<DB>, range: { from: Date; to: Date; entityId: number | undefined }): Promise<WriteCounts> {
  const from = range.from.toISOString();
  const to = range.to.toISOString();
  return run(
    db,
    sql<WriteCounts>`
with ents as (${entityScope(range.entityId)}),
hours as (
  select h.entity_id, date_trunc('day', h.bucket_start, 'UTC') as bucket_start, ${HOUR_ROW_COLUMNS}
    from sentiment_rollup h
   where ${IN_SCOPE('h')} and h.granularity = 'hour'
     and h.bucket_start >= ${from}::timestamptz and h.bucket_start < ${to}::timestamptz
  window w as (partition by h.entity_id, date_trunc('day', h.bucket_start, 'UTC'))
),
computed as (
  select h.entity_id, h.bucket_start, ${DAY_AGGREGATES}
    from hours h
   group by h.entity_id, h.bucket_start
),
removed as (
  delete from sentiment_rollup r
   where (r.entity_id, r.granularity, r.bucket_start) in (${staleRows('day', from, to)})
  returning 1
),
${upsertTail('day')}`,
  );
}

/** Takes the rollup lock exclusively for this transaction (prune): waits when `wait`, else reports whether it got it. */
export async function lockRollups(db: Kysely<DB>, wait: boolean): Promise<boolean> {
  if (wait) {
    await sql`select pg_advisory_xact_lock(${ROLLUP_LOCK_KEY}::bigint)`.execute(db);
    return true;
  }
  const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_xact_lock(${ROLLUP_LOCK_KEY}::bigint) as locked`.execute(db);
  return rows[0]?.locked === true;
}

/** Takes the rollup lock shared for this transaction (refresh, rebuild chunk): only a prune excludes it. */
export async function lockRollupsShared(db: Kysely<DB>): Promise<void> {
  await sql`select pg_advisory_xact_lock_shared(${ROLLUP_LOCK_KEY}::bigint)`.execute(db);
}

/** Takes the day locks of the UTC days containing `epochSeconds` (any instants), in ascending order; waits. */
export async function lockDays(db: Kysely<DB>, epochSeconds: readonly number[]): Promise<number> {
  const days = [...new Set(epochSeconds.map((t) => Math.floor(t / 86_400)))].sort((a, b) => a - b);
  if (days.length === 0) return 0;
  await sql`select count(pg_advisory_xact_lock(${DAY_LOCK_CLASS}::int, d)) from (select d from unnest(${days}::int[]) d order by d) x`.execute(db);
  return days.length;
}

/** Insert-only deltas consumed from marks (delta.ts), one entry per (entity, hour), as parallel arrays. */
export interface DeltaArrays extends MarkArrays {
  counts: number[];
  sums: number[];
  sumsqs: number[];
  m2s: number[];
  mins: (number | null)[];
  maxs: (number | null)[];
  positives: number[];
  neutrals: number[];
  negatives: number[];
  trends: number[];
}

/** M2 of a stored row `r` recovered from its stddev (the per-hour M2 carrier, see the header). */
const STORED_M2 = `(case when r.article_count >= 2 then r.sentiment_stddev * r.sentiment_stddev * (r.article_count - 1) else 0::float8 end)`;

/**
 * Merges insert-only deltas into their hourly rows, or (granularity day) their days' rows,
 * without reading any article or hour row: counts, sums
 * and class counts add, min of mins, max of maxes, mean = sum / n, and stddev from Chan's
 * M2 = M2_row + M2_delta + n_row n_delta / n (mean_row - mean_delta)^2. Exact because a delta
 * mark holds exactly the links inserted since the row was last written (refresh.ts, rebuild.ts
 * keep that invariant), and a day row always equals the merge of its hours (every writer of an
 * hour re-merges its day in the same transaction). A bucket gaining links is never emptied.
 */
export function mergeDeltas(db: Kysely<DB>, d: DeltaArrays, granularity: 'hour' | 'day'): Promise<WriteCounts> {
  const cross = chanCross('r.article_count', 'r.sentiment_sum', 'excluded.article_count', 'excluded.sentiment_sum');
  const total = '(r.article_count + excluded.article_count)';
  return run(
    db,
    sql<WriteCounts>`
with u as (
  select u.entity_id, date_trunc(${granularity}, to_timestamp(u.hour_epoch), 'UTC') as bucket_start, u.n, u.s, u.sq, u.m2, u.mn, u.mx, u.pos, u.neu, u.neg, u.tr
    from unnest(${d.entityIds}::int[], ${d.hourEpochs}::float8[], ${d.counts}::int[], ${d.sums}::float8[], ${d.sumsqs}::float8[], ${d.m2s}::float8[],
                ${d.mins}::float8[], ${d.maxs}::float8[], ${d.positives}::int[], ${d.neutrals}::int[], ${d.negatives}::int[], ${d.trends}::int[])
      as u(entity_id, hour_epoch, n, s, sq, m2, mn, mx, pos, neu, neg, tr)
),
w as (
  select u.*, sum(u.n) over b as bn, sum(u.s) over b as bs from u window b as (partition by u.entity_id, u.bucket_start)
),
delta as (
  -- One delta per bucket: an hour has one mark; a day merges its hours' deltas with Chan's formula.
  select w.entity_id, w.bucket_start, sum(w.n)::int as n, sum(w.s)::float8 as s, sum(w.sq)::float8 as sq,
         (sum(w.m2) + sum(case when w.n > 0 then w.n * (w.s / w.n - w.bs / w.bn) ^ 2 else 0::float8 end))::float8 as m2,
         min(w.mn) as mn, max(w.mx) as mx, sum(w.pos)::int as pos, sum(w.neu)::int as neu, sum(w.neg)::int as neg, sum(w.tr)::int as tr
    from w
   group by w.entity_id, w.bucket_start
  having sum(w.n) > 0 or sum(w.tr) > 0
),
upserted as (
  insert into sentiment_rollup as r (entity_id, granularity, bucket_start, ${COLUMN_LIST}, updated_at)
  select x.entity_id, ${granularity}, x.bucket_start, x.n, x.s, x.sq, x.mn, x.mx,
         case when x.n > 0 then x.s / x.n end,
         case when x.n >= 2 then sqrt(greatest(0::float8, x.m2 / (x.n - 1))) end,
         x.pos, x.neu, x.neg, x.tr, now()
    from delta x
  on conflict (entity_id, granularity, bucket_start) do update set
    article_count = ${sql.raw(total)},
    sentiment_sum = r.sentiment_sum + excluded.sentiment_sum,
    sentiment_sumsq = r.sentiment_sumsq + excluded.sentiment_sumsq,
    sentiment_min = least(r.sentiment_min, excluded.sentiment_min),
    sentiment_max = greatest(r.sentiment_max, excluded.sentiment_max),
    sentiment_mean = case when ${sql.raw(total)} > 0 then ((r.sentiment_sum + excluded.sentiment_sum) / ${sql.raw(total)})::float8 end,
    sentiment_stddev = case when ${sql.raw(total)} >= 2 then sqrt(greatest(0::float8,
        (${sql.raw(STORED_M2)} + ${sql.raw(STORED_M2.replaceAll('r.', 'excluded.'))} + ${sql.raw(cross)}) / (${sql.raw(total)} - 1)))::float8 end,
    positive_count = r.positive_count + excluded.positive_count,
    neutral_count = r.neutral_count + excluded.neutral_count,
    negative_count = r.negative_count + excluded.negative_count,
    trend_mentions = r.trend_mentions + excluded.trend_mentions,
    updated_at = excluded.updated_at
  returning 1
)
select (select count(*) from delta)::int as present, (select count(*) from upserted)::int as written, 0 as deleted`,
  );
}

/**
 * Turns the pending delta marks of [from, to) (scope: one entity or all) into recompute marks.
 * A rebuild runs this AFTER recomputing those hours: its hours may already hold the articles
 * of a delta committed before its snapshot, so merging that delta later would count them
 * twice. Marks committed after this statement belong to writers the rebuild did not see.
 * Rows are locked in (entity, hour) order, the order ingest marks them in, so the two cannot deadlock.
 */
export async function demoteDeltas(db: Kysely<DB>, range: { from: Date; to: Date; entityId: number | undefined }): Promise<number> {
  const scope = range.entityId === undefined ? sql`` : sql`and entity_id = ${range.entityId}`;
  const { rows } = await sql<{ n: number }>`
with pending as (
  select entity_id, hour_start from rollup_dirty
   where not recompute and hour_start >= ${range.from.toISOString()}::timestamptz and hour_start < ${range.to.toISOString()}::timestamptz ${scope}
   order by entity_id, hour_start
   for update
),
demoted as (
  update rollup_dirty d set recompute = true
    from pending p
   where d.entity_id = p.entity_id and d.hour_start = p.hour_start
  returning 1
)
select count(*)::int as n from demoted`.execute(db);
  return rows[0]?.n ?? 0;
}
