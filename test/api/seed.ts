/**
 * Read-side test data written the way ingest writes it (articles, article_entity copies and
 * dirty marks), then rolled up by the real refresh.
 */
import type pg from 'pg';
import type { Orm } from '../../src/db/orm.ts';
import { refreshDirty } from '../../src/rollup/refresh.ts';

export interface ApiArticle {
  id: string;
  title: string;
  publishedAt: string;
  sentiment: number;
  entities: string[];
  source?: string;
}

export async function seedEntities(pool: pg.Pool, slugs: readonly string[]): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const slug of slugs) {
    const { rows } = await pool.query<{ id: number }>(`insert into entity (slug, name) values ($1, $2) returning id`, [slug, slug[0]!.toUpperCase() + slug.slice(1)]);
    ids.set(slug, rows[0]!.id);
  }
  return ids;
}

export async function seedArticles(pool: pg.Pool, orm: Orm, entityIds: Map<string, number>, articles: readonly ApiArticle[]): Promise<void> {
  for (const a of articles) {
    const source = a.source ?? 'wire';
    await pool.query(`insert into source (id, kind, url) values ($1, 'feed', 'http://127.0.0.1/feed') on conflict do nothing`, [source]);
    const { rows } = await pool.query<{ id: string }>(
      `insert into article (source_id, external_id, url, url_key, title, published_at, fetched_at, sentiment, scorer)
       values ($1, $2, $3, $3, $4, $5, now(), $6, 'test') returning id`,
      [source, a.id, `https://news.example.org/${a.id}`, a.title, a.publishedAt, a.sentiment],
    );
    for (const slug of a.entities) {
      const entityId = entityIds.get(slug)!;
      await pool.query(`insert into article_entity (article_id, entity_id, published_at, sentiment, scorer) values ($1, $2, $3, $4, $5)`, [rows[0]!.id, entityId, a.publishedAt, a.sentiment, 'test']);
      await pool.query(`insert into rollup_dirty (entity_id, hour_start) values ($1, date_trunc('hour', $2::timestamptz, 'UTC')) on conflict do nothing`, [entityId, a.publishedAt]);
    }
  }
  await refreshDirty(orm.em.fork(), { retentionDays: 100_000 });
}
