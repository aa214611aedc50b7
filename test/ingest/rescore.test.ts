import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileMatcher } from '../../src/ingest/match.ts';
import { persistItems } from '../../src/ingest/persist.ts';
import { articleText, prepareArticles, scoreArticle } from '../../src/ingest/prepare.ts';
import { rescoreArticles } from '../../src/ingest/rescore.ts';
import { createNewsScorer, createNewsScorerV1 } from '../../src/ingest/sentiment.ts';
import { refreshDirty } from '../../src/rollup/refresh.ts';
import { expectRollupsEqualOracle } from '../rollup/oracle.ts';
import { createRollupDatabase, SOURCE_ID } from '../rollup/seed.ts';

let db: Awaited<ReturnType<typeof createRollupDatabase>>;
const em = () => db.rollupOrm.em.fork();
const NOW = new Date('2026-11-22T12:00:00Z');
const HOUR = 3_600_000;
const v1 = createNewsScorerV1();
const v2 = createNewsScorer();
let entityIds: { tesla: number; ford: number; fed: number };

const HEADLINES: [title: string, summary: string | null][] = [
  ['Tesla beats Ford as EV sales slump', null],
  ['Unemployment drops to record low, Fed says', null],
  ['Ford avoids strike', 'Tesla shares fall after delivery miss'],
  ['Tesla wins appeal, faces no fine', null],
  ['Fed chair says economy is doing fine', 'Ford recalls 300,000 trucks'],
];

/** 60 articles over the last 10 days, stored as vader-news@1 wrote them (links carry the article score). */
async function seedV1(): Promise<void> {
  const titles: string[] = [];
  const summaries: (string | null)[] = [];
  const published: string[] = [];
  for (let i = 0; i < 60; i++) {
    const [title, summary] = HEADLINES[i % HEADLINES.length]!;
    titles.push(`${title} (${i})`);
    summaries.push(summary);
    published.push(new Date(NOW.getTime() - (i * 4 + 1) * HOUR).toISOString());
  }
  const sentiments = titles.map((t, i) => v1.score(summaries[i] ? `${t}\n${summaries[i]}` : t));
  const { rows } = await db.pool.query<{ id: string; title: string; published_at: Date; sentiment: number }>(
    `insert into article (source_id, external_id, title, summary, published_at, fetched_at, sentiment, scorer)
     select $1, 'x' || ord, t, s, p, now(), v, 'vader-news@1'
       from unnest($2::text[], $3::text[], $4::timestamptz[], $5::float8[]) with ordinality as u(t, s, p, v, ord)
     returning id, title, published_at, sentiment`,
    [SOURCE_ID, titles, summaries, published, sentiments],
  );
  const matcher = matcherOf();
  for (const row of rows) {
    const ids = matcher.match(`${row.title} ${summaries[titles.indexOf(row.title)] ?? ''}`);
    for (const id of ids) {
      await db.pool.query(
        `insert into article_entity (article_id, entity_id, published_at, sentiment, scorer) values ($1, $2, $3, $4, 'vader-news@1')`,
        [row.id, id, row.published_at, row.sentiment],
      );
      await db.pool.query(
        `insert into rollup_dirty (entity_id, hour_start) values ($1, date_trunc('hour', $2::timestamptz, 'UTC')) on conflict do nothing`,
        [id, row.published_at],
      );
    }
  }
}

function matcherOf() {
  return compileMatcher([
    { id: entityIds.tesla, slug: 'tesla', name: 'Tesla', aliases: [] },
    { id: entityIds.ford, slug: 'ford', name: 'Ford', aliases: [] },
    { id: entityIds.fed, slug: 'fed', name: 'Fed', aliases: ['Federal Reserve'] },
  ]);
}

beforeAll(async () => {
  db = await createRollupDatabase('rescore');
  const { rows } = await db.pool.query<{ id: number; slug: string }>(
    `insert into entity (slug, name) values ('tesla', 'Tesla'), ('ford', 'Ford'), ('fed', 'Fed') returning id, slug`,
  );
  const id = (slug: string) => rows.find((r) => r.slug === slug)!.id;
  entityIds = { tesla: id('tesla'), ford: id('ford'), fed: id('fed') };
  await seedV1();
  await refreshDirty(em());
});
afterAll(async () => {
  await db?.drop();
});

describe('rescore', () => {
  it('is killed mid-run without leaving half a batch, resumes, and leaves exact rollups and per-entity scores', async () => {
    const options = { scorer: v2, matcher: matcherOf(), batchSize: 7, retentionDays: 30, now: () => NOW };

    // First run: aborted after two batches (the worker's signal on shutdown or cancel).
    const controller = new AbortController();
    let batches = 0;
    await expect(
      rescoreArticles(em(), {
        ...options,
        signal: controller.signal,
        onProgress: ({ phase, done }) => {
          if (phase === 'rescore' && done > 0 && ++batches === 2) controller.abort(new Error('killed'));
        },
      }),
    ).rejects.toThrow('killed');
    const mixed = await db.pool.query<{ scorer: string; n: number }>(`select scorer, count(*)::int as n from article group by scorer order by scorer`);
    expect(mixed.rows).toEqual([
      { scorer: 'vader-news@1', n: 46 },
      { scorer: 'vader-news@2', n: 14 },
    ]);
    // A batch is one transaction: every link carries its article's scorer.
    const torn = await db.pool.query(`select 1 from article_entity ae join article a on a.id = ae.article_id where ae.scorer <> a.scorer`);
    expect(torn.rowCount).toBe(0);

    // Second run picks up the rest and rebuilds the rollups over the rescored range.
    const progress: string[] = [];
    const stats = await rescoreArticles(em(), { ...options, onProgress: ({ phase, done, total }) => void progress.push(`${phase} ${done}/${total}`) });
    expect(stats).toMatchObject({ scorer: 'vader-news@2', articles: 46, batches: 7, previous: { 'vader-news@1': 46 } });
    expect(stats.rebuild).not.toBeNull();
    expect(progress[0]).toBe('rescore 0/46');
    expect(progress).toContain('rescore 46/46');
    expect(progress.at(-1)).toMatch(/^rebuild (\d+)\/\1$/);

    const scorers = await db.pool.query(`select distinct a.scorer as a, ae.scorer as l from article a join article_entity ae on ae.article_id = a.id`);
    expect(scorers.rows).toEqual([{ a: 'vader-news@2', l: 'vader-news@2' }]);

    // Every stored score is what ingest would store now, link by link.
    const articles = await db.pool.query<{ id: string; title: string; summary: string | null; sentiment: number }>(`select id::text, title, summary, sentiment from article order by id`);
    const links = await db.pool.query<{ article_id: string; entity_id: number; sentiment: number }>(`select article_id::text, entity_id, sentiment from article_entity`);
    const matcher = matcherOf();
    for (const a of articles.rows) {
      const expected = scoreArticle(articleText(a.title, a.summary), v2, matcher);
      expect(a.sentiment, a.title).toBe(expected.sentiment);
      for (const l of links.rows.filter((x) => x.article_id === a.id)) expect(l.sentiment, `${a.title} / ${l.entity_id}`).toBe(expected.entitySentiment.get(l.entity_id));
    }
    // The mixed headline now counts differently for the two companies.
    const beats = await db.pool.query<{ entity_id: number; sentiment: number }>(
      `select ae.entity_id, ae.sentiment from article_entity ae join article a on a.id = ae.article_id where a.title = 'Tesla beats Ford as EV sales slump (0)'`,
    );
    const byEntity = new Map(beats.rows.map((r) => [r.entity_id, r.sentiment]));
    expect(byEntity.get(entityIds.tesla)).toBeGreaterThan(0.05);
    expect(byEntity.get(entityIds.ford)).toBeLessThan(-0.05);

    // Rollups equal a from-scratch aggregation of the rescored links.
    await expectRollupsEqualOracle(db.pool, 'after rescore');

    // Nothing left: a third run does nothing and rebuilds nothing.
    const again = await rescoreArticles(em(), options);
    expect(again).toMatchObject({ articles: 0, batches: 0, rebuild: null });
  });

  it('ingest stores the same entity-targeted link scores and the scorer on every link', async () => {
    const prepared = prepareArticles(
      [{ externalId: 'ingest-1', url: null, title: 'Tesla beats Ford as EV sales slump', summary: 'Tesla shares rise', author: null, language: 'en', publishedAt: new Date(NOW.getTime() - HOUR), dateFallback: false }],
      v2,
      matcherOf(),
    );
    await em().transactional((tx) => persistItems(tx, { sourceId: SOURCE_ID, fetchedAt: NOW, scorerId: v2.id, articles: prepared.articles, trends: [] }));
    const { rows } = await db.pool.query<{ entity_id: number; sentiment: number; scorer: string }>(
      `select ae.entity_id, ae.sentiment, ae.scorer from article_entity ae join article a on a.id = ae.article_id where a.external_id = 'ingest-1' order by ae.entity_id`,
    );
    const expected = scoreArticle(articleText('Tesla beats Ford as EV sales slump', 'Tesla shares rise'), v2, matcherOf());
    expect(rows).toEqual(
      [entityIds.tesla, entityIds.ford].sort((a, b) => a - b).map((id) => ({ entity_id: id, sentiment: expected.entitySentiment.get(id), scorer: 'vader-news@2' })),
    );
    expect(expected.entitySentiment.get(entityIds.tesla)).toBeGreaterThan(0.05);
    expect(expected.entitySentiment.get(entityIds.ford)).toBeLessThan(-0.05);
  });

  it('rejects a reversed range and a bad batch size', async () => {
    const base = { scorer: v2, matcher: matcherOf(), retentionDays: 30 };
    await expect(rescoreArticles(em(), { ...base, from: NOW, to: new Date(NOW.getTime() - HOUR) })).rejects.toThrow(/must be before/);
    await expect(rescoreArticles(em(), { ...base, batchSize: 0 })).rejects.toThrow(/positive integer/);
  });
});
