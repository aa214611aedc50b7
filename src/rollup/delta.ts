/**
 * Insert-only deltas (issue 17): what one ingest transaction adds to each (entity, UTC hour),
 * carried on its rollup_dirty mark so a refresh merges it into the stored hour row instead of
 * re-reading the hour's articles. Only writers that INSERT links use this; anything that
 * changes or deletes links marks the hour for recomputation (persist.ts markDirty).
 *
 * Exactness: the delta carries M2 (sum of squared deviations from its own mean), computed
 * two-pass here and merged with Chan et al.'s parallel formula in SQL, so stddev never comes
 * from sumsq - sum^2/n (which cancels for near-equal values, see statements.ts).
 */
import { sql as raw, type RawBuilder } from 'kysely';
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';

const HOUR_MS = 3_600_000;
/** The class boundaries of HOUR_AGGREGATES in statements.ts (positive > 0.05, negative < -0.05). */
const NEUTRAL_BAND = 0.05;

export interface HourDelta {
  entityId: number;
  /** Start of the UTC hour, epoch milliseconds. */
  hour: number;
  count: number;
  sum: number;
  sumsq: number;
  m2: number;
  min: number | null;
  max: number | null;
  positive: number;
  neutral: number;
  negative: number;
  trends: number;
}

export interface LinkTouch {
  entityId: number;
  at: Date;
  sentiment: number;
}

export interface TrendTouch {
  entityId: number;
  at: Date;
}

/**
 * Groups inserted links and trend links by (entity, UTC hour) into deltas, sorted by entity
 * then hour (the order concurrent writers lock marks in).
 */
export function hourDeltas(links: readonly LinkTouch[], trends: readonly TrendTouch[]): HourDelta[] {
  const groups = new Map<string, { entityId: number; hour: number; values: number[]; trends: number }>();
  const group = (entityId: number, at: Date) => {
    const hour = Math.floor(at.getTime() / HOUR_MS) * HOUR_MS;
    const key = `${entityId}:${hour}`;
    let g = groups.get(key);
    if (!g) {
      g = { entityId, hour, values: [], trends: 0 };
      groups.set(key, g);
    }
    return g;
  };
  for (const l of links) group(l.entityId, l.at).values.push(l.sentiment);
  for (const t of trends) group(t.entityId, t.at).trends += 1;
  return [...groups.values()]
    .sort((a, b) => a.entityId - b.entityId || a.hour - b.hour)
    .map((g) => ({ entityId: g.entityId, hour: g.hour, trends: g.trends, ...summarise(g.values) }));
}

/** n, sum, sumsq, two-pass M2, min, max and class counts of a list of scores. */
export function summarise(values: readonly number[]): Omit<HourDelta, 'entityId' | 'hour' | 'trends'> {
  let sum = 0;
  let sumsq = 0;
  let min: number | null = null;
  let max: number | null = null;
  let positive = 0;
  let neutral = 0;
  let negative = 0;
  for (const v of values) {
    sum += v;
    sumsq += v * v;
    min = min === null || v < min ? v : min;
    max = max === null || v > max ? v : max;
    if (v > NEUTRAL_BAND) positive += 1;
    else if (v < -NEUTRAL_BAND) negative += 1;
    else neutral += 1;
  }
  const mean = values.length > 0 ? sum / values.length : 0;
  let m2 = 0;
  for (const v of values) m2 += (v - mean) * (v - mean);
  return { count: values.length, sum, sumsq, m2, min, max, positive, neutral, negative };
}

/**
 * The upsert that writes delta marks, with $1..$12 placeholders (parallel arrays, see
 * markDeltaParams): plain text so tests that write through a bare pg client share it. A mark
 * already pending for the hour absorbs the delta (Chan's merge for M2) and keeps its
 * `recompute` flag: a pending recomputation re-reads the articles anyway, which include these.
 * Re-marking bumps marked_at like markDirty does.
 */
export const MARK_DELTAS_SQL = `
    insert into rollup_dirty as d (entity_id, hour_start, recompute, delta_count, delta_sum, delta_sumsq, delta_m2, delta_min, delta_max,
                                   delta_positive, delta_neutral, delta_negative, delta_trends)
    select u.entity_id, u.hour_start, false, u.n, u.s, u.sq, u.m2, u.mn, u.mx, u.pos, u.neu, u.neg, u.tr
      from unnest($1::int[], $2::timestamptz[], $3::int[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[],
                  $9::int[], $10::int[], $11::int[], $12::int[])
        as u(entity_id, hour_start, n, s, sq, m2, mn, mx, pos, neu, neg, tr)
    on conflict (entity_id, hour_start) do update set
      marked_at = clock_timestamp(),
      delta_count = d.delta_count + excluded.delta_count,
      delta_sum = d.delta_sum + excluded.delta_sum,
      delta_sumsq = d.delta_sumsq + excluded.delta_sumsq,
      delta_m2 = d.delta_m2 + excluded.delta_m2 + ${chanCross('d.delta_count', 'd.delta_sum', 'excluded.delta_count', 'excluded.delta_sum')},
      delta_min = least(d.delta_min, excluded.delta_min),
      delta_max = greatest(d.delta_max, excluded.delta_max),
      delta_positive = d.delta_positive + excluded.delta_positive,
      delta_neutral = d.delta_neutral + excluded.delta_neutral,
      delta_negative = d.delta_negative + excluded.delta_negative,
      delta_trends = d.delta_trends + excluded.delta_trends`;

/** The parameters of MARK_DELTAS_SQL, in placeholder order. */
export function markDeltaParams(deltas: readonly HourDelta[]): unknown[] {
  const col = <T>(pick: (d: HourDelta) => T) => deltas.map(pick);
  return [
    col((d) => d.entityId),
    col((d) => new Date(d.hour).toISOString()),
    col((d) => d.count),
    col((d) => d.sum),
    col((d) => d.sumsq),
    col((d) => d.m2),
    col((d) => d.min),
    col((d) => d.max),
    col((d) => d.positive),
    col((d) => d.neutral),
    col((d) => d.negative),
    col((d) => d.trends),
  ];
}

/** Kysely form of a $n-numbered statement whose placeholders appear once each, in order. */
function numbered(text: string, params: readonly unknown[]): RawBuilder<unknown> {
  const parts = text.split(/\$\d+/);
  const pieces: RawBuilder<unknown>[] = [];
  parts.forEach((part, i) => {
    pieces.push(raw.raw(part));
    if (i < params.length) pieces.push(raw`${params[i]}`);
  });
  return raw.join(pieces, raw.raw(''));
}

/** Writes the deltas as marks in the writer's transaction (MARK_DELTAS_SQL). */
export async function markDeltas(tx: EntityManager, deltas: readonly HourDelta[]): Promise<number> {
  if (deltas.length === 0) return 0;
  await numbered(MARK_DELTAS_SQL, markDeltaParams(deltas)).execute(sql(tx));
  return deltas.length;
}

/**
 * SQL for Chan's between-groups term n_a n_b / (n_a + n_b) (mean_a - mean_b)^2 of two groups
 * given by count and sum expressions (0 when either is empty). Arguments are trusted SQL
 * fragments (column names), never user input.
 */
export function chanCross(nA: string, sumA: string, nB: string, sumB: string): string {
  return `(case when ${nA} > 0 and ${nB} > 0 then (${nA}::float8 * ${nB}::float8 / (${nA} + ${nB})::float8) * ((${sumA} / ${nA}::float8) - (${sumB} / ${nB}::float8)) ^ 2 else 0::float8 end)`;
}
