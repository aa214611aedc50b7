/**
 * Pure range and bucket math of the read side: default windows, the bucket a given instant
 * falls in, and explicit empty buckets for gaps. All UTC (src/rollup/buckets.ts).
 */
import type { Granularity } from '../db/entities.ts';
import { DAY_MS, HOUR_MS, dayOf, daysInRange, hourOf, hoursInRange } from '../rollup/buckets.ts';
import type { BucketColumns } from './schemas.ts';

export class RangeError400 extends Error {
  override name = 'RangeError400';
}

/** Default window when `from` is not given: a week of hours, a quarter of days. */
export const DEFAULT_SPAN_MS: Record<Granularity, number> = { hour: 7 * DAY_MS, day: 90 * DAY_MS };
/** A series never holds more buckets than this (about 416 days of hours). */
export const MAX_BUCKETS = 10_000;

export const spanOf = (g: Granularity) => (g === 'hour' ? HOUR_MS : DAY_MS);
export const bucketOf = (instant: Date, g: Granularity) => (g === 'hour' ? hourOf(instant) : dayOf(instant));

/** [from, to) with defaults; rejects empty, reversed or too-long ranges with a message for a 400. */
export function seriesRange(query: { from?: Date; to?: Date; granularity: Granularity }, now: Date): { from: Date; to: Date } {
  const to = query.to ?? now;
  const from = query.from ?? new Date(to.getTime() - DEFAULT_SPAN_MS[query.granularity]);
  if (from.getTime() >= to.getTime()) throw new RangeError400('"from" must be before "to"');
  const buckets = Math.ceil((to.getTime() - bucketOf(from, query.granularity).getTime()) / spanOf(query.granularity));
  if (buckets > MAX_BUCKETS) throw new RangeError400(`the range spans ${buckets} ${query.granularity} buckets; at most ${MAX_BUCKETS} per request`);
  return { from, to };
}

/** The range an article listing covers: one bucket, or from/to (default: the last 7 days). */
export function articleRange(query: { bucket?: Date; from?: Date; to?: Date; granularity: Granularity }, now: Date): { from: Date; to: Date } {
  if (query.bucket) {
    const from = bucketOf(query.bucket, query.granularity);
    return { from, to: new Date(from.getTime() + spanOf(query.granularity)) };
  }
  const to = query.to ?? now;
  const from = query.from ?? new Date(to.getTime() - 7 * DAY_MS);
  if (from.getTime() >= to.getTime()) throw new RangeError400('"from" must be before "to"');
  return { from, to };
}

/**
 * Every bucket overlapping [from, to): the stored ones where present, the others empty
 * (article_count 0, null statistics and updated_at). `stored` is sorted by bucket_start, as
 * readSeries returns it.
 */
export function fillGaps(stored: BucketColumns, from: Date, to: Date, g: Granularity): BucketColumns {
  const starts = g === 'hour' ? hoursInRange(from, to) : daysInRange(from, to);
  const at = new Map(stored.bucket_start.map((start, i) => [Date.parse(start), i]));
  const out: BucketColumns = {
    bucket_start: [],
    article_count: [],
    sentiment_sum: [],
    sentiment_sumsq: [],
    sentiment_min: [],
    sentiment_max: [],
    sentiment_mean: [],
    sentiment_stddev: [],
    positive_count: [],
    neutral_count: [],
    negative_count: [],
    trend_mentions: [],
    updated_at: [],
  };
  const columns = Object.keys(out) as (keyof BucketColumns)[];
  for (const start of starts) {
    const i = at.get(start.getTime());
    if (i === undefined) {
      out.bucket_start.push(start.toISOString());
      for (const column of ['article_count', 'sentiment_sum', 'sentiment_sumsq', 'positive_count', 'neutral_count', 'negative_count', 'trend_mentions'] as const) out[column].push(0);
      for (const column of ['sentiment_min', 'sentiment_max', 'sentiment_mean', 'sentiment_stddev', 'updated_at'] as const) out[column].push(null);
    } else {
      for (const column of columns) (out[column] as unknown[]).push(stored[column][i]);
    }
  }
  return out;
}

/** Bucket i of a series as one object (CSV rows, tests). */
export function bucketAt(columns: BucketColumns, i: number): { [K in keyof BucketColumns]: BucketColumns[K][number] } {
  return {
    bucket_start: columns.bucket_start[i]!,
    article_count: columns.article_count[i]!,
    sentiment_sum: columns.sentiment_sum[i]!,
    sentiment_sumsq: columns.sentiment_sumsq[i]!,
    sentiment_min: columns.sentiment_min[i] ?? null,
    sentiment_max: columns.sentiment_max[i] ?? null,
    sentiment_mean: columns.sentiment_mean[i] ?? null,
    sentiment_stddev: columns.sentiment_stddev[i] ?? null,
    positive_count: columns.positive_count[i]!,
    neutral_count: columns.neutral_count[i]!,
    negative_count: columns.negative_count[i]!,
    trend_mentions: columns.trend_mentions[i]!,
    updated_at: columns.updated_at[i] ?? null,
  };
}

/** A series' buckets as rows, oldest first. */
export function bucketRows(columns: BucketColumns) {
  return columns.bucket_start.map((_, i) => bucketAt(columns, i));
}
