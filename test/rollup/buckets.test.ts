import { describe, expect, it } from 'vitest';
import {
  addDays,
  addHours,
  chunkRange,
  chunksOf,
  countChunks,
  countDays,
  countHours,
  dayCeil,
  dayOf,
  daysInRange,
  daysOf,
  hourCeil,
  hourOf,
  hoursInRange,
  retentionCutoff,
} from '../../src/rollup/buckets.ts';

const d = (iso: string) => new Date(iso);
const iso = (date: Date) => date.toISOString();

describe('hourOf / dayOf', () => {
  const cases: Array<[label: string, input: string, hour: string, day: string]> = [
    ['on the hour', '2026-11-22T10:00:00.000Z', '2026-11-22T10:00:00.000Z', '2026-11-22T00:00:00.000Z'],
    ['last ms of an hour', '2026-11-22T10:59:59.999Z', '2026-11-22T10:00:00.000Z', '2026-11-22T00:00:00.000Z'],
    ['first ms of a day', '2026-11-22T00:00:00.000Z', '2026-11-22T00:00:00.000Z', '2026-11-22T00:00:00.000Z'],
    ['last ms before UTC midnight', '2026-11-21T23:59:59.999Z', '2026-11-21T23:00:00.000Z', '2026-11-21T00:00:00.000Z'],
    ['offset input is still UTC', '2026-11-22T00:30:00+05:45', '2026-11-21T18:00:00.000Z', '2026-11-21T00:00:00.000Z'],
    ['leap day', '2028-02-29T12:34:56.789Z', '2028-02-29T12:00:00.000Z', '2028-02-29T00:00:00.000Z'],
    ['leap day last ms', '2028-02-29T23:59:59.999Z', '2028-02-29T23:00:00.000Z', '2028-02-29T00:00:00.000Z'],
    ['day after leap day', '2028-03-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
    ['year end', '2026-12-31T23:59:59.999Z', '2026-12-31T23:00:00.000Z', '2026-12-31T00:00:00.000Z'],
    ['new year', '2027-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    // DST switches in Europe (last Sunday of March/October at 01:00Z) and the US (2nd Sunday of
    // March / 1st of November at 07:00Z / 06:00Z Eastern) do not exist in UTC.
    ['EU spring forward', '2026-03-29T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T00:00:00.000Z'],
    ['EU fall back', '2026-10-25T00:59:59.999Z', '2026-10-25T00:00:00.000Z', '2026-10-25T00:00:00.000Z'],
    ['US spring forward', '2026-03-08T07:15:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-08T00:00:00.000Z'],
    ['US fall back', '2026-11-01T06:45:00.000Z', '2026-11-01T06:00:00.000Z', '2026-11-01T00:00:00.000Z'],
    ['before the epoch', '1969-12-31T23:30:00.000Z', '1969-12-31T23:00:00.000Z', '1969-12-31T00:00:00.000Z'],
    ['epoch', '1970-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z'],
  ];
  it.each(cases)('%s', (_label, input, hour, day) => {
    expect(iso(hourOf(d(input)))).toBe(hour);
    expect(iso(dayOf(d(input)))).toBe(day);
  });

  it('rejects an invalid date', () => {
    expect(() => hourOf(new Date('nope'))).toThrow(RangeError);
  });

  it('ceil leaves boundaries alone and rounds up by one ms', () => {
    expect(iso(hourCeil(d('2026-11-22T10:00:00.000Z')))).toBe('2026-11-22T10:00:00.000Z');
    expect(iso(hourCeil(d('2026-11-22T10:00:00.001Z')))).toBe('2026-11-22T11:00:00.000Z');
    expect(iso(dayCeil(d('2028-02-28T23:59:59.999Z')))).toBe('2028-02-29T00:00:00.000Z');
    expect(iso(dayCeil(d('2026-12-31T00:00:00.001Z')))).toBe('2027-01-01T00:00:00.000Z');
  });
});

describe('ranges', () => {
  it('hoursInRange covers every hour overlapping [from, to)', () => {
    expect(hoursInRange(d('2026-11-22T10:30:00Z'), d('2026-11-22T12:00:00Z')).map(iso)).toEqual([
      '2026-11-22T10:00:00.000Z',
      '2026-11-22T11:00:00.000Z',
    ]);
    expect(hoursInRange(d('2026-11-22T10:30:00Z'), d('2026-11-22T12:00:00.001Z'))).toHaveLength(3);
    expect(hoursInRange(d('2026-11-22T10:00:00Z'), d('2026-11-22T10:00:00Z'))).toEqual([]);
    expect(hoursInRange(d('2026-11-22T11:00:00Z'), d('2026-11-22T10:00:00Z'))).toEqual([]);
  });

  it('a UTC day always has 24 hours, DST or not', () => {
    for (const day of ['2026-03-29', '2026-10-25', '2026-03-08', '2026-11-01', '2028-02-29', '2026-12-31']) {
      const hours = hoursInRange(d(`${day}T00:00:00Z`), addDays(d(`${day}T00:00:00Z`), 1));
      expect(hours, day).toHaveLength(24);
      expect(countHours(d(`${day}T00:00:00Z`), addDays(d(`${day}T00:00:00Z`), 1))).toBe(24);
    }
  });

  it('daysInRange and daysOf across a leap day and a year end', () => {
    expect(daysInRange(d('2028-02-28T23:00:00Z'), d('2028-03-01T00:00:01Z')).map(iso)).toEqual([
      '2028-02-28T00:00:00.000Z',
      '2028-02-29T00:00:00.000Z',
      '2028-03-01T00:00:00.000Z',
    ]);
    expect(countDays(d('2026-12-30T12:00:00Z'), d('2027-01-02T00:00:00Z'))).toBe(3);
    const hours = [d('2027-01-01T00:00:00Z'), d('2026-12-31T23:00:00Z'), d('2026-12-31T05:00:00Z'), d('2027-01-01T13:00:00Z')];
    expect(daysOf(hours).map(iso)).toEqual(['2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(daysOf([])).toEqual([]);
  });

  it('addHours / addDays are plain UTC arithmetic', () => {
    expect(iso(addHours(d('2026-03-29T00:00:00Z'), 3))).toBe('2026-03-29T03:00:00.000Z');
    expect(iso(addDays(d('2028-02-28T12:00:00Z'), 1))).toBe('2028-02-29T12:00:00.000Z');
    expect(iso(addDays(d('2026-12-31T12:00:00Z'), 1))).toBe('2027-01-01T12:00:00.000Z');
  });
});

describe('chunkRange', () => {
  it('cuts at epoch-aligned multiples of chunkHours (24 = UTC days) and covers whole hours', () => {
    expect(chunkRange(d('2026-11-20T10:30:00Z'), d('2026-11-22T05:00:00.001Z'), 24).map((c) => [iso(c.from), iso(c.to)])).toEqual([
      ['2026-11-20T10:00:00.000Z', '2026-11-21T00:00:00.000Z'],
      ['2026-11-21T00:00:00.000Z', '2026-11-22T00:00:00.000Z'],
      ['2026-11-22T00:00:00.000Z', '2026-11-22T06:00:00.000Z'],
    ]);
    expect(chunkRange(d('2026-11-20T03:00:00Z'), d('2026-11-20T13:00:00Z'), 6).map((c) => iso(c.from))).toEqual([
      '2026-11-20T03:00:00.000Z',
      '2026-11-20T06:00:00.000Z',
      '2026-11-20T12:00:00.000Z',
    ]);
    expect(chunkRange(d('2026-11-20T00:00:00Z'), d('2026-11-20T00:00:00Z'), 24)).toEqual([]);
    expect(() => chunkRange(d('2026-11-20T00:00:00Z'), d('2026-11-21T00:00:00Z'), 0)).toThrow(RangeError);
  });
});

describe('chunksOf / countChunks', () => {
  it('counts what it yields, and yields lazily: a range to 9999-12-31 costs one chunk at a time', () => {
    const cases: Array<[string, string, number]> = [
      ['2026-11-20T10:30:00Z', '2026-11-22T05:00:00.001Z', 24],
      ['2026-11-20T03:00:00Z', '2026-11-20T13:00:00Z', 6],
      ['2026-11-20T00:00:00Z', '2026-11-20T00:00:00Z', 24],
      ['2026-11-20T00:00:00Z', '2026-11-21T00:00:00Z', 24],
      ['2026-11-20T23:59:00Z', '2026-11-21T00:00:01Z', 24],
      ['2026-11-20T05:00:00Z', '2026-11-20T06:00:00Z', 1],
    ];
    for (const [from, to, hours] of cases) expect(countChunks(d(from), d(to), hours), `${from} ${to} ${hours}`).toBe(chunkRange(d(from), d(to), hours).length);
    const huge = chunksOf(d('2026-11-01T00:00:00Z'), d('9999-12-31T00:00:00Z'), 1);
    expect(iso(huge.next().value!.from)).toBe('2026-11-01T00:00:00.000Z');
    expect(iso(huge.next().value!.from)).toBe('2026-11-01T01:00:00.000Z');
    expect(countChunks(d('2026-11-01T00:00:00Z'), d('9999-12-31T00:00:00Z'), 1)).toBe((Date.parse('9999-12-31T00:00:00Z') - Date.parse('2026-11-01T00:00:00Z')) / 3_600_000);
  });
});

describe('retentionCutoff', () => {
  it('is the start of the UTC day containing now - retentionDays', () => {
    expect(iso(retentionCutoff(d('2026-11-22T10:00:00Z'), 90))).toBe('2026-08-24T00:00:00.000Z');
    expect(iso(retentionCutoff(d('2028-03-01T00:30:00Z'), 1))).toBe('2028-02-29T00:00:00.000Z');
    expect(iso(retentionCutoff(d('2027-01-01T00:00:00Z'), 0))).toBe('2027-01-01T00:00:00.000Z');
    expect(() => retentionCutoff(d('2027-01-01T00:00:00Z'), -1)).toThrow(RangeError);
  });
});
