/** The read side's pure parts: CSV, keyset cursors, ranges and gap filling. */
import { describe, expect, it } from 'vitest';
import { toCsv } from '../../src/api/csv.ts';
import { decodeCursor, encodeCursor } from '../../src/api/cursor.ts';
import { articleRange, bucketAt, bucketRows, fillGaps, MAX_BUCKETS, seriesRange } from '../../src/api/range.ts';
import { isoOfUtcText } from '../../src/api/read.ts';
import type { BucketColumns } from '../../src/api/schemas.ts';
import { credentialOf } from '../../src/api/access.ts';

describe('toCsv', () => {
  it.each([
    [['plain', 1.5, null, true], 'plain,1.5,,true'],
    [['a,b', 'say "hi"', 'two\nlines', -0.25], '"a,b","say ""hi""","two\nlines",-0.25'],
    [['=HYPERLINK("x")', '+1', '-cmd', '@SUM(A1)'], `"'=HYPERLINK(""x"")",'+1,'-cmd,'@SUM(A1)`],
    [[Number.NaN, undefined, 0], ',,0'],
  ])('writes %j as %s', (row, line) => {
    expect(toCsv(['a', 'b', 'c', 'd'].slice(0, row.length), [row])).toBe(`${['a', 'b', 'c', 'd'].slice(0, row.length).join(',')}\r\n${line}\r\n`);
  });
});

describe('keyset cursor', () => {
  it('round-trips and rejects anything it did not make', () => {
    const key = { publishedAt: new Date('2026-11-20T10:05:00.123Z'), id: 9_007_199_254 };
    expect(decodeCursor(encodeCursor(key))).toEqual(key);
    for (const bad of ['', 'garbage', Buffer.from('2026-11-20|1').toString('base64url'), Buffer.from('2026-13-45T10:05:00.000Z|1').toString('base64url')]) {
      expect(decodeCursor(bad)).toBeNull();
    }
  });
});

describe('ranges', () => {
  const now = new Date('2026-11-22T09:30:00Z');
  it('defaults to 7 days of hours and 90 days of days before now', () => {
    expect(seriesRange({ granularity: 'hour' }, now)).toEqual({ from: new Date('2026-11-15T09:30:00Z'), to: now });
    expect(seriesRange({ granularity: 'day' }, now).from).toEqual(new Date('2026-08-24T09:30:00Z'));
  });
  it('rejects reversed, empty and oversized ranges', () => {
    expect(() => seriesRange({ granularity: 'hour', from: now, to: now }, now)).toThrow('"from" must be before "to"');
    const to = new Date(Date.UTC(2026, 0, 1) + MAX_BUCKETS * 3_600_000);
    expect(() => seriesRange({ granularity: 'hour', from: new Date(Date.UTC(2026, 0, 1)), to }, now)).not.toThrow();
    expect(() => seriesRange({ granularity: 'hour', from: new Date(Date.UTC(2026, 0, 1) - 1), to }, now)).toThrow(/spans 10001 hour buckets/);
  });
  it('maps an instant to its whole bucket', () => {
    expect(articleRange({ granularity: 'hour', bucket: new Date('2026-11-20T10:59:59.999Z') }, now)).toEqual({ from: new Date('2026-11-20T10:00:00Z'), to: new Date('2026-11-20T11:00:00Z') });
    expect(articleRange({ granularity: 'day', bucket: new Date('2024-02-29T23:00:00Z') }, now)).toEqual({ from: new Date('2024-02-29T00:00:00Z'), to: new Date('2024-03-01T00:00:00Z') });
  });
  it('fills every bucket overlapping [from, to), keeping stored ones, column by column', () => {
    const stored: BucketColumns = {
      bucket_start: ['2026-11-20T11:00:00.000Z'],
      article_count: [3],
      sentiment_sum: [0.6],
      sentiment_sumsq: [0.14],
      sentiment_min: [0.1],
      sentiment_max: [0.3],
      sentiment_mean: [0.2],
      sentiment_stddev: [0.1],
      positive_count: [3],
      neutral_count: [0],
      negative_count: [0],
      trend_mentions: [1],
      updated_at: ['2026-11-20T12:00:05.123Z'],
    };
    const filled = fillGaps(stored, new Date('2026-11-20T09:30:00Z'), new Date('2026-11-20T12:00:00Z'), 'hour');
    expect(filled.bucket_start).toEqual(['2026-11-20T09:00:00.000Z', '2026-11-20T10:00:00.000Z', '2026-11-20T11:00:00.000Z']);
    expect(filled.article_count).toEqual([0, 0, 3]);
    expect(filled.sentiment_mean).toEqual([null, null, 0.2]);
    expect(filled.updated_at).toEqual([null, null, '2026-11-20T12:00:05.123Z']);
    // Every column as long as bucket_start, and the stored bucket whole.
    for (const column of Object.values(filled)) expect(column).toHaveLength(3);
    expect(bucketAt(filled, 2)).toEqual(bucketAt(stored, 0));
    expect(bucketRows(filled)[0]).toEqual({
      bucket_start: '2026-11-20T09:00:00.000Z',
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
    });
  });
});

describe('isoOfUtcText', () => {
  it.each([
    ['2026-11-20 10:00:00+00', '2026-11-20T10:00:00.000Z'],
    ['2026-11-20 10:00:00.5+00', '2026-11-20T10:00:00.500Z'],
    ['2026-11-20 10:00:00.12+00', '2026-11-20T10:00:00.120Z'],
    ['2026-12-02 15:38:23.863827+00', '2026-12-02T15:38:23.863Z'],
  ])('%s -> %s', (text, iso) => {
    expect(isoOfUtcText(text)).toBe(iso);
  });
  it('refuses text in another zone or DateStyle', () => {
    expect(() => isoOfUtcText('2026-11-20 11:00:00+01')).toThrow(/UTC timestamptz in DateStyle ISO/);
    expect(() => isoOfUtcText('11/20/2026 10:00:00+00')).toThrow(/UTC timestamptz in DateStyle ISO/);
  });
});

describe('credentialOf', () => {
  it.each([
    [{ authorization: 'Bearer npk_abc' }, { key: 'npk_abc' }],
    [{ 'x-api-key': 'npk_def' }, { key: 'npk_def' }],
    [{ authorization: `Basic ${Buffer.from('ops:pa:ss').toString('base64')}` }, { user: 'ops', password: 'pa:ss' }],
    [{ authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` }, null],
    [{ authorization: 'Digest x' }, null],
    [{}, null],
  ])('%j -> %j', (headers, expected) => {
    expect(credentialOf(headers)).toEqual(expected);
  });
});
