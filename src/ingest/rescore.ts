/**
 * Rescore: recompute stored sentiment with the current scorer, then rebuild the rollups it
 * touched, so history and new articles use one scorer and every row says which.
 *
 * Works in batches of articles in id order, each batch one transaction that rewrites the
 * articles' sentiment and scorer, their links' entity-targeted sentiment and scorer, and marks
 * the links' (entity, hour) buckets dirty. Only rows whose scorer differs from the current one
 * are picked, so a killed rescore leaves whole batches behind and simply runs again from where
 * it stopped; the dirty marks of finished batches make the next refresh exact even if the kill
 * came before the final rebuild. At the end, rebuildRange (src/rollup/rebuild.ts) recomputes
 * every hour and day between the oldest and newest rescored article, widened to the marked
 * hours still pending (so a resumed run also rebuilds what a killed run rescored).
 */
import { sql as raw } from 'kysely';
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import { rebuildRange, type RebuildStats } from '../rollup/rebuild.ts';
import { markDirty } from './persist.ts';
import { articleText, scoreArticle, type ArticleMatcher } from './prepare.ts';
import type { SentimentScorer } from './sentiment.ts';

export const RESCORE_BATCH = 500;

export interface RescoreOptions {
  scorer: SentimentScorer;
  matcher: ArticleMatcher;
  /** Only articles published in [from, to); all stored articles when absent. */
  from?: Date;
  to?: Date;
  batchSize?: number;
  retentionDays: number;
  now?: () => Date;
  signal?: AbortSignal;
  onProgress?: (progress: { phase: 'rescore' | 'rebuild'; done: number; total: number }) => void | Promise<void>;
}

export interface RescoreStats {
  scorer: string;
  /** Articles rescored by this run (a resumed run counts only its own). */
  articles: number;
  links: number;
  batches: number;
  /** Articles whose score changed. */
  changed: number;
  /** Previous scorer ids of the rescored articles, with counts. */
  previous: Record<string, number>;
  dirtyMarks: number;
  /** The rollup rebuild over the rescored articles' range; null when nothing was rescored. */
  rebuild: RebuildStats | null;
}

interface ArticleRow {
  id: string;
  title: string;
  summary: string | null;
  /** The driver may hand timestamptz over as text; read through `new Date()`. */
  published_at: Date | string;
  sentiment: number;
  scorer: string;
}

export async function rescoreArticles(em: EntityManager, options: RescoreOptions): Promise<RescoreStats> {
  const { scorer, matcher, from, to } = options;
  if (from && to && !(from.getTime() < to.getTime())) throw new RangeError(`rescore: "from" (${from.toISOString()}) must be before "to" (${to.toISOString()})`);
  const batchSize = options.batchSize ?? RESCORE_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`rescore: batch size must be a positive integer, got ${batchSize}`);
  // The articles still to rescore: a different scorer, in the range.
  const pending = raw`a.scorer <> ${scorer.id}::text
    and (${from?.toISOString() ?? null}::timestamptz is null or a.published_at >= ${from?.toISOString() ?? null}::timestamptz)
    and (${to?.toISOString() ?? null}::timestamptz is null or a.published_at < ${to?.toISOString() ?? null}::timestamptz)`;
  const { rows: counted } = await raw<{ n: number }>`select count(*)::int as n from article a where ${pending}`.execute(sql(em.fork()));
  const total = counted[0]?.n ?? 0;
  const stats: RescoreStats = { scorer: scorer.id, articles: 0, links: 0, batches: 0, changed: 0, previous: {}, dirtyMarks: 0, rebuild: null };
  await options.onProgress?.({ phase: 'rescore', done: 0, total });

  let lastId = '0';
  let oldest: Date | null = null;
  let newest: Date | null = null;
  for (;;) {
    options.signal?.throwIfAborted();
    const batch = await em.fork().transactional(async (tx) => {
      const db = sql(tx);
      // SKIP LOCKED: a batch another rescore holds is left to it rather than waited on.
      const { rows } = await raw<ArticleRow>`
        select a.id::text as id, a.title, a.summary, a.published_at, a.sentiment, a.scorer
          from article a
         where ${pending} and a.id > ${lastId}::bigint
         order by a.id
         limit ${batchSize}
           for update skip locked`.execute(db);
      if (rows.length === 0) return null;
      const ids = rows.map((r) => r.id);
      const { rows: links } = await raw<{ article_id: string; entity_id: number }>`
        select article_id::text as article_id, entity_id from article_entity
         where article_id = any(${ids}::bigint[]) order by article_id, entity_id`.execute(db);
      const linksOf = new Map<string, number[]>();
      for (const l of links) {
        const key = String(l.article_id);
        const list = linksOf.get(key) ?? [];
        list.push(l.entity_id);
        linksOf.set(key, list);
      }
      const scores: number[] = [];
      const linkRows: { article_id: string; entity_id: number; sentiment: number; published_at: Date }[] = [];
      let changed = 0;
      for (const row of rows) {
        const scored = scoreArticle(articleText(row.title, row.summary), scorer, matcher);
        scores.push(scored.sentiment);
        if (scored.sentiment !== row.sentiment) changed++;
        // Links stay as stored (matching is not redone); an entity the text no longer mentions gets the article score.
        for (const entityId of linksOf.get(row.id) ?? []) {
          linkRows.push({ article_id: row.id, entity_id: entityId, sentiment: scored.entitySentiment.get(entityId) ?? scored.sentiment, published_at: new Date(row.published_at) });
        }
      }
      await raw`
        update article a set sentiment = u.sentiment, scorer = ${scorer.id}::text
          from unnest(${ids}::bigint[], ${scores}::float8[]) as u(id, sentiment)
         where a.id = u.id`.execute(db);
      if (linkRows.length > 0) {
        await raw`
          update article_entity ae set sentiment = u.sentiment, scorer = ${scorer.id}::text
            from unnest(${linkRows.map((l) => l.article_id)}::bigint[], ${linkRows.map((l) => l.entity_id)}::int[],
                        ${linkRows.map((l) => l.sentiment)}::float8[]) as u(article_id, entity_id, sentiment)
           where ae.article_id = u.article_id and ae.entity_id = u.entity_id`.execute(db);
      }
      const dirtyMarks = await markDirty(tx, linkRows.map((l) => ({ entityId: l.entity_id, at: l.published_at })));
      return { rows, links: linkRows.length, changed, dirtyMarks };
    });
    if (batch === null) break;
    stats.batches += 1;
    stats.articles += batch.rows.length;
    stats.links += batch.links;
    stats.changed += batch.changed;
    stats.dirtyMarks += batch.dirtyMarks;
    for (const row of batch.rows) {
      stats.previous[row.scorer] = (stats.previous[row.scorer] ?? 0) + 1;
      const published = new Date(row.published_at);
      if (oldest === null || published < oldest) oldest = published;
      if (newest === null || published > newest) newest = published;
    }
    lastId = batch.rows.at(-1)!.id;
    await options.onProgress?.({ phase: 'rescore', done: stats.articles, total: Math.max(total, stats.articles) });
  }

  if (oldest !== null && newest !== null) {
    // A run resumed after a kill also covers the batches the killed run committed: their dirty
    // marks are still there unless a refresh already recomputed those buckets.
    const { rows: marks } = await raw<{ first: Date | string | null; last: Date | string | null }>`
      select min(hour_start) as first, max(hour_start) as last from rollup_dirty`.execute(sql(em.fork()));
    const first = marks[0]?.first == null ? oldest : new Date(Math.min(oldest.getTime(), new Date(marks[0].first).getTime()));
    const last = marks[0]?.last == null ? newest : new Date(Math.max(newest.getTime(), new Date(marks[0].last).getTime()));
    stats.rebuild = await rebuildRange(em, {
      from: first,
      // Exclusive end: one millisecond past the newest article (or marked hour) still covers its hour.
      to: new Date(last.getTime() + 1),
      retentionDays: options.retentionDays,
      now: options.now,
      signal: options.signal,
      onProgress: (done, chunks) => options.onProgress?.({ phase: 'rebuild', done, total: chunks }),
    });
  }
  return stats;
}
