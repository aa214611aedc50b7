/**
 * Every query of the read side: plain SELECTs over the tables of DESIGN.md's data model,
 * each shaped to one index (series: the rollup primary key; articles: article_entity's
 * (entity_id, published_at, article_id)). Nothing here writes; the API's connections are also opened
 * read-only (see openReadOrm), so a write would fail even if one slipped in.
 */
import { sql as raw } from 'kysely';
import type { Granularity, JobStatus } from '../db/entities.ts';
import { openOrm, type EntityManager, type Orm } from '../db/orm.ts';
import { sql, type DB } from '../db/sql.ts';
import type { ArticleKey } from './cursor.ts';
import type { Bucket } from './schemas.ts';
import { ROLLUP_COLUMNS } from '../rollup/statements.ts';

/** A pool whose sessions refuse writes: the read side is read-only by construction. */
export function openReadOrm(databaseUrl: string, poolMax = 10): Promise<Orm> {
  return openOrm(databaseUrl, { pool: { min: 0, max: poolMax, idleTimeoutMillis: 30_000 }, driverOptions: { options: '-c default_transaction_read_only=on' } });
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
 * The stored buckets overlapping [from, to): the rollup primary key's range scan. The one
 * read that returns thousands of rows, so it skips the ORM's per-row value conversion (6x the
 * bare query in bench/api.ts) and has Postgres format the timestamps as ISO text directly.
 */
export async function readSeries(em: EntityManager, entityId: number, g: Granularity, from: Date, to: Date): Promise<Bucket[]> {
  const isoText = (column: string) => raw<string>`to_char(${raw.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  const rows = await em
    .getKysely<DB>()
    .selectFrom('sentiment_rollup')
    .select([
      isoText('bucket_start').as('bucket_start'),
      ...ROLLUP_COLUMNS,
      isoText('updated_at').as('updated_at'),
    ])
    .where('entity_id', '=', entityId)
    .where('granularity', '=', g)
    .where('bucket_start', '>=', from)
    .where('bucket_start', '<', to)
    .orderBy('sentiment_rollup.bucket_start')
    .execute();
  // pg already returns float8 and int4 as numbers; the casts only narrow Kysely's column types.
  return rows as Bucket[];
}

export interface ArticleRowOut {
  id: number;
  published_at: string;
  title: string;
  url: string | null;
  source_id: string;
  sentiment: number;
}

/**
 * Articles of an entity in [from, to), newest first, `limit` of them after the keyset `after`.
 * Walks article_entity's (entity_id, published_at, article_id) index backwards (migration
 * 20261202061000) and joins article by its key, pruned to one partition by published_at.
 */
export async function readArticles(em: EntityManager, entityId: number, from: Date, to: Date, limit: number, after: ArticleKey | null): Promise<ArticleRowOut[]> {
  // A row comparison, not an OR of the two cases: it is an index condition on
  // (entity_id, published_at, article_id), so the scan starts right after the cursor.
  const keyset = after ? raw`and (published_at, article_id) < (${after.publishedAt}, ${after.id})` : raw``;
  // The page is chosen from article_entity alone (LIMIT inside), then joined to article: the
  // planner walks the index backwards through the month partitions in order and stops after
  // `limit` entries. With the join outside the limit it joined every row of the range first
  // (a week of one entity at 5M articles: 3,800 joins and a sort for a 50-row page).
  // published_at equality in the join prunes article to one partition per row.
  // (article_entity.published_at is persist(false) in the entities, hence raw SQL, not the typed builder.)
  const { rows } = await raw<{ id: string | number; published_at: Date | string; title: string; url: string | null; source_id: string; sentiment: number }>`
    select a.id, ae.published_at, a.title, a.url, a.source_id, ae.sentiment
      from (select article_id, published_at, sentiment
              from article_entity
             where entity_id = ${entityId} and published_at >= ${from} and published_at < ${to} ${keyset}
             order by published_at desc, article_id desc
             limit ${limit}) ae
      join article a on a.id = ae.article_id and a.published_at = ae.published_at
     order by ae.published_at desc, ae.article_id desc`.execute(em.getKysely<DB>());
  return rows.map((r) => ({ id: Number(r.id), published_at: iso(r.published_at), title: r.title, url: r.url, source_id: r.source_id, sentiment: Number(r.sentiment) }));
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
