/**
 * Pure UTC bucket math. Buckets are fixed-length spans of epoch milliseconds (an hour is
 * always 3,600,000 ms, a day always 86,400,000 ms: the epoch has no leap seconds and UTC
 * no DST), so no calendar library and no time zone is involved. The SQL side uses
 * `date_trunc(..., 'UTC')` and `interval 'N hours'` for the same reason.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

function floorTo(date: Date, span: number): Date {
  const t = date.getTime();
  if (!Number.isFinite(t)) throw new RangeError(`rollup buckets: invalid date ${String(date)}`);
  return new Date(Math.floor(t / span) * span);
}

function ceilTo(date: Date, span: number): Date {
  const t = date.getTime();
  if (!Number.isFinite(t)) throw new RangeError(`rollup buckets: invalid date ${String(date)}`);
  return new Date(Math.ceil(t / span) * span);
}

/** Start of the UTC hour containing `date`. */
export function hourOf(date: Date): Date {
  return floorTo(date, HOUR_MS);
}

/** Start of the UTC day containing `date`. */
export function dayOf(date: Date): Date {
  return floorTo(date, DAY_MS);
}

/** The first hour boundary at or after `date` (itself when already on one). */
export function hourCeil(date: Date): Date {
  return ceilTo(date, HOUR_MS);
}

/** The first day boundary at or after `date`. */
export function dayCeil(date: Date): Date {
  return ceilTo(date, DAY_MS);
}

export function addHours(date: Date, hours: number): Date {
  return new Date(date.getTime() + hours * HOUR_MS);
}

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS);
}

function bucketsOverlapping(from: Date, to: Date, span: number): Date[] {
  const out: Date[] = [];
  const end = to.getTime();
  for (let t = floorTo(from, span).getTime(); t < end; t += span) out.push(new Date(t));
  return out;
}

/** Every UTC hour bucket that overlaps [from, to), in order. Empty when to <= from. */
export function hoursInRange(from: Date, to: Date): Date[] {
  return bucketsOverlapping(from, to, HOUR_MS);
}

/** Every UTC day bucket that overlaps [from, to), in order. Empty when to <= from. */
export function daysInRange(from: Date, to: Date): Date[] {
  return bucketsOverlapping(from, to, DAY_MS);
}

/** The distinct UTC days the given instants (usually hour starts) fall in, in order. */
export function daysOf(instants: Iterable<Date>): Date[] {
  const seen = new Set<number>();
  for (const instant of instants) seen.add(dayOf(instant).getTime());
  return [...seen].sort((a, b) => a - b).map((t) => new Date(t));
}

/** Number of whole `span` buckets in [from, to) when both are aligned; 0 when to <= from. */
function countBuckets(from: Date, to: Date, span: number): number {
  return Math.max(0, Math.ceil((to.getTime() - floorTo(from, span).getTime()) / span));
}

export function countHours(from: Date, to: Date): number {
  return countBuckets(from, to, HOUR_MS);
}

export function countDays(from: Date, to: Date): number {
  return countBuckets(from, to, DAY_MS);
}

/**
 * The hour-aligned cover of [from, to) in chunks whose boundaries are multiples of
 * `chunkHours` since the epoch, so 24-hour chunks are exactly UTC days and a re-run of a
 * rebuild cuts the same chunks. Lazy: a range of any length costs one chunk of memory.
 */
export function* chunksOf(from: Date, to: Date, chunkHours: number): Generator<{ from: Date; to: Date }> {
  if (!Number.isInteger(chunkHours) || chunkHours < 1) throw new RangeError(`rollup buckets: chunkHours must be a positive integer, got ${chunkHours}`);
  const span = chunkHours * HOUR_MS;
  const start = hourOf(from).getTime();
  const end = hourCeil(to).getTime();
  for (let t = start; t < end; ) {
    const next = Math.min(end, (Math.floor(t / span) + 1) * span);
    yield { from: new Date(t), to: new Date(next) };
    t = next;
  }
}

/** How many chunks chunksOf yields, by arithmetic (no list). */
export function countChunks(from: Date, to: Date, chunkHours: number): number {
  if (!Number.isInteger(chunkHours) || chunkHours < 1) throw new RangeError(`rollup buckets: chunkHours must be a positive integer, got ${chunkHours}`);
  const span = chunkHours * HOUR_MS;
  const start = hourOf(from).getTime();
  const end = hourCeil(to).getTime();
  if (end <= start) return 0;
  return Math.floor((end - 1) / span) - Math.floor(start / span) + 1;
}

/** chunksOf as a list, for short ranges (tests, small callers). */
export function chunkRange(from: Date, to: Date, chunkHours: number): Array<{ from: Date; to: Date }> {
  return [...chunksOf(from, to, chunkHours)];
}

/**
 * The oldest instant whose buckets still have all their raw articles: the start of the UTC
 * day containing `now - retentionDays`. Prune deletes articles published before it; a rebuild
 * never recomputes a bucket that starts before it (it would empty the bucket).
 */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  if (!Number.isFinite(retentionDays) || retentionDays < 0) throw new RangeError(`rollup buckets: retentionDays must be >= 0, got ${retentionDays}`);
  return dayOf(addDays(now, -retentionDays));
}
