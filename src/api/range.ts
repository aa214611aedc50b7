/**
 * Pure range and bucket math of the read side: default windows, the bucket a given instant
 * falls in, and explicit empty buckets for gaps. All UTC (src/rollup/buckets.ts).
 */
import type { Granularity } from '../db/entities.ts';
import { DAY_MS, HOUR_MS, dayOf, daysInRange, hourOf, hoursInRange } from '../rollup/buckets.ts';
import type { Bucket } from './schemas.ts';

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

export function emptyBucket(start: Date): Bucket {
  return {
    bucket_start: start.toISOString(),
    article_count: 0,
    sentiment_sum: 0,
    sentiment_sumsq: 0,
    sentiment_min: null,
    sentiment_max: null,
    sentiment_mean: null,
    sentiment_stddev: null,
    positive_count: 0,
    neutral_count: 0,
    negative_count: 0,
    trend_mentions: 0,
    updated_at: null,
  };
}

/** Every bucket overlapping [from, to), the stored ones where present; `rows` sorted by bucket_start. */
export function fillGaps(rows: readonly Bucket[], from: Date, to: Date, g: Granularity): Bucket[] {
  const byStart = new Map(rows.map((r) => [Date.parse(r.bucket_start), r]));
  return (g === 'hour' ? hoursInRange(from, to) : daysInRange(from, to)).map((start) => byStart.get(start.getTime()) ?? emptyBucket(start));
}
