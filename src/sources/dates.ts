/**
 * Feed dates, parsed by hand: `Date.parse` is implementation-defined, accepts nonsense and rolls
 * "31 Jun" over into 1 July. Here a date either names a real calendar instant or is rejected.
 */

/** Dates before this are treated as absurd (feeds that print the epoch or year 0001). */
export const EARLIEST_PLAUSIBLE = new Date(Date.UTC(1990, 0, 1));
/** How far ahead of the fetch a date may lie (clock skew, time zones) before it is absurd. */
export const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

const MONTH_NAMES = [
  'january', 'february', 'march', 'april', 'may', 'june',
  'july', 'august', 'september', 'october', 'november', 'december',
] as const;

/** 1-12 for "Jun", "June" or "Sept" (any case); null for anything else. */
function monthNumber(name: string): number | null {
  const lower = name.toLowerCase();
  const index = MONTH_NAMES.findIndex(
    (full) => lower === full || lower === full.slice(0, 3) || (full === 'september' && lower === 'sept'),
  );
  return index === -1 ? null : index + 1;
}

/** Named zones of RFC 822 plus the ones feeds actually print, in minutes east of UTC. */
const NAMED_ZONES: Readonly<Record<string, number>> = {
  ut: 0, utc: 0, gmt: 0, z: 0,
  est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420,
};

// RFC 822/1123/2822 with the usual sloppiness: optional (even full) weekday, 1-digit day, 2- or
// 4-digit year, optional seconds, month names of any length ("Sept"), a trailing "(EDT)" comment.
const RFC822 =
  /^(?:[a-z]{3,9},?\s*)?(\d{1,2})[\s-]+([a-z]{3,9})\.?[\s-]+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([a-z]{1,5}|[+-]\d{2}:?\d{2}))?(?:\s*\([^)]*\))?$/i;
// RFC 3339 / ISO 8601 extended format; date-only and zone-less forms are taken as UTC.
const ISO_EXTENDED =
  /^(?<year>\d{4})-(?<month>\d{2})-(?<day>\d{2})(?:[t\s](?<hour>\d{2}):(?<minute>\d{2})(?::(?<second>\d{2})(?:[.,](?<fraction>\d+))?)?\s*(?<zone>z|[+-]\d{2}(?::?\d{2})?)?)?$/i;
// ISO 8601 basic format as GDELT prints it: 20261121T143000Z.
const ISO_BASIC =
  /^(?<year>\d{4})(?<month>\d{2})(?<day>\d{2})t(?<hour>\d{2})(?<minute>\d{2})(?<second>\d{2})?(?<zone>z|[+-]\d{2}(?:\d{2})?)?$/i;

/** "Wednesday, 02 December 2026 03:35:00.123456789 +05:30 (India Standard Time)" is ~70. */
export const DATE_MAX_LENGTH = 100;

/** Parses an RFC 822 or ISO 8601 date; null when it is not one or names a day that does not exist. */
export function parseDate(raw: string | null | undefined): Date | null {
  const value = raw?.trim();
  // No date is longer; the bound keeps the regexes below constant-time on hostile input.
  if (!value || value.length > DATE_MAX_LENGTH) return null;
  return parseIso8601(value) ?? parseRfc822(value);
}

/** RFC 822/1123/2822 (pubDate, HTTP-date). A missing zone is taken as UTC. */
export function parseRfc822(raw: string): Date | null {
  const value = raw.trim();
  if (value.length > DATE_MAX_LENGTH) return null;
  const m = RFC822.exec(value);
  if (!m) return null;
  const [, day, monthName, yearText, hour, minute, second, zone] = m;
  const month = monthNumber(monthName!);
  if (month === null) return null;
  const offset = zone === undefined ? 0 : zoneOffsetMinutes(zone);
  if (offset === null) return null;
  return buildDate(expandYear(yearText!), month, Number(day), Number(hour), Number(minute), Number(second ?? 0), 0, offset);
}

/** RFC 3339 / ISO 8601 (extended, or basic with a time). A missing zone is taken as UTC. */
export function parseIso8601(raw: string): Date | null {
  const value = raw.trim();
  if (value.length > DATE_MAX_LENGTH) return null;
  const f = (ISO_EXTENDED.exec(value) ?? ISO_BASIC.exec(value))?.groups;
  if (!f) return null;
  const offset = f.zone === undefined ? 0 : zoneOffsetMinutes(f.zone);
  if (offset === null) return null;
  // Milliseconds from the first three fraction digits: string surgery, as 0.29 * 1000 is 289.99….
  const ms = f.fraction === undefined ? 0 : Number(f.fraction.slice(0, 3).padEnd(3, '0'));
  return buildDate(
    Number(f.year), Number(f.month), Number(f.day),
    Number(f.hour ?? 0), Number(f.minute ?? 0), Number(f.second ?? 0), ms,
    offset,
  );
}

/**
 * The date an item is filed under: its own date when it parses and is plausible, else the fetch
 * time with `fallback: true` (unparseable, before 1990, or more than a day after the fetch).
 */
export function resolvePublished(
  raw: string | null | undefined,
  fetchedAt: Date,
): { date: Date; fallback: boolean } {
  const date = parseDate(raw);
  if (date === null || date < EARLIEST_PLAUSIBLE || date.getTime() > fetchedAt.getTime() + MAX_FUTURE_MS) {
    return { date: new Date(fetchedAt.getTime()), fallback: true };
  }
  return { date, fallback: false };
}

/** True in Gregorian leap years. */
export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Days in `month` (1-12) of `year`. */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** RFC 2822 §4.3: two-digit years 00-49 are 20xx, 50-99 are 19xx; three-digit years add 1900. */
function expandYear(text: string): number {
  const year = Number(text);
  if (text.length === 2) return year < 50 ? 2000 + year : 1900 + year;
  if (text.length === 3) return 1900 + year;
  return year;
}

/** Minutes east of UTC for "+0530", "-04:00", "EDT", "Z" or a military letter; null when unknown. */
function zoneOffsetMinutes(zone: string): number | null {
  const numeric = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  if (numeric) {
    const hours = Number(numeric[2]);
    const minutes = Number(numeric[3] ?? 0);
    if (hours > 23 || minutes > 59) return null;
    return (numeric[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  const lower = zone.toLowerCase();
  const named = NAMED_ZONES[lower];
  if (named !== undefined) return named;
  // RFC 822 got the signs of the military zones backwards, so RFC 2822 §4.3 says any letter but
  // Z (and J, which is not a zone) means "-0000": the time is UTC and the local offset unknown.
  if (/^[a-ik-y]$/.test(lower)) return 0;
  return null;
}

/** A UTC instant from calendar fields, or null when any field is out of range (never rolls over). */
function buildDate(
  year: number, month: number, day: number,
  hour: number, minute: number, second: number, ms: number,
  offsetMinutes: number,
): Date | null {
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  // 24:00 and leap seconds are rare enough in feeds that rejecting them is safer than guessing.
  if (hour > 23 || minute > 59 || second > 59) return null;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  return new Date(date.getTime() - offsetMinutes * 60_000);
}
