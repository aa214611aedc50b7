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

/** What claiming an article's deduplication keys needs: known after parsing, before scoring. */
export interface ArticleKeys {
  externalId: string;
  urlKey: string | null;
  publishedAt: Date;
}

interface StoreInput {
  sourceId: string;
  fetchedAt: Date;
  scorerId: string;
  trends: readonly PreparedTrend[];
  /**
   * Raw-article retention in days: items published before the retention cutoff (the start of
   * the UTC day `retentionDays` before the database's now()) are not stored, so a prune is
   * never undone by the next fetch of a feed that still lists old items.
   */
  retentionDays?: number;
}

export interface PersistInput extends StoreInput {
  articles: readonly PreparedArticle[];
}

export interface IngestInput<T extends ArticleKeys> extends StoreInput {
  /** Candidates, unique within the document (see keyItems). */
  items: readonly T[];
  /** Scores and matches a batch of new items: one article per item, in order. Called only for items whose keys were claimed. */
  prepare: (batch: readonly T[]) => readonly PreparedArticle[];
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
/**
 * Articles per pipeline step: batch i is written while batch i+1 is scored. Small enough that
 * the first write starts early, large enough that a statement's round trip is noise.
 */
const PIPELINE_BATCH = 1_000;
const HOUR_MS = 3_600_000;

function chunks<T>(rows: readonly T[], size = BATCH): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

function byUrlKey(a: ArticleKeys, b: ArticleKeys): number {
  const x = a.urlKey ?? '';
  const y = b.urlKey ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Claims the deduplication keys of one batch in article_key: a key already taken (same source
 * + external id, or same url_key from any source) skips its item. Each claimed key gets the
 * id of the article about to be inserted.
 */
async function claimKeys(tx: EntityManager, sourceId: string, batch: readonly ArticleKeys[]) {
  const column = <T>(pick: (a: ArticleKeys) => T) => batch.map(pick);
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

export interface Link {
  article_id: number;
  entity_id: number;
  published_at: Date;
  sentiment: number;
}

/** The entity links of freshly inserted articles (an entity without its own score gets the article's). */
export function linksOf(rows: readonly { id: string; article: PreparedArticle }[]): Link[] {
  const links: Link[] = [];
  for (const { id, article } of rows) {
    for (const entityId of article.entityIds) {
      links.push({ article_id: Number(id), entity_id: entityId, published_at: article.publishedAt, sentiment: article.entitySentiment.get(entityId) ?? article.sentiment });
    }
  }
  return links;
}

/**
 * Inserts the articles whose keys this transaction claimed, with the claimed ids, and their
 * entity links, in one statement (one round trip): neither can conflict, so no ON CONFLICT
 * (speculative insertion costs). The links' foreign key is checked at the end of the
 * statement, when the articles written by the CTE are visible.
 */
async function insertArticles(tx: EntityManager, input: StoreInput, batch: readonly { id: string; article: PreparedArticle }[], links: readonly Link[]): Promise<void> {
  const column = <T>(pick: (a: PreparedArticle) => T) => batch.map((b) => pick(b.article));
  await raw`
    with inserted as (
      insert into article (id, source_id, external_id, url, url_key, title, summary, author, language, published_at, fetched_at, sentiment, scorer)
      select u.id, ${input.sourceId}, u.external_id, u.url, u.url_key, u.title, u.summary, u.author, u.language, u.published_at,
             ${input.fetchedAt.toISOString()}::timestamptz, u.sentiment, ${input.scorerId}
        from unnest(${batch.map((b) => b.id)}::bigint[], ${column((a) => a.externalId)}::text[], ${column((a) => a.url)}::text[], ${column((a) => a.urlKey)}::text[],
                    ${column((a) => a.title)}::text[], ${column((a) => a.summary)}::text[], ${column((a) => a.author)}::text[],
                    ${column((a) => a.language)}::text[], ${column((a) => a.publishedAt.toISOString())}::timestamptz[],
                    ${column((a) => a.sentiment)}::float8[])
          as u(id, external_id, url, url_key, title, summary, author, language, published_at, sentiment)
    )
    insert into article_entity (article_id, entity_id, published_at, sentiment, scorer)
    select *, ${input.scorerId}::text from unnest(${links.map((l) => l.article_id)}::bigint[], ${links.map((l) => l.entity_id)}::int[],
                         ${links.map((l) => l.published_at.toISOString())}::timestamptz[], ${links.map((l) => l.sentiment)}::float8[])`.execute(sql(tx));
}

/** Lets a statement just started reach the socket before the caller goes back to CPU work. */
const yieldToIo = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Writes one fetch's already scored articles (see ingestItems) inside the caller's transaction.
 */
export function persistItems(tx: EntityManager, input: PersistInput): Promise<PersistResult> {
  return ingestItems(tx, { ...input, items: input.articles, prepare: (batch) => batch });
}

/**
 * Writes one fetch's results inside the caller's transaction: new articles, their entity
 * links, trend observations and links, and a dirty mark for every (entity, hour) they
 * touch. All dedup keys are claimed first, in url_key order, so concurrent fetches lock in one
 * order and only new items are scored; then scoring batch i+1 overlaps writing batch i (the
 * database works while this process scores), still in the one transaction.
 */
export async function ingestItems<T extends ArticleKeys>(tx: EntityManager, input: IngestInput<T>): Promise<PersistResult> {
  const db = sql(tx);
  // The database's clock, like prune's: every worker agrees on what is too old to store.
  const cutoff = input.retentionDays === undefined ? null : await articleRetentionCutoff(db, input.retentionDays);
  const fresh = cutoff === null ? input.items : input.items.filter((a) => a.publishedAt >= cutoff);
  const byExternalId = new Map(fresh.map((a) => [a.externalId, a]));
  const claimed: { id: string; item: T }[] = [];
  for (const batch of chunks([...fresh].sort(byUrlKey))) {
    for (const row of await claimKeys(tx, input.sourceId, batch)) claimed.push({ id: row.article_id, item: byExternalId.get(row.external_id)! });
  }
  if (claimed.length > 0) await ensureMonths(tx, claimed.map((c) => c.item.publishedAt));

  const links: Link[] = [];
  let writing: Promise<void> = Promise.resolve();
  try {
    for (const batch of chunks(claimed, PIPELINE_BATCH)) {
      const prepared = input.prepare(batch.map((c) => c.item));
      if (prepared.length !== batch.length) throw new Error(`persist ${input.sourceId}: prepare returned ${prepared.length} articles for ${batch.length} items`);
      const rows = batch.map((c, i) => ({ id: c.id, article: prepared[i]! }));
      const batchLinks = linksOf(rows);
      for (const l of batchLinks) links.push(l);
      await writing;
      writing = insertArticles(tx, input, rows, batchLinks);
      // Marked handled now: it may fail while the next batch is scored; the await below rethrows.
      writing.catch(() => {});
      await yieldToIo();
    }
    await writing;
  } finally {
    // Never leave a statement running on the transaction's connection behind a thrown error.
    await writing.catch(() => {});
  }
  const inserted = claimed.length;

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
    tooOld: input.items.length - fresh.length,
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
