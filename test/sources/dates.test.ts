import { describe, expect, it } from 'vitest';
import { daysInMonth, isLeapYear, parseDate, resolvePublished } from '../../src/sources/dates.ts';

const iso = (raw: string) => parseDate(raw)?.toISOString() ?? null;

describe('parseDate', () => {
  it.each([
    // RFC 822 / 1123 / 2822
    ['Sat, 21 Nov 2026 14:30:00 GMT', '2026-11-21T14:30:00.000Z'],
    ['Sat, 21 Nov 2026 14:30:00 UT', '2026-11-21T14:30:00.000Z'],
    ['Sat, 21 Nov 2026 14:30:00 UTC', '2026-11-21T14:30:00.000Z'],
    ['Sat, 21 Nov 2026 14:30:00 Z', '2026-11-21T14:30:00.000Z'],
    ['21 Nov 2026 14:30:00 +0000', '2026-11-21T14:30:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 EST', '2026-11-21T15:00:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 EDT', '2026-11-21T14:00:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 CST', '2026-11-21T16:00:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 CDT', '2026-11-21T15:00:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 MST', '2026-11-21T17:00:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 MDT', '2026-11-21T16:00:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 PST', '2026-11-21T18:00:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 PDT', '2026-11-21T17:00:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 +0530', '2026-11-21T04:30:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 -0930', '2026-11-21T19:30:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 +05:30', '2026-11-21T04:30:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00 A', '2026-11-21T10:00:00.000Z'], // military: RFC 5322 says -0000
    ['Sat, 21 Nov 2026 10:00:00 Y', '2026-11-21T10:00:00.000Z'],
    ['Sat, 21 Nov 2026 10:00:00', '2026-11-21T10:00:00.000Z'], // no zone: UTC
    ['Saturday, 21 November 2026 10:00 GMT', '2026-11-21T10:00:00.000Z'],
    ['1 Sept 2026 10:00:00 GMT', '2026-09-01T10:00:00.000Z'],
    ['sat, 21 nov 2026 10:00:00 gmt', '2026-11-21T10:00:00.000Z'],
    ['Sat, 21 Nov 26 10:00:00 GMT', '2026-11-21T10:00:00.000Z'],
    ['Fri, 31 Dec 99 23:59:59 GMT', '1999-12-31T23:59:59.000Z'],
    ['Sat, 01 Jan 50 00:00:00 GMT', '1950-01-01T00:00:00.000Z'],
    ['Thu, 01 Jan 49 00:00:00 GMT', '2049-01-01T00:00:00.000Z'],
    ['Sun, 20 Oct 2024 18:30:00 -0400 (EDT)', '2024-10-20T22:30:00.000Z'],
    ['Sunday, 06-Nov-94 08:49:37 GMT', '1994-11-06T08:49:37.000Z'], // RFC 850, as HTTP allows
    // RFC 3339 / ISO 8601
    ['2026-11-21T14:30:00Z', '2026-11-21T14:30:00.000Z'],
    ['2026-11-21t14:30:00z', '2026-11-21T14:30:00.000Z'],
    ['2026-11-21T14:30:00.29Z', '2026-11-21T14:30:00.290Z'],
    ['2026-11-21T14:30:00,123456+01:00', '2026-11-21T13:30:00.123Z'],
    ['2026-11-21T14:30:00-0800', '2026-11-21T22:30:00.000Z'],
    ['2026-11-21T14:30:00+05', '2026-11-21T09:30:00.000Z'],
    ['2026-11-21T14:30', '2026-11-21T14:30:00.000Z'],
    ['2026-11-21 14:30:00', '2026-11-21T14:30:00.000Z'],
    ['2026-11-21', '2026-11-21T00:00:00.000Z'],
    ['20261121T143000Z', '2026-11-21T14:30:00.000Z'], // GDELT seendate
    ['20261121T1430+0100', '2026-11-21T13:30:00.000Z'],
    ['  2026-11-21T14:30:00Z  ', '2026-11-21T14:30:00.000Z'],
    // leap years
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['2000-02-29T00:00:00Z', '2000-02-29T00:00:00.000Z'],
    ['Thu, 29 Feb 2024 10:00:00 GMT', '2024-02-29T10:00:00.000Z'],
    ['0099-03-01T00:00:00Z', '0099-03-01T00:00:00.000Z'], // years below 100 stay themselves
  ])('%s -> %s', (raw, expected) => {
    expect(iso(raw)).toBe(expected);
  });

  it.each([
    '', '   ', 'yesterday', 'not a date', '1795262400',
    'Wed, 31 Jun 2026 10:00:00 GMT', // no rolling over to 1 July
    '2026-06-31T10:00:00Z',
    '2026-04-31',
    'Sat, 29 Feb 2025 10:00:00 GMT',
    '2100-02-29T00:00:00Z', // not a leap year
    '1900-02-29',
    '2026-02-30',
    '2026-00-10', '2026-13-01', '2026-11-00', '2026-11-32',
    'Sat, 21 Nov 2026 24:00:00 GMT', 'Sat, 21 Nov 2026 10:60:00 GMT', 'Sat, 21 Nov 2026 10:00:60 GMT',
    '2026-11-21T25:00:00Z',
    'Sat, 21 Foo 2026 10:00:00 GMT', 'Sat, 21 Juneteenth 2026 10:00:00 GMT',
    'Sat, 21 Nov 2026 10:00:00 XYZ', 'Sat, 21 Nov 2026 10:00:00 J',
    'Sat, 21 Nov 2026 10:00:00 +2500', '2026-11-21T10:00:00+01:75',
    '2026-11-21T10:00:00 garbage',
  ])('rejects %j', (raw) => {
    expect(parseDate(raw)).toBeNull();
  });
});

describe('resolvePublished', () => {
  const fetchedAt = new Date('2026-11-21T15:00:00Z');
  it.each([
    ['2026-11-21T10:00:00Z', '2026-11-21T10:00:00.000Z', false],
    ['2026-11-22T15:00:00Z', '2026-11-22T15:00:00.000Z', false], // exactly one day ahead is allowed
    ['2026-11-22T15:00:01Z', '2026-11-21T15:00:00.000Z', true], // past that: absurd
    ['1990-01-01T00:00:00Z', '1990-01-01T00:00:00.000Z', false],
    ['1989-12-31T23:59:59Z', '2026-11-21T15:00:00.000Z', true],
    ['Thu, 01 Jan 1970 00:00:00 GMT', '2026-11-21T15:00:00.000Z', true],
    ['2100-01-01T00:00:00Z', '2026-11-21T15:00:00.000Z', true],
    ['garbage', '2026-11-21T15:00:00.000Z', true],
    [null, '2026-11-21T15:00:00.000Z', true],
    [undefined, '2026-11-21T15:00:00.000Z', true],
  ] as const)('%s -> %s (fallback %s)', (raw, date, fallback) => {
    const resolved = resolvePublished(raw, fetchedAt);
    expect({ date: resolved.date.toISOString(), fallback: resolved.fallback }).toEqual({ date, fallback });
  });

  it('returns a copy of the fetch time, not the same object', () => {
    expect(resolvePublished(null, fetchedAt).date).not.toBe(fetchedAt);
  });
});

describe('calendar helpers', () => {
  it.each([
    [2024, true], [2025, false], [2000, true], [1900, false], [2100, false], [2400, true],
  ])('isLeapYear(%i) is %s', (year, leap) => expect(isLeapYear(year)).toBe(leap));

  it.each([
    [2025, 1, 31], [2025, 2, 28], [2024, 2, 29], [2025, 4, 30], [2025, 6, 30], [2025, 7, 31], [2025, 9, 30], [2025, 11, 30], [2025, 12, 31],
  ])('daysInMonth(%i, %i) is %i', (year, month, days) => expect(daysInMonth(year, month)).toBe(days));
});
