/**
 * The tables. Names and columns here are an interface: dashboards and SQL users query
 * them (DESIGN.md, "Data model"). Every timestamp is timestamptz; buckets are UTC.
 */
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { SOURCE_KINDS } from '../sources/types.ts';

// Written so MikroORM's diff reads it back identically (a plain BETWEEN shows a fake diff).
const SENTIMENT_RANGE = `>= '-1'::double precision and {col} <= '1'::double precision`;
const sentimentCheck = (col: string) => `${col} ${SENTIMENT_RANGE.replace('{col}', col)}`;

export const JOB_STATUSES = ['running', 'completed', 'failed', 'abandoned'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const GRANULARITIES = ['hour', 'day'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const SourceSchema = defineEntity({
  name: 'Source',
  tableName: 'source',
  properties: {
    id: p.string().primary(),
    kind: p.enum(SOURCE_KINDS),
    url: p.text().nullable(),
    query: p.text().nullable(),
    /** Interval in ms, or null when `pattern` (cron) is used. */
    everyMs: p.integer().nullable(),
    pattern: p.text().nullable(),
    tz: p.text().nullable(),
    enabled: p.boolean().default(true),
    etag: p.text().nullable(),
    lastModified: p.text().nullable(),
    lastFetchedAt: p.datetime().nullable(),
    lastSuccessAt: p.datetime().nullable(),
    consecutiveFailures: p.integer().default(0),
    lastError: p.text().nullable(),
    /** While set and in the future, scheduled fetches of a failing source are skipped (backoff). */
    backoffUntil: p.datetime().nullable(),
    /** Fencing token of the last fetch that wrote this row: an older holder's commit is refused (ingest/source-lease.ts). */
    fence: p.bigint('number').default(0),
    createdAt: p.datetime().defaultRaw('now()'),
    updatedAt: p.datetime().defaultRaw('now()'),
  },
});
export class Source extends SourceSchema.class {}
SourceSchema.setClass(Source);

export const EntitySchema = defineEntity({
  name: 'Entity',
  tableName: 'entity',
  properties: {
    id: p.integer().primary().autoincrement(),
    slug: p.string().unique(),
    name: p.text(),
    aliases: p.array().default([]),
    category: p.text().nullable(),
    caseSensitive: p.boolean().default(true),
    requireAny: p.array().default([]),
    exclude: p.array().default([]),
    enabled: p.boolean().default(true),
  },
});
export class Entity extends EntitySchema.class {}
EntitySchema.setClass(Entity);

/*
 * Partitioning. `article`, `article_entity` and `job_run` are range-partitioned by UTC month
 * on their time column (migration 20261202010000). The entities describe their columns and
 * keys but deliberately not `partitionBy`: MikroORM would then compare the partition list,
 * which the `partitions` maintenance job and retention change at run time. Primary keys
 * contain the partition column (Postgres requires it); the global deduplication keys live in
 * the unpartitioned `article_key`.
 */
export const ArticleSchema = defineEntity({
  name: 'Article',
  tableName: 'article',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    source: p.manyToOne(Source).deleteRule('cascade'),
    externalId: p.text(),
    url: p.text().nullable(),
    /** Normalised URL: the same story from two feeds is one article (unique through article_key). */
    urlKey: p.text().nullable(),
    title: p.text(),
    summary: p.text().nullable(),
    author: p.text().nullable(),
    language: p.text().nullable(),
    /** The partition key (month). */
    publishedAt: p.datetime().primary(),
    fetchedAt: p.datetime(),
    sentiment: p.double().check(sentimentCheck('sentiment')),
    /** Which scorer produced `sentiment`, so scores can be recomputed when it changes. */
    scorer: p.text(),
  },
  // Range scans within a month; whole months are pruned by partition.
  indexes: [{ properties: ['publishedAt'] }],
});
export class Article extends ArticleSchema.class {}
ArticleSchema.setClass(Article);

/**
 * The deduplication keys of every stored article, unpartitioned so both stay globally
 * unique: persist claims the keys here first and inserts only the articles whose keys it
 * got. No foreign key to article (dropping a month must not check or cascade into this
 * table): prune deletes the keys of the months it drops, and ingest skips items older than
 * the retention window, so an expired key never lets a pruned article back in.
 */
export const ArticleKeySchema = defineEntity({
  name: 'ArticleKey',
  tableName: 'article_key',
  properties: {
    source: p.manyToOne(Source).primary().deleteRule('cascade'),
    externalId: p.text().primary(),
    urlKey: p.text().nullable().unique(),
    articleId: p.bigint('number'),
    publishedAt: p.datetime(),
  },
  indexes: [{ properties: ['publishedAt'] }],
});
export class ArticleKey extends ArticleKeySchema.class {}
ArticleKeySchema.setClass(ArticleKey);

export const ArticleEntitySchema = defineEntity({
  name: 'ArticleEntity',
  tableName: 'article_entity',
  properties: {
    // The foreign key lives on each month partition (src/db/partitions.ts, migration 20261202050500):
    // through the partitioned parent every link's check cost about 7x more.
    article: p.manyToOne(Article).primary().deleteRule('cascade').joinColumns('article_id', 'published_at').referencedColumnNames('id', 'published_at').createForeignKeyConstraint(false),
    entity: p.manyToOne(Entity).primary().deleteRule('cascade'),
    // Copies, so an hourly rollup reads one narrow index instead of joining article; also the
    // partition key and the second column of the reference to article.
    publishedAt: p.datetime().persist(false),
    sentiment: p.double().check(sentimentCheck('sentiment')),
    /** Which scorer produced `sentiment` (entity-targeted since vader-news@2); rescore rewrites both. */
    scorer: p.text(),
  },
  // (entity_id, published_at, article_id): rollups range-scan the first two columns; the read
  // API's article listing walks all three backwards, newest first, and its keyset cursor
  // (published_at, article_id) < (…) is an index condition, so a page reads `limit` entries.
  // `article` is (article_id, published_at); published_at already stands second, so it adds article_id.
  indexes: [{ name: 'article_entity_entity_id_published_at_article_id_index', properties: ['entity', 'publishedAt', 'article'] }],
});
export class ArticleEntity extends ArticleEntitySchema.class {}
ArticleEntitySchema.setClass(ArticleEntity);

export const TrendSchema = defineEntity({
  name: 'Trend',
  tableName: 'trend',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    source: p.manyToOne(Source).deleteRule('cascade'),
    key: p.text(),
    title: p.text(),
    url: p.text().nullable(),
    rank: p.integer(),
    score: p.double().nullable(),
    observedAt: p.datetime(),
  },
  // A re-fetch of the same feed observes the same item at the same time once.
  uniques: [{ properties: ['source', 'key', 'observedAt'] }],
  indexes: [{ properties: ['observedAt'] }],
});
export class Trend extends TrendSchema.class {}
TrendSchema.setClass(Trend);

export const TrendEntitySchema = defineEntity({
  name: 'TrendEntity',
  tableName: 'trend_entity',
  properties: {
    trend: p.manyToOne(Trend).primary().deleteRule('cascade'),
    entity: p.manyToOne(Entity).primary().deleteRule('cascade'),
    observedAt: p.datetime(),
  },
  indexes: [{ properties: ['entity', 'observedAt'] }],
});
export class TrendEntity extends TrendEntitySchema.class {}
TrendEntitySchema.setClass(TrendEntity);

export type JobStats = Record<string, string | number | boolean | null>;

export const JobRunSchema = defineEntity({
  name: 'JobRun',
  tableName: 'job_run',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    queue: p.text(),
    jobName: p.text(),
    jobId: p.text().nullable(),
    sourceId: p.text().nullable(),
    attempt: p.integer(),
    status: p.enum(JOB_STATUSES),
    /** The partition key (month). */
    startedAt: p.datetime().primary(),
    finishedAt: p.datetime().nullable(),
    durationMs: p.integer().nullable(),
    stats: p.json<JobStats>().nullable(),
    error: p.text().nullable(),
  },
  indexes: [{ properties: ['startedAt'] }, { properties: ['sourceId', 'startedAt'] }, { properties: ['status'], where: { status: 'running' } }],
});
export class JobRun extends JobRunSchema.class {}
JobRunSchema.setClass(JobRun);

export const SentimentRollupSchema = defineEntity({
  name: 'SentimentRollup',
  tableName: 'sentiment_rollup',
  properties: {
    entity: p.manyToOne(Entity).primary().deleteRule('cascade'),
    granularity: p.enum(GRANULARITIES).primary(),
    bucketStart: p.datetime().primary(),
    articleCount: p.integer(),
    sentimentSum: p.double(),
    sentimentSumsq: p.double(),
    sentimentMin: p.double().nullable(),
    sentimentMax: p.double().nullable(),
    sentimentMean: p.double().nullable(),
    /** Sample standard deviation (n-1); null when fewer than two articles. */
    sentimentStddev: p.double().nullable(),
    positiveCount: p.integer(),
    neutralCount: p.integer(),
    negativeCount: p.integer(),
    trendMentions: p.integer(),
    updatedAt: p.datetime(),
  },
  // A covering copy of the primary key: a series (90 days of hours = 2,160 rows of one entity)
  // is an index-only scan of ~30 adjacent leaf pages instead of one heap page per row (refresh
  // writes an hour's buckets for every entity together, so an entity's rows are scattered).
  // Cost: updates of rollup rows are no longer HOT and write this index too: updating a week of
  // hourly rows (16,800) took about 1.5x as long with it as without (same session, shared machine).
  indexes: [
    {
      name: 'sentiment_rollup_series_index',
      properties: ['entity', 'granularity', 'bucketStart'],
      include: ['articleCount', 'sentimentSum', 'sentimentSumsq', 'sentimentMin', 'sentimentMax', 'sentimentMean', 'sentimentStddev', 'positiveCount', 'neutralCount', 'negativeCount', 'trendMentions', 'updatedAt'],
    },
  ],
});
export class SentimentRollup extends SentimentRollupSchema.class {}
SentimentRollupSchema.setClass(SentimentRollup);

export const RollupDirtySchema = defineEntity({
  name: 'RollupDirty',
  tableName: 'rollup_dirty',
  properties: {
    entity: p.manyToOne(Entity).primary().deleteRule('cascade'),
    hourStart: p.datetime().primary(),
    /** Re-marking bumps this, so a refresh deletes only the marks it actually read. */
    markedAt: p.datetime().defaultRaw('clock_timestamp()'),
    /**
     * True: recompute the hour from its articles. False: the mark only carries the delta below
     * (links ingest inserted), which a refresh merges into the stored hour (issue 17).
     */
    recompute: p.boolean().default(true),
    deltaCount: p.integer().default(0),
    deltaSum: p.double().default(0),
    deltaSumsq: p.double().default(0),
    /** Sum of squared deviations from the delta's own mean (Chan's M2), exact where sumsq - sum^2/n cancels. */
    deltaM2: p.double().default(0),
    deltaMin: p.double().nullable(),
    deltaMax: p.double().nullable(),
    deltaPositive: p.integer().default(0),
    deltaNeutral: p.integer().default(0),
    deltaNegative: p.integer().default(0),
    deltaTrends: p.integer().default(0),
  },
});
export class RollupDirty extends RollupDirtySchema.class {}
RollupDirtySchema.setClass(RollupDirty);

/** Read-side API keys (src/api/keys.ts): only a SHA-256 of the key is stored; the key is shown once. */
export const ApiKeySchema = defineEntity({
  name: 'ApiKey',
  tableName: 'api_key',
  properties: {
    id: p.integer().primary().autoincrement(),
    name: p.text(),
    /** The first characters of the key, so a listing can tell keys apart without revealing them. */
    prefix: p.text(),
    hash: p.text().unique(),
    createdAt: p.datetime().defaultRaw('now()'),
    revokedAt: p.datetime().nullable(),
  },
});
export class ApiKey extends ApiKeySchema.class {}
ApiKeySchema.setClass(ApiKey);

export const entities = [
  SourceSchema,
  EntitySchema,
  ArticleSchema,
  ArticleKeySchema,
  ArticleEntitySchema,
  TrendSchema,
  TrendEntitySchema,
  JobRunSchema,
  SentimentRollupSchema,
  RollupDirtySchema,
  ApiKeySchema,
];

export type ArticleRow = InferEntity<typeof ArticleSchema>;

