import { sql as raw } from 'kysely';
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import type { ParsedTrend } from '../sources/types.ts';
import type { PreparedArticle } from './prepare.ts';

/** A trend observation, matched like an article. */
export interface PreparedTrend extends ParsedTrend {
  entityIds: number[];
}

export interface PersistInput {
  sourceId: string;
  fetchedAt: Date;
  scorerId: string;
  articles: readonly PreparedArticle[];
  trends: readonly PreparedTrend[];
}

export interface PersistResult {
  inserted: number;
  /** Articles already stored (same source + external id, or same normalised URL from any source). */
  duplicates: number;
  entityLinks: number;
  trends: number;
  trendLinks: number;
  dirtyMarks: number;
}

// Rows travel as one array per column (unnest), so a batch is one short statement with a
// dozen parameters instead of thousands: measured faster than multi-row VALUES.
// MikroORM's own bulk insert, same 10k rows (bench/job-path.ts): em.insertMany 0.45x, qb insert..onConflict().ignore() 0.30x of unnest; neither returns the inserted ids the links need.
const BATCH = 5_000;
const HOUR_MS = 3_600_000;

function chunks<T>(rows: readonly T[], size = BATCH): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

function byUrlKey(a: PreparedArticle, b: PreparedArticle): number {
  const x = a.urlKey ?? '';
  const y = b.urlKey ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Inserts one batch of articles; conflicts on either natural key (url_key, or source +
 * external id) are skipped. Returns the ids of the rows actually inserted.
 */
async function insertArticles(tx: EntityManager, input: PersistInput, batch: readonly PreparedArticle[]) {
  const column = <T>(pick: (a: PreparedArticle) => T) => batch.map(pick);
  const { rows } = await raw<{ id: string; external_id: string }>`
    insert into article (source_id, external_id, url, url_key, title, summary, author, language, published_at, fetched_at, sentiment, scorer)
    select ${input.sourceId}, u.external_id, u.url, u.url_key, u.title, u.summary, u.author, u.language, u.published_at,
           ${input.fetchedAt.toISOString()}::timestamptz, u.sentiment, ${input.scorerId}
      from unnest(${column((a) => a.externalId)}::text[], ${column((a) => a.url)}::text[], ${column((a) => a.urlKey)}::text[],
                  ${column((a) => a.title)}::text[], ${column((a) => a.summary)}::text[], ${column((a) => a.author)}::text[],
                  ${column((a) => a.language)}::text[], ${column((a) => a.publishedAt.toISOString())}::timestamptz[],
                  ${column((a) => a.sentiment)}::float8[])
        as u(external_id, url, url_key, title, summary, author, language, published_at, sentiment)
    on conflict do nothing
    returning id, external_id`.execute(sql(tx));
  return rows;
}

interface Link {
  article_id: number;
  entity_id: number;
  published_at: Date;
  sentiment: number;
}

/** Links of articles this transaction just inserted: they cannot conflict, so no ON CONFLICT (speculative insertion costs). */
async function insertLinks(tx: EntityManager, links: readonly Link[]): Promise<void> {
  for (const batch of chunks(links)) {
    await raw`
      insert into article_entity (article_id, entity_id, published_at, sentiment)
      select * from unnest(${batch.map((l) => l.article_id)}::bigint[], ${batch.map((l) => l.entity_id)}::int[],
                           ${batch.map((l) => l.published_at.toISOString())}::timestamptz[], ${batch.map((l) => l.sentiment)}::float8[])`.execute(sql(tx));
  }
}

/**
 * Writes one fetch's results inside the caller's transaction: new articles, their entity
 * links, trend observations and links, and a dirty mark for every (entity, hour) they
 * touch. Articles are inserted in url_key order so concurrent fetches lock in one order.
 */
export async function persistItems(tx: EntityManager, input: PersistInput): Promise<PersistResult> {
  const db = sql(tx);
  const byExternalId = new Map(input.articles.map((a) => [a.externalId, a]));
  const links: Link[] = [];
  let inserted = 0;
  for (const batch of chunks([...input.articles].sort(byUrlKey))) {
    const rows = await insertArticles(tx, input, batch);
    inserted += rows.length;
    for (const row of rows) {
      const article = byExternalId.get(row.external_id);
      for (const entityId of article?.entityIds ?? []) {
        links.push({ article_id: Number(row.id), entity_id: entityId, published_at: article!.publishedAt, sentiment: article!.sentiment });
      }
    }
  }
  await insertLinks(tx, links);

  const trendLinks: { trend_id: number; entity_id: number; observed_at: Date }[] = [];
  let trends = 0;
  for (const batch of chunks(input.trends)) {
    const rows = await db
      .insertInto('trend')
      .values(batch.map((t) => ({ source_id: input.sourceId, key: t.key, title: t.title, url: t.url, rank: t.rank, score: t.score, observed_at: t.observedAt })))
      .onConflict((oc) => oc.doNothing())
      .returning(['id', 'key'])
      .execute();
    trends += rows.length;
    const byKey = new Map(batch.map((t) => [t.key, t]));
    for (const row of rows) {
      const trend = byKey.get(row.key);
      for (const entityId of trend?.entityIds ?? []) trendLinks.push({ trend_id: Number(row.id), entity_id: entityId, observed_at: trend!.observedAt });
    }
  }
  for (const batch of chunks(trendLinks)) {
    await db.insertInto('trend_entity').values(batch).execute();
  }

  const dirtyMarks = await markDirty(tx, [
    ...links.map((l) => ({ entityId: l.entity_id, at: l.published_at })),
    ...trendLinks.map((l) => ({ entityId: l.entity_id, at: l.observed_at })),
  ]);

  return {
    inserted,
    duplicates: input.articles.length - inserted,
    entityLinks: links.length,
    trends,
    trendLinks: trendLinks.length,
    dirtyMarks,
  };
}

/**
 * Marks (entity, UTC hour) buckets for the next refresh, in the writer's transaction, so a
 * late or back-dated article re-opens exactly its old bucket. Re-marking bumps marked_at,
 * which tells a running refresh that this mark is newer than the one it read.
 */
export async function markDirty(tx: EntityManager, touches: readonly { entityId: number; at: Date }[]): Promise<number> {
  // Distinct (entity, hour) pairs, sorted so concurrent writers lock marks in one order.
  const pairs = new Map<string, { entityId: number; hour: number }>();
  for (const t of touches) {
    const hour = Math.floor(t.at.getTime() / HOUR_MS) * HOUR_MS;
    pairs.set(`${t.entityId}:${hour}`, { entityId: t.entityId, hour });
  }
  if (pairs.size === 0) return 0;
  const marks = [...pairs.values()].sort((a, b) => a.entityId - b.entityId || a.hour - b.hour);
  await raw`
    insert into rollup_dirty (entity_id, hour_start)
    select * from unnest(${marks.map((m) => m.entityId)}::int[], ${marks.map((m) => new Date(m.hour).toISOString())}::timestamptz[])
    on conflict (entity_id, hour_start) do update set marked_at = clock_timestamp()`.execute(sql(tx));
  return marks.length;
}
