/**
 * The read side's contract: every query string and response body as a zod schema. The
 * handlers parse with these (bad input -> 400 naming the parameter), their return types are
 * inferred from them, and /api/openapi.json is generated from the same objects.
 */
import { z } from 'zod';
import { GRANULARITIES, JOB_STATUSES } from '../db/entities.ts';
import { parseInstant } from '../queues/catalogue.ts';

/** An ISO date or date-time (UTC when it has no zone), parsed to a Date. */
export const instant = z
  .string()
  .transform((text, ctx) => {
    const date = parseInstant(text);
    if (date) return date;
    ctx.addIssue({ code: 'custom', message: `must be an ISO date like 2026-11-01 or 2026-11-01T06:00:00Z (got "${text}")` });
    return z.NEVER;
  })
  .meta({ description: 'ISO 8601 date or date-time; UTC when no zone is given', examples: ['2026-11-01T06:00:00Z'] });

export const format = z.enum(['json', 'csv']).optional().meta({ description: 'Response format; `Accept: text/csv` works too' });
export const granularity = z.enum(GRANULARITIES).default('hour');
export const gaps = z
  .enum(['omit', 'empty'])
  .default('omit')
  .meta({ description: '`omit`: only buckets that have a rollup row; `empty`: every bucket in the range, those without articles with article_count 0 and null statistics' });
const limit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);

export const slugParams = z.strictObject({ slug: z.string().min(1).max(255) });
export const formatQuery = z.strictObject({ format });

export const seriesQuery = z.strictObject({
  granularity,
  from: instant.optional().meta({ description: 'Start (inclusive: the bucket containing it). Default: 7 days (hour) or 90 days (day) before `to`' }),
  to: instant.optional().meta({ description: 'End (exclusive). Default: now' }),
  gaps,
  format,
});

export const articlesQuery = z
  .strictObject({
    bucket: instant.optional().meta({ description: 'Any instant inside the bucket whose articles to list (with `granularity`); instead of from/to' }),
    granularity,
    from: instant.optional(),
    to: instant.optional(),
    limit: limit(500, 50),
    cursor: z.string().max(200).optional().meta({ description: '`next_cursor` of the previous page' }),
    format,
  })
  .refine((q) => q.bucket === undefined || (q.from === undefined && q.to === undefined), { message: 'give either "bucket" or "from"/"to", not both', path: ['bucket'] });

export const compareQuery = z.strictObject({
  entities: z
    .string()
    .transform((s) => [...new Set(s.split(',').map((x) => x.trim()).filter(Boolean))])
    .pipe(z.array(z.string()).min(1, 'must name at least one entity').max(10, 'at most 10 entities'))
    .meta({ description: 'Comma-separated entity slugs (1-10)', examples: ['tesla,apple'] }),
  granularity,
  from: instant.optional(),
  to: instant.optional(),
  gaps,
  format,
});

export const trendsQuery = z.strictObject({ limit: limit(500, 50), entity: z.string().min(1).optional(), format });

export const jobRunsQuery = z.strictObject({
  limit: limit(500, 50),
  queue: z.string().min(1).optional(),
  status: z.enum(JOB_STATUSES).optional(),
  source: z.string().min(1).optional(),
  format,
});

// ---- responses ----

const isoString = z.string().meta({ format: 'date-time' });

export const latestFigure = z.object({ bucket_start: isoString, article_count: z.number(), sentiment_mean: z.number().nullable(), sentiment_stddev: z.number().nullable() });

export const entitySummary = z.object({
  slug: z.string(),
  name: z.string(),
  category: z.string().nullable(),
  enabled: z.boolean(),
  latest_hour: latestFigure.nullable(),
  latest_day: latestFigure.nullable(),
});
export const entityList = z.object({ entities: z.array(entitySummary) });

/**
 * A series' buckets, columnar: one array per column of sentiment_rollup, all of the same length,
 * index i of each describing bucket i (oldest first). The shape charting libraries take
 * directly (uPlot: x values and one array per series), and a third of the bytes of one object
 * per bucket, whose keys were most of the body.
 */
export const bucketColumns = z
  .object({
    bucket_start: z.array(isoString).meta({ description: 'Start of each bucket (UTC)' }),
    article_count: z.array(z.number()),
    sentiment_sum: z.array(z.number()).meta({ description: 'Sum of scores; exact at 4 decimals (scores are stored rounded to 4)' }),
    sentiment_sumsq: z.array(z.number()).meta({ description: 'Sum of squared scores; exact at 8 decimals' }),
    sentiment_min: z.array(z.number().nullable()),
    sentiment_max: z.array(z.number().nullable()),
    sentiment_mean: z.array(z.number().nullable()).meta({ description: 'Rounded to 6 decimals (exact: sentiment_sum / article_count)' }),
    sentiment_stddev: z.array(z.number().nullable()).meta({ description: 'Sample standard deviation, rounded to 6 decimals; null below 2 articles' }),
    positive_count: z.array(z.number()),
    neutral_count: z.array(z.number()),
    negative_count: z.array(z.number()),
    trend_mentions: z.array(z.number()),
    updated_at: z.array(isoString.nullable()).meta({ description: 'When the rollup last wrote the bucket; null for an empty bucket (gaps=empty)' }),
  })
  .meta({ description: 'Columnar: one array per rollup column, index i of every array is bucket i, oldest first' });
export type BucketColumns = z.infer<typeof bucketColumns>;
/** The columns of a series, in the order of CSV output. */
export const BUCKET_COLUMNS = [
  'bucket_start',
  'article_count',
  'sentiment_mean',
  'sentiment_stddev',
  'sentiment_min',
  'sentiment_max',
  'sentiment_sum',
  'sentiment_sumsq',
  'positive_count',
  'neutral_count',
  'negative_count',
  'trend_mentions',
  'updated_at',
] as const satisfies readonly (keyof BucketColumns)[];

export const series = z.object({
  entity: z.object({ slug: z.string(), name: z.string() }),
  granularity: z.enum(GRANULARITIES),
  from: isoString,
  to: isoString,
  gaps: z.enum(['omit', 'empty']),
  buckets: bucketColumns,
});
export const comparison = z.object({ granularity: z.enum(GRANULARITIES), from: isoString, to: isoString, gaps: z.enum(['omit', 'empty']), series: z.array(series.omit({ granularity: true, from: true, to: true, gaps: true })) });

export const article = z.object({
  id: z.number(),
  published_at: isoString,
  title: z.string(),
  url: z.string().nullable(),
  source_id: z.string(),
  sentiment: z.number(),
});
export const articlePage = z.object({
  entity: z.object({ slug: z.string(), name: z.string() }),
  from: isoString,
  to: isoString,
  articles: z.array(article),
  next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next (older) page; null on the last page' }),
});

export const trend = z.object({ id: z.number(), source_id: z.string(), key: z.string(), title: z.string(), url: z.string().nullable(), rank: z.number(), score: z.number().nullable(), observed_at: isoString });
export const trendList = z.object({ trends: z.array(trend) });

export const sourceState = z.object({
  id: z.string(),
  kind: z.string(),
  enabled: z.boolean(),
  url: z.string().nullable(),
  query: z.string().nullable(),
  last_fetched_at: isoString.nullable(),
  last_success_at: isoString.nullable(),
  consecutive_failures: z.number(),
  last_error: z.string().nullable(),
  backoff_until: isoString.nullable(),
});
export const sourceList = z.object({ sources: z.array(sourceState) });

export const jobRun = z.object({
  id: z.number(),
  queue: z.string(),
  job_name: z.string(),
  job_id: z.string().nullable(),
  source_id: z.string().nullable(),
  attempt: z.number(),
  status: z.enum(JOB_STATUSES),
  started_at: isoString,
  finished_at: isoString.nullable(),
  duration_ms: z.number().nullable(),
  stats: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).nullable(),
  error: z.string().nullable(),
});
export const jobRunList = z.object({ job_runs: z.array(jobRun) });

export const problem = z.object({ error: z.string(), message: z.string() });
