import { sql as raw } from 'kysely';
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import { articleRetentionCutoff, ensurePartitions, monthOf, partitionName } from '../db/partitions.ts';
import type { ParsedTrend } from '../sources/types.ts';
import type { PreparedArticle } from './prepare.ts';
import { hourDeltas, markDeltas } from '../rollup/delta.ts';

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
  /**
   * Raw-article retention in days: items published before the retention cutoff (the start of
   * the UTC day `retentionDays` before the database's now()) are not stored, so a prune is
   * never undone by the next fetch of a feed that still lists old items.
   */
  retentionDays?: number;
}

export interface PersistResult {
  inserted: number;
  /** Articles already stored (same source + external id, or same normalised URL from any source). */
  duplicates: number;
  /** Items older than the retention cutoff, skipped. */
  tooOld: number;
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
 * Claims the deduplication keys of one batch in article_key: a key already taken (same source
 * + external id, or same url_key from any source) skips its item. Each claimed key gets the
 * id of the article about to be inserted.
 */
async function claimKeys(tx: EntityManager, sourceId: string, batch: readonly PreparedArticle[]) {
  const column = <T>(pick: (a: PreparedArticle) => T) => batch.map(pick);
  const { rows } = await raw<{ article_id: string; external_id: string }>`
    insert into article_key (source_id, external_id, url_key, article_id, published_at)
    select ${sourceId}, u.external_id, u.url_key, nextval('article_id_seq'), u.published_at
      from unnest(${column((a) => a.externalId)}::text[], ${column((a) => a.urlKey)}::text[], ${column((a) => a.publishedAt.toISOString())}::timestamptz[])
        as u(external_id, url_key, published_at)
    on conflict do nothing
    returning article_id, external_id`.execute(sql(tx));
  return rows;
}

/**
 * Months whose partitions were found already committed (by the migration, the partitions job
 * or an earlier fetch); any other month is checked against the catalog. A partition this
 * transaction creates is not remembered: the transaction may still roll back.
 */
const knownPartitions = new Set<string>();

async function ensureMonths(tx: EntityManager, dates: readonly Date[]): Promise<void> {
  const months = new Map<number, Date>();
  for (const d of dates) {
    const m = monthOf(d);
    if (!knownPartitions.has(partitionName('article_entity', m))) months.set(m.getTime(), m);
  }
  for (const month of months.values()) {
    const next = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1));
    let created = 0;
    for (const table of ['article', 'article_entity'] as const) created += (await ensurePartitions(sql(tx), table, month, next)).length;
    if (created === 0) knownPartitions.add(partitionName('article_entity', month));
  }
}

/** Inserts the articles whose keys this transaction claimed, with the claimed ids: no conflict possible. */
async function insertArticles(tx: EntityManager, input: PersistInput, batch: readonly { id: string; article: PreparedArticle }[]): Promise<void> {
  const column = <T>(pick: (a: PreparedArticle) => T) => batch.map((b) => pick(b.article));
  await raw`
    insert into article (id, source_id, external_id, url, url_key, title, summary, author, language, published_at, fetched_at, sentiment, scorer)
    select u.id, ${input.sourceId}, u.external_id, u.url, u.url_key, u.title, u.summary, u.author, u.language, u.published_at,
           ${input.fetchedAt.toISOString()}::timestamptz, u.sentiment, ${input.scorerId}
      from unnest(${batch.map((b) => b.id)}::bigint[], ${column((a) => a.externalId)}::text[], ${column((a) => a.url)}::text[], ${column((a) => a.urlKey)}::text[],
                  ${column((a) => a.title)}::text[], ${column((a) => a.summary)}::text[], ${column((a) => a.author)}::text[],
                  ${column((a) => a.language)}::text[], ${column((a) => a.publishedAt.toISOString())}::timestamptz[],
                  ${column((a) => a.sentiment)}::float8[])
        as u(id, external_id, url, url_key, title, summary, author, language, published_at, sentiment)`.execute(sql(tx));
}

interface Link {
  article_id: number;
  entity_id: number;
  published_at: Date;
  sentiment: number;
}

/** Links of articles this transaction just inserted: they cannot conflict, so no ON CONFLICT (speculative insertion costs). */
async function insertLinks(tx: EntityManager, links: readonly Link[], scorerId: string): Promise<void> {
  for (const batch of chunks(links)) {
    await raw`
      insert into article_entity (article_id, entity_id, published_at, sentiment, scorer)
      select *, ${scorerId}::text from unnest(${batch.map((l) => l.article_id)}::bigint[], ${batch.map((l) => l.entity_id)}::int[],
                           ${batch.map((l) => l.published_at.toISOString())}::timestamptz[], ${batch.map((l) => l.sentiment)}::float8[])`.execute(sql(tx));
  }
}

/**
 * Writes one fetch's results inside the caller's transaction: new articles, their entity
 * links, trend observations and links, and a dirty mark for every (entity, hour) they
 * touch. Keys are claimed in url_key order so concurrent fetches lock in one order.
 */
export async function persistItems(tx: EntityManager, input: PersistInput): Promise<PersistResult> {
  const db = sql(tx);
  const byExternalId = new Map(input.articles.map((a) => [a.externalId, a]));
  const links: Link[] = [];
  let inserted = 0;
  // The database's clock, like prune's: every worker agrees on what is too old to store.
  const cutoff = input.retentionDays === undefined ? null : await articleRetentionCutoff(db, input.retentionDays);
  const fresh = cutoff === null ? input.articles : input.articles.filter((a) => a.publishedAt >= cutoff);
  for (const batch of chunks([...fresh].sort(byUrlKey))) {
    const keys = await claimKeys(tx, input.sourceId, batch);
    if (keys.length === 0) continue;
    const claimed = keys.map((row) => ({ id: row.article_id, article: byExternalId.get(row.external_id)! }));
    await ensureMonths(tx, claimed.map((c) => c.article.publishedAt));
    await insertArticles(tx, input, claimed);
    inserted += claimed.length;
    for (const { id, article } of claimed) {
      for (const entityId of article.entityIds) {
        links.push({ article_id: Number(id), entity_id: entityId, published_at: article.publishedAt, sentiment: article.entitySentiment.get(entityId) ?? article.sentiment });
      }
    }
  }
  await insertLinks(tx, links, input.scorerId);

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

  // Everything above only inserted: the marks carry the deltas, merged without re-reading the hours.
  const dirtyMarks = await markDeltas(
    tx,
    hourDeltas(
      links.map((l) => ({ entityId: l.entity_id, at: l.published_at, sentiment: l.sentiment })),
      trendLinks.map((l) => ({ entityId: l.entity_id, at: l.observed_at })),
    ),
  );

  return {
    inserted,
    duplicates: fresh.length - inserted,
    tooOld: input.articles.length - fresh.length,
    entityLinks: links.length,
    trends,
    trendLinks: trendLinks.length,
    dirtyMarks,
  };
}

/**
 * Marks (entity, UTC hour) buckets for recomputation by the next refresh (writers that change
 * or delete links; inserts carry deltas, see rollup/delta.ts), in the writer's transaction, so a
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
    on conflict (entity_id, hour_start) do update set marked_at = clock_timestamp(), recompute = true`.execute(sql(tx));
  return marks.length;
}
