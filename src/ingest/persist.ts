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

// 13 columns x 1,000 rows stays far below Postgres's 65,535 bind parameters.
const BATCH = 1_000;

function chunks<T>(rows: readonly T[], size = BATCH): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

/**
 * Writes one fetch's results inside the caller's transaction: new articles (one insert
 * per batch, conflicts on either natural key skipped), their entity links, trend
 * observations and links, and a dirty mark for every (entity, hour) they touch. Rows are
 * sorted by their unique keys so concurrent fetches lock in the same order.
 */
export async function persistItems(tx: EntityManager, input: PersistInput): Promise<PersistResult> {
  const db = sql(tx);
  const byExternalId = new Map(input.articles.map((a) => [a.externalId, a]));
  const sorted = [...input.articles].sort((a, b) => ((a.urlKey ?? '') < (b.urlKey ?? '') ? -1 : (a.urlKey ?? '') > (b.urlKey ?? '') ? 1 : 0));

  const links: { article_id: number; entity_id: number; published_at: Date; sentiment: number }[] = [];
  let inserted = 0;
  for (const batch of chunks(sorted)) {
    const rows = await db
      .insertInto('article')
      .values(
        batch.map((a) => ({
          source_id: input.sourceId,
          external_id: a.externalId,
          url: a.url,
          url_key: a.urlKey,
          title: a.title,
          summary: a.summary,
          author: a.author,
          language: a.language,
          published_at: a.publishedAt,
          fetched_at: input.fetchedAt,
          sentiment: a.sentiment,
          scorer: input.scorerId,
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .returning(['id', 'external_id'])
      .execute();
    inserted += rows.length;
    for (const row of rows) {
      const article = byExternalId.get(row.external_id);
      if (!article) continue;
      for (const entityId of article.entityIds) {
        links.push({ article_id: Number(row.id), entity_id: entityId, published_at: article.publishedAt, sentiment: article.sentiment });
      }
    }
  }
  for (const batch of chunks(links, 5_000)) {
    await db.insertInto('article_entity').values(batch).onConflict((oc) => oc.doNothing()).execute();
  }

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
  for (const batch of chunks(trendLinks, 5_000)) {
    await db.insertInto('trend_entity').values(batch).onConflict((oc) => oc.doNothing()).execute();
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
  if (touches.length === 0) return 0;
  const entityIds = touches.map((t) => t.entityId);
  const stamps = touches.map((t) => t.at.toISOString());
  const result = await raw<{ n: number }>`
    with marks as (
      select distinct e as entity_id, date_trunc('hour', t::timestamptz, 'UTC') as hour_start
        from unnest(${entityIds}::int[], ${stamps}::text[]) as u(e, t)
       order by 1, 2
    ), upserted as (
      insert into rollup_dirty (entity_id, hour_start)
      select entity_id, hour_start from marks
      on conflict (entity_id, hour_start) do update set marked_at = clock_timestamp()
      returning 1
    )
    select count(*)::int as n from upserted`.execute(sql(tx));
  return result.rows[0]?.n ?? 0;
}
