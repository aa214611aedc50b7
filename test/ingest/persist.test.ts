import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestItems, persistItems, type PersistResult } from '../../src/ingest/persist.ts';
import { keyItems, type KeyedItem, type PreparedArticle } from '../../src/ingest/prepare.ts';
import type { ParsedItem } from '../../src/sources/types.ts';
import { createEntities, createRollupDatabase, SOURCE_ID } from '../rollup/seed.ts';

let db: Awaited<ReturnType<typeof createRollupDatabase>>;
let entities: number[];

beforeAll(async () => {
  db = await createRollupDatabase('ingest_persist', 'UTC');
  entities = await createEntities(db.pool, 3);
  await db.pool.query(`insert into source (id, kind, url) values ('other-source', 'feed', 'http://localhost/other')`);
});
afterAll(async () => {
  await db?.drop();
});

const HOUR_MS = 3_600_000;
const NOW = Date.now();

function items(n: number, prefix: string, host = 'news.example.org'): ParsedItem[] {
  return Array.from({ length: n }, (_, i) => ({
    externalId: `${prefix}-${i}`,
    url: `https://${host}/${prefix}/${i}`,
    title: `Headline ${prefix} ${i}`,
    summary: i % 3 === 0 ? null : `Summary ${i}`,
    author: null,
    language: 'en',
    publishedAt: new Date(NOW - (i % 100) * HOUR_MS - 1000),
    dateFallback: false,
  }));
}

/** A stand-in scorer: deterministic per item, links entities by position, one entity with its own score. */
function prepareFake(batch: readonly KeyedItem[]): PreparedArticle[] {
  return batch.map(({ item, urlKey }) => {
    const sentiment = (Number(item.externalId.split('-').at(-1)) % 9) / 10 - 0.4;
    const entityIds = entities.slice(0, 1 + (item.title.length % entities.length));
    return {
      externalId: item.externalId,
      url: item.url,
      urlKey,
      title: item.title,
      summary: item.summary,
      author: item.author,
      language: item.language,
      publishedAt: item.publishedAt,
      sentiment,
      entityIds,
      entitySentiment: new Map([[entityIds[0]!, -sentiment]]),
    };
  });
}

const ingest = (keyed: readonly KeyedItem[], prepare: (batch: readonly KeyedItem[]) => readonly PreparedArticle[], sourceId = SOURCE_ID): Promise<PersistResult> =>
  db.rollupOrm.em.fork().transactional((tx) => ingestItems(tx, { sourceId, fetchedAt: new Date(NOW), scorerId: 'test', items: keyed, prepare, trends: [] }));

const rowsOf = async (sourceId: string) =>
  (
    await db.pool.query<{ external_id: string; title: string; summary: string | null; sentiment: number; links: string }>(
      `select a.external_id, a.title, a.summary, a.sentiment,
              coalesce(string_agg(ae.entity_id || ':' || ae.sentiment || ':' || (ae.published_at = a.published_at), ',' order by ae.entity_id), '') as links
         from article a left join article_entity ae on ae.article_id = a.id
        where a.source_id = $1 group by a.id, a.published_at order by a.external_id`,
      [sourceId],
    )
  ).rows;

describe('keyItems', () => {
  it('keeps the first occurrence of an external id or a URL and counts the rest as repeated', () => {
    const [a, b, c] = items(3, 'k');
    const keyed = keyItems([a!, { ...b!, externalId: a!.externalId }, { ...c!, url: `${a!.url}?utm_source=rss` }, c!]);
    expect(keyed.items.map((k) => k.item)).toEqual([a, c]);
    expect(keyed.repeated).toBe(2);
    expect(keyed.items[0]!.urlKey).not.toBeNull();
  });
});

describe('ingestItems', () => {
  it('scores only the items whose keys it claims, in batches, and stores them with their links', async () => {
    const all = keyItems(items(2_500, 'new')).items;
    const stored = await ingest(all.slice(0, 500), prepareFake);
    expect(stored.inserted).toBe(500);

    const seen: string[][] = [];
    const result = await ingest(all, (batch) => {
      seen.push(batch.map((k) => k.externalId));
      return prepareFake(batch);
    });
    expect(result).toMatchObject({ inserted: 2_000, duplicates: 500, tooOld: 0 });
    const scored = seen.flat();
    expect(scored.sort()).toEqual(all.slice(500).map((k) => k.externalId).sort());
    expect(seen.length).toBeGreaterThan(1);
    expect(Math.max(...seen.map((b) => b.length))).toBeLessThanOrEqual(1_000);

    const rows = await rowsOf(SOURCE_ID);
    expect(rows.filter((r) => r.external_id.startsWith('new-'))).toHaveLength(2_500);
    const links = await db.pool.query<{ n: number }>(`select count(*)::int as n from article_entity ae join article a on a.id = ae.article_id where a.external_id like 'new-%'`);
    const expected = prepareFake(all).reduce((n, a) => n + a.entityIds.length, 0);
    expect(links.rows[0]!.n).toBe(expected);
    expect(result.entityLinks + stored.entityLinks).toBe(expected);
  });

  it('stores exactly what the sequential path (score everything, then persistItems) stores', async () => {
    const seq = keyItems(items(1_700, 'same', 'seq.example.org')).items;
    const pipe = keyItems(items(1_700, 'same', 'pipe.example.org')).items;
    const sequential = await db.rollupOrm.em.fork().transactional((tx) =>
      persistItems(tx, { sourceId: 'other-source', fetchedAt: new Date(NOW), scorerId: 'test', articles: prepareFake(seq), trends: [] }),
    );
    const pipelined = await ingest(pipe, prepareFake);
    expect(pipelined).toEqual(sequential);
    const a = await rowsOf('other-source');
    const b = (await rowsOf(SOURCE_ID)).filter((r) => r.external_id.startsWith('same-'));
    expect(b).toHaveLength(1_700);
    expect(b).toEqual(a);
    // Entity-targeted scores reach the links; the rest carry the article's score.
    expect(b.some((r) => r.links.includes(`:${-r.sentiment}:true`))).toBe(true);
  });

  /** Articles and dedup keys stored whose external id starts with `prefix`. */
  async function storedWith(prefix: string): Promise<{ articles: number; keys: number }> {
    const { rows } = await db.pool.query<{ articles: number; keys: number }>(
      `select (select count(*)::int from article where external_id like $1) as articles, (select count(*)::int from article_key where external_id like $1) as keys`,
      [`${prefix}%`],
    );
    return rows[0]!;
  }

  it('writes nothing when scoring fails after an earlier batch was sent', async () => {
    const keyed = keyItems(items(2_500, 'boom')).items;
    let calls = 0;
    await expect(
      ingest(keyed, (batch) => {
        calls += 1;
        if (calls === 2) throw new Error('scorer exploded');
        return prepareFake(batch);
      }),
    ).rejects.toThrow('scorer exploded');
    expect(calls).toBe(2);
    expect(await storedWith('boom-')).toEqual({ articles: 0, keys: 0 });
  });

  it('fails the whole fetch when a batch write fails while the next batch is scored', async () => {
    const keyed = keyItems(items(2_500, 'bad')).items;
    let calls = 0;
    await expect(
      ingest(keyed, (batch) => {
        calls += 1;
        // Out of the sentiment CHECK range: the first batch's write is refused by the database.
        return prepareFake(batch).map((a) => (calls === 1 ? { ...a, sentiment: 7 } : a));
      }),
    ).rejects.toThrow(/check constraint/);
    expect(await storedWith('bad-')).toEqual({ articles: 0, keys: 0 });
  });

  it('keeps links tied to their articles through the month foreign keys: no orphan link, a deleted article takes its links', async () => {
    const [one] = keyItems(items(1, 'fk')).items;
    await ingest([one!], prepareFake);
    const { rows } = await db.pool.query<{ id: string; published_at: Date }>(`select id, published_at from article where external_id = 'fk-0'`);
    const article = rows[0]!;
    await expect(
      db.pool.query(`insert into article_entity (article_id, entity_id, published_at, sentiment, scorer) values ($1, $2, $3, 0, 'test')`, [
        -1,
        entities[0],
        article.published_at,
      ]),
    ).rejects.toThrow(/article_entity_\d{4}_\d{2}_article_foreign/);
    // A far month nobody made yet: persist makes both partitions and the key between them.
    const far = { ...items(1, 'fkfar')[0]!, publishedAt: new Date(Date.UTC(2031, 4, 17, 12)) };
    await ingest(keyItems([far]).items, prepareFake);
    await expect(
      db.pool.query(`insert into article_entity (article_id, entity_id, published_at, sentiment, scorer) values (-1, $1, '2031-05-20T00:00:00Z', 0, 'test')`, [entities[0]]),
    ).rejects.toThrow(/article_entity_2031_05_article_foreign/);
    await db.pool.query(`delete from article where external_id in ('fk-0', 'fkfar-0')`);
    const left = await db.pool.query<{ n: number }>(`select count(*)::int as n from article_entity where article_id = $1 or published_at = $2`, [article.id, far.publishedAt]);
    expect(left.rows[0]!.n).toBe(0);
  });
});
