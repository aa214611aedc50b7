/** The endpoints under /api/v1. Each is one `route()`: schemas in, a small handler, CSV where a table makes sense. */
import type { EntityManager } from '../db/orm.ts';
import { objectsToCsv } from './csv.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { articleRange, bucketRows, fillGaps, RangeError400, seriesRange } from './range.ts';
import { findEntities, listEntities, type EntityLookup, readArticles, readJobRuns, readSeries, readSources, readTrends, type EntityRef } from './read.ts';
import { BadRequest, NotFound, route, type Route } from './route.ts';
import * as s from './schemas.ts';

export const API_PREFIX = '/api/v1';

async function entityOr404(input: { em: EntityManager; entities: EntityLookup }, slug: string): Promise<EntityRef> {
  const entity = await input.entities.find(input.em, slug);
  if (!entity) throw new NotFound(`no entity "${slug}"`);
  return entity;
}

function range<T>(compute: () => T): T {
  try {
    return compute();
  } catch (err) {
    if (err instanceof RangeError400) throw new BadRequest(err.message);
    throw err;
  }
}

const entities = route({
  path: `${API_PREFIX}/entities`,
  tag: 'entities',
  summary: 'Tracked entities with their latest hourly and daily figures',
  query: s.formatQuery,
  response: s.entityList,
  async handler({ em }) {
    const rows = await listEntities(em);
    return { entities: rows.map(({ id: _id, ...rest }) => rest) };
  },
  csv: (body) =>
    objectsToCsv(
      ['slug', 'name', 'category', 'enabled', 'hour_start', 'hour_mean', 'hour_count', 'day_start', 'day_mean', 'day_count'],
      body.entities.map((e) => ({
        slug: e.slug,
        name: e.name,
        category: e.category,
        enabled: e.enabled,
        hour_start: e.latest_hour?.bucket_start ?? null,
        hour_mean: e.latest_hour?.sentiment_mean ?? null,
        hour_count: e.latest_hour?.article_count ?? null,
        day_start: e.latest_day?.bucket_start ?? null,
        day_mean: e.latest_day?.sentiment_mean ?? null,
        day_count: e.latest_day?.article_count ?? null,
      })),
    ),
});

const entity = route({
  path: `${API_PREFIX}/entities/:slug`,
  tag: 'entities',
  summary: 'One entity with its latest hourly and daily figures',
  params: s.slugParams,
  query: s.formatQuery,
  response: s.entitySummary,
  async handler({ em, entities, params }) {
    const found = await entityOr404({ em, entities }, params.slug);
    const [row] = await listEntities(em, found.id);
    const { id: _id, ...rest } = row!;
    return rest;
  },
});

const sentiment = route({
  path: `${API_PREFIX}/entities/:slug/sentiment`,
  tag: 'sentiment',
  summary: 'Sentiment series of one entity: every rollup column, one array per column (columnar), oldest bucket first',
  description: 'Buckets overlapping [from, to), columnar: `buckets.bucket_start[i]`, `buckets.sentiment_mean[i]`, ... describe bucket i. `gaps=omit` (default) returns only buckets with articles; `gaps=empty` returns every bucket, empty ones with article_count 0 and null statistics. CSV is one row per bucket.',
  params: s.slugParams,
  query: s.seriesQuery,
  response: s.series,
  async handler({ em, entities, params, query, now }) {
    const found = await entityOr404({ em, entities }, params.slug);
    const { from, to } = range(() => seriesRange(query, now));
    const rows = await readSeries(em, found.id, query.granularity, from, to);
    return {
      entity: { slug: found.slug, name: found.name },
      granularity: query.granularity,
      from: from.toISOString(),
      to: to.toISOString(),
      gaps: query.gaps,
      buckets: query.gaps === 'empty' ? fillGaps(rows, from, to, query.granularity) : rows,
    };
  },
  csv: (body) => objectsToCsv(s.BUCKET_COLUMNS, bucketRows(body.buckets)),
});

const articles = route({
  path: `${API_PREFIX}/entities/:slug/articles`,
  tag: 'articles',
  summary: 'Articles behind a bucket or a range for one entity, newest first, keyset-paginated',
  params: s.slugParams,
  query: s.articlesQuery,
  response: s.articlePage,
  async handler({ em, listings, entities, params, query, now }) {
    const found = await entityOr404({ em, entities }, params.slug);
    const { from, to } = range(() => articleRange(query, now));
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    if (query.cursor !== undefined && !after) throw new BadRequest('cursor: not a cursor from this API (use next_cursor of the previous page)');
    // One row more than asked tells whether there is a next page.
    const rows = await readArticles(listings, found.id, from, to, query.limit + 1, after);
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      entity: { slug: found.slug, name: found.name },
      from: from.toISOString(),
      to: to.toISOString(),
      articles: page,
      next_cursor: rows.length > query.limit && last ? encodeCursor({ publishedAt: new Date(last.published_at), id: last.id }) : null,
    };
  },
  csv: (body) => objectsToCsv(['published_at', 'sentiment', 'source_id', 'title', 'url', 'id'], body.articles),
});

const compare = route({
  path: `${API_PREFIX}/compare`,
  tag: 'sentiment',
  summary: "Several entities' series side by side (same range and granularity)",
  query: s.compareQuery,
  response: s.comparison,
  async handler({ em, query, now }) {
    const found = await findEntities(em, query.entities);
    const missing = query.entities.filter((slug) => !found.some((e) => e.slug === slug));
    if (missing.length) throw new NotFound(`no entity ${missing.map((m) => `"${m}"`).join(', ')}`);
    const { from, to } = range(() => seriesRange(query, now));
    const ordered = query.entities.map((slug) => found.find((e) => e.slug === slug)!);
    const series = await Promise.all(
      ordered.map(async (e) => {
        const rows = await readSeries(em, e.id, query.granularity, from, to);
        return { entity: { slug: e.slug, name: e.name }, buckets: query.gaps === 'empty' ? fillGaps(rows, from, to, query.granularity) : rows };
      }),
    );
    return { granularity: query.granularity, from: from.toISOString(), to: to.toISOString(), gaps: query.gaps, series };
  },
  // Long format: one row per (entity, bucket), which every spreadsheet pivots.
  csv: (body) => objectsToCsv(['entity', ...s.BUCKET_COLUMNS], body.series.flatMap((x) => bucketRows(x.buckets).map((b) => ({ entity: x.entity.slug, ...b })))),
});

const trends = route({
  path: `${API_PREFIX}/trends`,
  tag: 'trends',
  summary: 'Latest trend observations, optionally only those matched to one entity',
  query: s.trendsQuery,
  response: s.trendList,
  async handler({ em, entities, query }) {
    const entityId = query.entity === undefined ? undefined : (await entityOr404({ em, entities }, query.entity)).id;
    return { trends: await readTrends(em, query.limit, entityId) };
  },
  csv: (body) => objectsToCsv(['observed_at', 'source_id', 'rank', 'title', 'url', 'score', 'key', 'id'], body.trends),
});

const sources = route({
  path: `${API_PREFIX}/sources`,
  tag: 'operations',
  summary: 'Sources with their fetch state: failures, backoff, last success, last error',
  query: s.formatQuery,
  response: s.sourceList,
  async handler({ em }) {
    return { sources: await readSources(em) };
  },
  csv: (body) =>
    objectsToCsv(['id', 'kind', 'enabled', 'last_success_at', 'last_fetched_at', 'consecutive_failures', 'backoff_until', 'last_error', 'url', 'query'], body.sources),
});

const jobRuns = route({
  path: `${API_PREFIX}/job-runs`,
  tag: 'operations',
  summary: 'Recent job runs, newest first',
  query: s.jobRunsQuery,
  response: s.jobRunList,
  async handler({ em, query }) {
    return { job_runs: await readJobRuns(em, query) };
  },
  csv: (body) => objectsToCsv(['id', 'queue', 'job_name', 'job_id', 'source_id', 'attempt', 'status', 'started_at', 'finished_at', 'duration_ms', 'error', 'stats'], body.job_runs),
});

export const ROUTES: readonly Route[] = [entities, entity, sentiment, articles, compare, trends, sources, jobRuns] as readonly Route[];
