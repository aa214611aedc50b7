/**
 * What the demo reads back from Postgres: whether its first round of work is done, and the
 * per-entity table it prints.
 */
import { sql as raw } from 'kysely';
import type { Orm } from '../db/orm.ts';
import { sql } from '../db/sql.ts';

export interface DemoProgress {
  /**
   * Sources with at least one fetch run after `afterRunId` that did fetch (stored what the
   * source served, or got a 304). A run that completed by skipping (another fetch of the
   * source held its lease, backoff, disabled, superseded) does not count: a scheduled run is
   * skipped exactly while the demo's own fetch of that source waits for a host slot, and
   * counting it let the demo report itself settled before that source's articles were stored.
   */
  fetched: string[];
  articles: number;
  hourRollups: number;
  dayRollups: number;
  dirtyMarks: number;
}

/** The newest job_run id so far (0 when none): runs after it belong to this demo run, whatever the clocks say. */
export async function lastRunId(orm: Orm): Promise<number> {
  const row = await sql(orm.em.fork()).selectFrom('job_run').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  return Number(row?.id ?? 0);
}

export async function demoProgress(orm: Orm, afterRunId = 0): Promise<DemoProgress> {
  const db = sql(orm.em.fork());
  const [fetched, articles, rollups, dirty] = await Promise.all([
    db
      .selectFrom('job_run')
      .select('source_id')
      .distinct()
      .where('job_name', '=', 'fetch')
      .where('status', '=', 'completed')
      .where('id', '>', afterRunId)
      // Every fetch that reached the source records `fetched` (0 on a 304); skips record `skipped` instead.
      .where(raw<boolean>`stats -> 'fetched' is not null`)
      .execute(),
    db.selectFrom('article').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    db.selectFrom('sentiment_rollup').select(['granularity', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('granularity').execute(),
    db.selectFrom('rollup_dirty').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  const count = (g: string) => Number(rollups.find((r) => r.granularity === g)?.n ?? 0);
  return {
    fetched: fetched.map((r) => r.source_id).filter((id): id is string => id !== null).sort(),
    articles: Number(articles.n),
    hourRollups: count('hour'),
    dayRollups: count('day'),
    dirtyMarks: Number(dirty.n),
  };
}

/** Every source fetched once, and rollups refreshed for all of it (no marks left). */
export function isSettled(progress: DemoProgress, sourceIds: readonly string[]): boolean {
  return sourceIds.every((id) => progress.fetched.includes(id)) && progress.dirtyMarks === 0 && progress.hourRollups > 0 && progress.dayRollups > 0;
}

export interface EntityRow {
  slug: string;
  name: string;
  articles: number;
  hour: { start: Date; mean: number | null; n: number } | null;
  day: { start: Date; mean: number | null; n: number } | null;
}

/** Each entity with its latest hourly and daily bucket, most-mentioned first. */
export async function entityTable(orm: Orm): Promise<EntityRow[]> {
  const db = sql(orm.em.fork());
  const [entities, latest, mentions] = await Promise.all([
    db.selectFrom('entity').select(['id', 'slug', 'name']).where('enabled', '=', true).execute(),
    db
      .selectFrom('sentiment_rollup')
      .distinctOn(['entity_id', 'granularity'])
      .select(['entity_id', 'granularity', 'bucket_start', 'sentiment_mean', 'article_count'])
      .orderBy('entity_id')
      .orderBy('granularity')
      .orderBy('bucket_start', 'desc')
      .execute(),
    db.selectFrom('article_entity').select(['entity_id', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('entity_id').execute(),
  ]);
  const bucket = (entityId: number, granularity: string) => {
    const row = latest.find((r) => r.entity_id === entityId && r.granularity === granularity);
    return row ? { start: new Date(row.bucket_start), mean: row.sentiment_mean === null ? null : Number(row.sentiment_mean), n: Number(row.article_count) } : null;
  };
  return entities
    .map((e) => ({
      slug: e.slug,
      name: e.name,
      articles: Number(mentions.find((m) => m.entity_id === e.id)?.n ?? 0),
      hour: bucket(e.id, 'hour'),
      day: bucket(e.id, 'day'),
    }))
    .sort((a, b) => b.articles - a.articles || a.slug.localeCompare(b.slug));
}

const signed = (x: number | null) => (x === null ? '-' : `${x >= 0 ? '+' : ''}${x.toFixed(2)}`);
const hourLabel = (d: Date) => `${d.toISOString().slice(0, 13).replace('T', ' ')}:00`;

/** A plain-text table; columns padded, last column not. */
export function formatEntityTable(rows: readonly EntityRow[]): string {
  const lines = [
    ['entity', 'articles', 'latest hour (UTC)', 'mean', 'n', 'day (UTC)', 'day mean', 'n'],
    ...rows.map((r) => [
      r.slug,
      String(r.articles),
      r.hour ? hourLabel(r.hour.start) : '-',
      signed(r.hour?.mean ?? null),
      r.hour ? String(r.hour.n) : '-',
      r.day ? r.day.start.toISOString().slice(0, 10) : '-',
      signed(r.day?.mean ?? null),
      r.day ? String(r.day.n) : '-',
    ]),
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map((l) => l.map((cell, i) => (i === l.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}
