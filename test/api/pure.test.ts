/** The read side's pure parts: CSV, keyset cursors, ranges and gap filling. */
import { describe, expect, it } from 'vitest';
import { toCsv } from '../../src/api/csv.ts';
import { decodeCursor, encodeCursor } from '../../src/api/cursor.ts';
import { articleRange, fillGaps, MAX_BUCKETS, seriesRange, emptyBucket } from '../../src/api/range.ts';
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
  it('fills every bucket overlapping [from, to), keeping stored ones', () => {
    const stored = { ...emptyBucket(new Date('2026-11-20T11:00:00Z')), article_count: 3, sentiment_mean: 0.2 };
    const filled = fillGaps([stored], new Date('2026-11-20T09:30:00Z'), new Date('2026-11-20T12:00:00Z'), 'hour');
    expect(filled.map((b) => [b.bucket_start, b.article_count])).toEqual([
      ['2026-11-20T09:00:00.000Z', 0],
      ['2026-11-20T10:00:00.000Z', 0],
      ['2026-11-20T11:00:00.000Z', 3],
    ]);
    expect(filled[2]).toBe(stored);
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
