/**
 * Every query of the read side: plain SELECTs over the tables of DESIGN.md's data model,
 * each shaped to one index (series: the rollup primary key; articles: article_entity's
 * (entity_id, published_at, article_id)). Nothing here writes; the API's connections are also opened
 * read-only (see openReadOrm), so a write would fail even if one slipped in.
 */
import { sql as raw } from 'kysely';
import pg from 'pg';
import type { Granularity, JobStatus } from '../db/entities.ts';
import { openOrm, type EntityManager, type Orm } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import type { ArticleKey } from './cursor.ts';
import type { BucketColumns } from './schemas.ts';

/**
 * A pool whose sessions refuse writes: the read side is read-only by construction. TimeZone and
 * DateStyle are pinned (UTC, ISO) whatever the server's defaults: readSeries slices timestamps
 * from their text in that form.
 */
export function openReadOrm(databaseUrl: string, poolMax = 10): Promise<Orm> {
  return openOrm(databaseUrl, { pool: { min: 0, max: poolMax, idleTimeoutMillis: 30_000 }, driverOptions: { options: '-c default_transaction_read_only=on -c DateStyle=ISO -c TimeZone=UTC' } });
}

/**
 * The article listings' own small pool. Planning their join over the month partitions of
 * article and article_entity costs more than running it (0.37 ms against 0.16 ms for an hour's
 * page at 5M articles), so they run as named statements with a generic plan, which Postgres
 * plans once per connection and prunes partitions at run time. plan_cache_mode is a session
 * setting and would also give the ORM's unnamed statements a fresh generic plan each time
 * (no plan-time pruning, nothing saved): hence sessions of their own, read-only like the rest.
 */
export function openListingPool(databaseUrl: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, idleTimeoutMillis: 30_000, allowExitOnIdle: true, options: '-c default_transaction_read_only=on -c DateStyle=ISO -c TimeZone=UTC -c plan_cache_mode=force_generic_plan' });
  // An idle client's error (Postgres restarted) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

const iso = (d: Date | string) => (d instanceof Date ? d : new Date(d)).toISOString();
// double precision columns type as string | number in Kysely; pg returns numbers.
const numOrNull = (x: string | number | null) => (x === null ? null : Number(x));
const isoOrNull = (d: Date | string | null) => (d === null ? null : iso(d));

export interface EntityRef {
  id: number;
  slug: string;
  name: string;
  category: string | null;
  enabled: boolean;
}

export async function findEntity(em: EntityManager, slug: string): Promise<EntityRef | null> {
  const row = await sql(em).selectFrom('entity').select(['id', 'slug', 'name', 'category', 'enabled']).where('slug', '=', slug).executeTakeFirst();
  return row ?? null;
}

/**
 * slug -> entity, remembered for `ttlMs`: every series and article request starts with this
 * lookup, and entities change only when the config is synced. A rename or removal shows after
 * at most `ttlMs`; an unknown slug is always asked again (new entities appear at once).
 */
export class EntityLookup {
  readonly #ttlMs: number;
  readonly #known = new Map<string, { entity: EntityRef; at: number }>();

  constructor(ttlMs = 30_000) {
    this.#ttlMs = ttlMs;
  }

  async find(em: EntityManager, slug: string): Promise<EntityRef | null> {
    const hit = this.#known.get(slug);
    if (hit && Date.now() - hit.at < this.#ttlMs) return hit.entity;
    const entity = await findEntity(em, slug);
    if (this.#known.size >= 10_000) this.#known.clear();
    if (entity) this.#known.set(slug, { entity, at: Date.now() });
    else this.#known.delete(slug);
    return entity;
  }
}

export async function findEntities(em: EntityManager, slugs: readonly string[]): Promise<EntityRef[]> {
  if (!slugs.length) return [];
  return sql(em).selectFrom('entity').select(['id', 'slug', 'name', 'category', 'enabled']).where('slug', 'in', slugs).execute();
}

export interface LatestFigure {
  bucket_start: string;
  article_count: number;
  sentiment_mean: number | null;
  sentiment_stddev: number | null;
}

/** Entities with their newest hourly and daily bucket: two index-only probes per entity (LATERAL ... LIMIT 1). */
export async function listEntities(em: EntityManager, only?: number): Promise<(EntityRef & { latest_hour: LatestFigure | null; latest_day: LatestFigure | null })[]> {
  const latest = (g: Granularity) => raw<string>`(select json_build_object('bucket_start', r.bucket_start, 'article_count', r.article_count, 'sentiment_mean', r.sentiment_mean, 'sentiment_stddev', r.sentiment_stddev)
      from sentiment_rollup r where r.entity_id = e.id and r.granularity = ${g} order by r.bucket_start desc limit 1)`;
  let query = sql(em)
    .selectFrom('entity as e')
    .select(['e.id', 'e.slug', 'e.name', 'e.category', 'e.enabled', latest('hour').as('latest_hour'), latest('day').as('latest_day')])
    .orderBy('e.slug');
  if (only !== undefined) query = query.where('e.id', '=', only);
  const rows = await query.execute();
  const figure = (value: unknown): LatestFigure | null => {
    if (value === null || value === undefined) return null;
    const f = (typeof value === 'string' ? JSON.parse(value) : value) as LatestFigure;
    return { ...f, bucket_start: iso(f.bucket_start) };
  };
  return rows.map((r) => ({ id: r.id, slug: r.slug, name: r.name, category: r.category, enabled: r.enabled, latest_hour: figure(r.latest_hour), latest_day: figure(r.latest_day) }));
}

/**
 * Every column of the rollup by position (SeriesRow and readSeries below follow this list). The
 * ORM's pool hands timestamptz over as Postgres' text, which on the read pool (TimeZone=UTC,
 * DateStyle=ISO: openReadOrm) is '2026-11-20 10:00:00[.ffffff]+00'; isoOfUtcText slices that into
 * the API's ISO string: no Date per value, no formatting in Postgres. to_char(..., 'YYYY-MM-DD"T"...')
 * in the query did the same at 5x the query's execution time (EXPLAIN ANALYZE 2.5-2.9 ms vs 0.5 ms).
 */
const SERIES_SQL = `select bucket_start, article_count, sentiment_sum, sentiment_sumsq, sentiment_min, sentiment_max,
       sentiment_mean, sentiment_stddev, positive_count, neutral_count, negative_count, trend_mentions, updated_at
  from sentiment_rollup where entity_id = $1 and granularity = $2 and bucket_start >= $3 and bucket_start < $4 order by bucket_start`;

/**
 * '2026-11-20 10:00:00+00', '2026-11-20 10:00:00.5+00', '... 10:00:00.123456+00' (timestamptz text
 * in UTC, DateStyle ISO) -> '2026-11-20T10:00:00.500Z' (milliseconds truncated, as toISOString of
 * the Date pg would have made).
 */
export function isoOfUtcText(text: string): string {
  const end = text.length - 3;
  if (end < 19 || text[4] !== '-' || text[10] !== ' ' || text.slice(end) !== '+00') throw new Error(`not a UTC timestamptz in DateStyle ISO: "${text}"`);
  const ms = end > 20 ? text.slice(20, Math.min(23, end)).padEnd(3, '0') : '000';
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${ms}Z`;
}

type SeriesRow = [string, number, number, number, number | null, number | null, number | null, number | null, number, number, number, number, string];

/**
 * Decimals a series value is served with, as powers of ten. Scores are stored rounded to 4
 * decimals (round4 at scoring), so a sum, min and max of them are exact at 4 and a sum of squares
 * at 8; the float noise past that (0.33999999999999997 for 0.34) carried no information and cost
 * bytes to print. Mean and standard deviation are quotients: 6 decimals is a millionth of the
 * score scale, and the exact mean is still sentiment_sum / article_count.
 */
const SUM = 1e4;
const SUMSQ = 1e8;
const EXTREME = 1e4;
const MEAN = 1e6;
const STDDEV = 1e6;
// Math.round(x * 10^d) / 10^d is the nearest d-decimal double (|x * 10^d| stays far below 2^53 for
// any bucket: 1e5 articles give a sum of squares of at most 1e5 * 1e8).
const round = (x: number, k: number) => Math.round(x * k) / k;
const roundOrNull = (x: number | null, k: number) => (x === null ? null : Math.round(x * k) / k);

/**
 * The stored buckets overlapping [from, to), as columns: the rollup primary key's range scan.
 * The one read that returns thousands of rows (bench/api.ts: 2,160 for 90 days of hours), so it
 * goes to the ORM's pg pool directly with array rows (no Kysely/ORM per-row work, no object per
 * row from pg), and fills each column once, already rounded.
 * The pool is the ORM's read-only one (openReadOrm), so this read is as read-only as the others.
 */
export async function readSeries(em: EntityManager, entityId: number, g: Granularity, from: Date, to: Date): Promise<BucketColumns> {
  const pool = await em.getConnection().getNativeClient();
  const { rows } = await pool.query<SeriesRow>({ text: SERIES_SQL, values: [entityId, g, from, to], rowMode: 'array' });
  const n = rows.length;
  const c: BucketColumns = {
    bucket_start: new Array(n),
    article_count: new Array(n),
    sentiment_sum: new Array(n),
    sentiment_sumsq: new Array(n),
    sentiment_min: new Array(n),
    sentiment_max: new Array(n),
    sentiment_mean: new Array(n),
    sentiment_stddev: new Array(n),
    positive_count: new Array(n),
    neutral_count: new Array(n),
    negative_count: new Array(n),
    trend_mentions: new Array(n),
    updated_at: new Array(n),
  };
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    c.bucket_start[i] = isoOfUtcText(r[0]);
    c.article_count[i] = r[1];
    c.sentiment_sum[i] = round(r[2], SUM);
    c.sentiment_sumsq[i] = round(r[3], SUMSQ);
    c.sentiment_min[i] = roundOrNull(r[4], EXTREME);
    c.sentiment_max[i] = roundOrNull(r[5], EXTREME);
    c.sentiment_mean[i] = roundOrNull(r[6], MEAN);
    c.sentiment_stddev[i] = roundOrNull(r[7], STDDEV);
    c.positive_count[i] = r[8];
    c.neutral_count[i] = r[9];
    c.negative_count[i] = r[10];
    c.trend_mentions[i] = r[11];
    c.updated_at[i] = isoOfUtcText(r[12]);
  }
  return c;
}

export interface ArticleRowOut {
  id: number;
  published_at: string;
  title: string;
  url: string | null;
  source_id: string;
  sentiment: number;
}

const ARTICLES_SQL = (keyset: boolean) => `
    select a.id, ae.published_at, a.title, a.url, a.source_id, ae.sentiment
      from (select article_id, published_at, sentiment
              from article_entity
             where entity_id = $1 and published_at >= $2 and published_at < $3 ${keyset ? 'and (published_at, article_id) < ($5, $6)' : ''}
             order by published_at desc, article_id desc
             limit $4) ae
      join article a on a.id = ae.article_id and a.published_at = ae.published_at
     order by ae.published_at desc, ae.article_id desc`;
const ARTICLES_FIRST = { name: 'np_articles', text: ARTICLES_SQL(false), rowMode: 'array' } as const;
const ARTICLES_AFTER = { name: 'np_articles_after', text: ARTICLES_SQL(true), rowMode: 'array' } as const;
type ArticleRow = [id: string, publishedAt: Date, title: string, url: string | null, sourceId: string, sentiment: number];

/**
 * Articles of an entity in [from, to), newest first, `limit` of them after the keyset `after`.
 * Walks article_entity's (entity_id, published_at, article_id) index backwards (migration
 * 20261202061000) and joins article by its key, pruned to one partition by published_at.
 */
export async function readArticles(pool: pg.Pool, entityId: number, from: Date, to: Date, limit: number, after: ArticleKey | null): Promise<ArticleRowOut[]> {
  // A row comparison, not an OR of the two cases: it is an index condition on
  // (entity_id, published_at, article_id), so the scan starts right after the cursor.
  // The page is chosen from article_entity alone (LIMIT inside), then joined to article: the
  // planner walks the index backwards through the month partitions in order and stops after
  // `limit` entries. With the join outside the limit it joined every row of the range first
  // (a week of one entity at 5M articles: 3,800 joins and a sort for a 50-row page).
  // published_at equality in the join prunes article to one partition per row.
  const values: unknown[] = [entityId, from, to, limit];
  if (after) values.push(after.publishedAt, after.id);
  const { rows } = await pool.query<ArticleRow>({ ...(after ? ARTICLES_AFTER : ARTICLES_FIRST), values });
  return rows.map((r) => ({ id: Number(r[0]), published_at: r[1].toISOString(), title: r[2], url: r[3], source_id: r[4], sentiment: r[5] }));
}

export async function readTrends(em: EntityManager, limit: number, entityId?: number) {
  let query = sql(em).selectFrom('trend as t').select(['t.id', 't.source_id', 't.key', 't.title', 't.url', 't.rank', 't.score', 't.observed_at']);
  if (entityId !== undefined) query = query.innerJoin('trend_entity as te', 'te.trend_id', 't.id').where('te.entity_id', '=', entityId);
  const rows = await query.orderBy('t.observed_at', 'desc').orderBy('t.rank').limit(limit).execute();
  return rows.map((r) => ({ ...r, id: Number(r.id), score: numOrNull(r.score), observed_at: iso(r.observed_at) }));
}

export async function readSources(em: EntityManager) {
  const rows = await sql(em)
    .selectFrom('source')
    .select(['id', 'kind', 'enabled', 'url', 'query', 'last_fetched_at', 'last_success_at', 'consecutive_failures', 'last_error', 'backoff_until'])
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    ...r,
    last_fetched_at: isoOrNull(r.last_fetched_at),
    last_success_at: isoOrNull(r.last_success_at),
    backoff_until: isoOrNull(r.backoff_until),
  }));
}

export async function readJobRuns(em: EntityManager, filter: { limit: number; queue?: string; status?: JobStatus; source?: string }) {
  let query = sql(em)
    .selectFrom('job_run')
    .select(['id', 'queue', 'job_name', 'job_id', 'source_id', 'attempt', 'status', 'started_at', 'finished_at', 'duration_ms', 'stats', 'error']);
  if (filter.queue) query = query.where('queue', '=', filter.queue);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.source) query = query.where('source_id', '=', filter.source);
  const rows = await query.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
  return rows.map((r) => ({ ...r, id: Number(r.id), started_at: iso(r.started_at), finished_at: isoOrNull(r.finished_at) }));
}

/** The newest completed rollup job: it changes exactly when rollup rows may have changed. */
export async function latestRollupRun(em: EntityManager): Promise<{ id: number; finished_at: string | null } | null> {
  const row = await sql(em)
    .selectFrom('job_run')
    .select(['id', 'finished_at'])
    .where('queue', '=', 'rollup')
    .where('status', '=', 'completed')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? { id: Number(row.id), finished_at: isoOrNull(row.finished_at) } : null;
}
