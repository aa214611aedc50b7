/**
 * Read API at size, each endpoint beside the bare SQL query it runs, in the same run, the two
 * interleaved so machine noise hits both alike:
 *  (a) GET /api/v1/entities/:slug/sentiment, 90 days of hourly buckets (2,160 rows);
 *  (b) GET /api/v1/entities/:slug/articles?bucket=… (one hour's articles, newest first);
 *  (c) a week's articles, page 3 by keyset cursor;
 *  (d) GET /api/v1/compare, three entities' 90-day hourly series (the bare side: the same three
 *      queries concurrently on three connections, as the endpoint runs them on its pool);
 * with BENCH_API_ARTICLES (default 5,000,000) articles over 90 days across 100 entities.
 * Goal: endpoint within 1.5x of the bare query, p95 under 50 ms. The endpoint is measured over
 * real HTTP on 127.0.0.1 (fastify, validation, JSON), the bare query through one pg client.
 * Run: node bench/api.ts. Creates a throwaway database and drops it (BENCH_KEEP_DB=1 keeps it).
 * BENCH_API_DB=name uses (and keeps) that database: seeded once, reused while its seed matches
 * BENCH_API_ARTICLES (seeding 5M takes minutes; pending migrations are still applied).
 */
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { ensureDatabase, migrate } from '../src/db/migrate.ts';
import { openOrm } from '../src/db/orm.ts';
import { ensurePartitions } from '../src/db/partitions.ts';
import { sql } from '../src/db/sql.ts';
import { createLogger } from '../src/logger.ts';
import { buildApi } from '../src/api/server.ts';
import { openReadOrm, readSeries } from '../src/api/read.ts';
import { DAY_MS, HOUR_MS, hourOf } from '../src/rollup/buckets.ts';
import { benchNamespace, dropDatabase, PG_URL, sized } from './support.ts';

// Smoke size still gives an entity's week three pages of 50 (the keyset page-3 case).
const ARTICLES = Number(process.env.BENCH_API_ARTICLES ?? sized(5_000_000, 200_000));
const ENTITIES = 100;
const DAYS = 90;
const ROUNDS = Number(process.env.BENCH_API_ROUNDS ?? sized(200, 3));

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? NaN;
const f = (n: number) => `${n.toFixed(2)} ms`;

/** The window a seed covers; stored with it so a kept database is queried where its data is. */
interface Seed {
  from: Date;
  to: Date;
}

async function seededWindow(client: pg.Client): Promise<Seed | null> {
  const { rows } = await client.query<{ articles: string; from_at: Date; to_at: Date }>(
    `select articles, from_at, to_at from bench_api_seed where to_regclass('bench_api_seed') is not null`,
  ).catch(() => ({ rows: [] as { articles: string; from_at: Date; to_at: Date }[] }));
  const row = rows[0];
  return row && Number(row.articles) === ARTICLES ? { from: row.from_at, to: row.to_at } : null;
}

/**
 * All rows from generate_series in a few INSERT ... SELECT statements (no app round trips).
 * article_entity's secondary indexes are built after its rows: one sort instead of 5M inserts
 * into a b-tree.
 */
async function seed(client: pg.Client, window: Seed): Promise<void> {
  const t0 = performance.now();
  const step = (label: string) => console.log(`  seed: ${label} at ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  await client.query(`insert into source (id, kind, url) values ('bench', 'feed', 'http://127.0.0.1/feed')`);
  await client.query(`insert into entity (slug, name) select 'e-' || g, 'Entity ' || g from generate_series(1, ${ENTITIES}) g`);
  const spanMs = window.to.getTime() - window.from.getTime();
  // Articles spread evenly over the window; each mentions one entity (round robin).
  // Secondary indexes of the two big tables, dropped for the load and rebuilt from their own definitions.
  const { rows: indexes } = await client.query<{ name: string; def: string }>(
    `select indexname as name, indexdef as def from pg_indexes
      where tablename in ('article', 'article_entity') and schemaname = current_schema() and indexdef not like '%UNIQUE%'`,
  );
  // Foreign-key triggers off for the load (superuser; this session only): every key is made consistent by construction.
  await client.query(`set session_replication_role = replica`);
  for (const ix of indexes) await client.query(`drop index ${pg.escapeIdentifier(ix.name)}`);
  const publishedAt = `$1::timestamptz + (g * ($2::bigint / $3::bigint)) * interval '1 millisecond'`;
  await client.query(
    `insert into article (id, source_id, external_id, url, url_key, title, published_at, fetched_at, sentiment, scorer)
     select g, 'bench', 'x' || g, 'https://news.example.org/' || g, 'news.example.org/' || g, 'Headline number ' || g,
            ${publishedAt}, now(), ((g * 7919) % 2001 - 1000) / 1000.0, 'bench'
     from generate_series(1, $3::bigint) g`,
    [window.from, spanMs, ARTICLES],
  );
  step('articles');
  await client.query(`select setval(pg_get_serial_sequence('article', 'id'), $1)`, [ARTICLES]);
  const entityIds = (await client.query<{ id: number }>('select id from entity order by id')).rows.map((r) => r.id);
  await client.query(
    `insert into article_entity (article_id, entity_id, published_at, sentiment, scorer)
     select g, ($4::int[])[(g % ${ENTITIES}) + 1], ${publishedAt}, ((g * 7919) % 2001 - 1000) / 1000.0, 'bench'
     from generate_series(1, $3::bigint) g`,
    [window.from, spanMs, ARTICLES, entityIds],
  );
  step('article_entity');
  await client.query(`set session_replication_role = origin`);
  // pg_indexes gives a partitioned index as "ON ONLY parent" (no partitions, INVALID): build it through.
  for (const ix of indexes) await client.query(ix.def.replace(/ ON ONLY /, " ON "));
  step(`indexes (${indexes.map((ix) => ix.name).join(', ')})`);
  const aggs = `count(*)::int, sum(sentiment), sum(sentiment * sentiment), min(sentiment), max(sentiment), avg(sentiment), stddev_samp(sentiment),
    (count(*) filter (where sentiment > 0.05))::int, (count(*) filter (where sentiment between -0.05 and 0.05))::int, (count(*) filter (where sentiment < -0.05))::int, 0, now()`;
  for (const g of ['hour', 'day']) {
    await client.query(
      `insert into sentiment_rollup (entity_id, granularity, bucket_start, article_count, sentiment_sum, sentiment_sumsq, sentiment_min, sentiment_max,
         sentiment_mean, sentiment_stddev, positive_count, neutral_count, negative_count, trend_mentions, updated_at)
       select entity_id, '${g}', date_trunc('${g}', published_at, 'UTC'), ${aggs} from article_entity group by 1, 3`,
    );
  }
  step('rollups');
  await client.query('vacuum analyze');
  await client.query('create table bench_api_seed (articles bigint not null, from_at timestamptz not null, to_at timestamptz not null)');
  await client.query('insert into bench_api_seed values ($1, $2, $3)', [ARTICLES, window.from, window.to]);
  console.log(`seeded ${ARTICLES.toLocaleString('en')} articles, ${ENTITIES} entities, hourly+daily rollups in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

interface Pair {
  name: string;
  endpoint: () => Promise<unknown>;
  bare: () => Promise<unknown>;
  /** The bare query as the endpoint runs it (a named statement with a generic plan), for reference. */
  prepared?: () => Promise<unknown>;
}

async function measure(pair: Pair): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await pair.endpoint();
    await pair.bare();
    await pair.prepared?.();
  }
  const e: number[] = [];
  const b: number[] = [];
  const p: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    let t = performance.now();
    await pair.endpoint();
    e.push(performance.now() - t);
    t = performance.now();
    await pair.bare();
    b.push(performance.now() - t);
    if (!pair.prepared) continue;
    t = performance.now();
    await pair.prepared();
    p.push(performance.now() - t);
  }
  const [e50, e95, b50, b95] = [quantile(e, 0.5), quantile(e, 0.95), quantile(b, 0.5), quantile(b, 0.95)];
  console.log(`${pair.name}`);
  console.log(`  endpoint  p50 ${f(e50)}  p95 ${f(e95)}   (goal p95 < 50 ms: ${e95 < 50 ? 'met' : 'MISSED'})`);
  console.log(`  bare SQL  p50 ${f(b50)}  p95 ${f(b95)}`);
  if (p.length) console.log(`  bare SQL as the endpoint runs it (named, generic plan): p50 ${f(quantile(p, 0.5))}  p95 ${f(quantile(p, 0.95))}`);
  console.log(`  ratio     p50 ${(e50 / b50).toFixed(2)}x  p95 ${(e95 / b95).toFixed(2)}x   (goal <= 1.5x: ${e50 / b50 <= 1.5 ? 'met' : 'MISSED'} at p50)`);
}

const named = process.env.BENCH_API_DB;
const ns = named ? { dbName: named, dbUrl: Object.assign(new URL(PG_URL), { pathname: `/${named}` }).toString() } : benchNamespace('api');
const keep = Boolean(named || process.env.BENCH_KEEP_DB);
await ensureDatabase(ns.dbUrl);
const client = new pg.Client({ connectionString: ns.dbUrl });
await client.connect();
let window = await seededWindow(client);
{
  const migrator = await openOrm(ns.dbUrl);
  await migrate(migrator);
  if (!window) {
    const to = hourOf(new Date());
    window = { from: new Date(to.getTime() - DAYS * DAY_MS), to };
    const em = migrator.em.fork();
    for (const table of ['article', 'article_entity'] as const) await ensurePartitions(sql(em), table, window.from, new Date(window.to.getTime() + DAY_MS));
  }
  await migrator.close(true);
}
const orm = await openReadOrm(ns.dbUrl, 4);
const cleanup: (() => Promise<unknown>)[] = [];
try {
  if (await seededWindow(client)) console.log(`reusing ${ns.dbName}: seeded with ${ARTICLES.toLocaleString('en')} articles over ${window.from.toISOString()} .. ${window.to.toISOString()}`);
  else await seed(client, window);
  const { from, to: now } = window;
  const config = loadConfig({ DATABASE_URL: ns.dbUrl, LOG_LEVEL: 'silent', API_RATE_LIMIT: '1000000000' }, { readSources: false });
  const { app } = await buildApi(config, orm, createLogger('silent'));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const entityId = (await client.query<{ id: number }>(`select id from entity where slug = 'e-50'`)).rows[0]!.id;
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  };
  // What is timed: the whole body received (the server's work and the transfer); parsing the
  // JSON is the client's business, as the bare query's rows are decoded by pg either way.
  const receive = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return res.arrayBuffer();
  };
  /** The bare query's plan, as EXPLAIN ANALYZE prints its scan nodes and timing. */
  const explain = async (text: string, values: unknown[]) => {
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${text}`, values);
    for (const { 'QUERY PLAN': line } of rows) if (/Scan|Limit|Execution Time|Sort Method/.test(line) && !/never executed/.test(line)) console.log(`    plan: ${line.trim()}`);
  };

  const series = (await get(`/api/v1/entities/e-50/sentiment?granularity=hour&from=${from.toISOString()}&to=${now.toISOString()}`)) as { buckets: { bucket_start: string[] } };
  const bucket = new Date(now.getTime() - 30 * DAY_MS + 7 * HOUR_MS);
  const page = (await get(`/api/v1/entities/e-50/articles?bucket=${bucket.toISOString()}&granularity=hour&limit=50`)) as { articles: unknown[] };
  console.log(`series: ${series.buckets.bucket_start.length} hourly buckets; bucket articles: ${page.articles.length} rows in one hour`);

  const seriesSql = `select bucket_start, article_count, sentiment_sum, sentiment_sumsq, sentiment_min, sentiment_max, sentiment_mean, sentiment_stddev,
                positive_count, neutral_count, negative_count, trend_mentions, updated_at
         from sentiment_rollup where entity_id = $1 and granularity = 'hour' and bucket_start >= $2 and bucket_start < $3 order by bucket_start`;
  // The page chosen from article_entity's index first, then joined: written as one join with the
  // LIMIT outside, Postgres joins every row of the range before sorting (3,800 for a week).
  const articlesSql = (keyset: boolean) => `select a.id, ae.published_at, a.title, a.url, a.source_id, ae.sentiment
         from (select article_id, published_at, sentiment from article_entity
                where entity_id = $1 and published_at >= $2 and published_at < $3 ${keyset ? 'and (published_at, article_id) < ($4, $5)' : ''}
                order by published_at desc, article_id desc limit 51) ae
         join article a on a.id = ae.article_id and a.published_at = ae.published_at
         order by ae.published_at desc, ae.article_id desc`;
  // A week's listing, page 3: the keyset cursor of page 2's last row, taken from the API itself.
  const weekFrom = new Date(now.getTime() - 7 * DAY_MS);
  const weekPath = `/api/v1/entities/e-50/articles?from=${weekFrom.toISOString()}&to=${now.toISOString()}&limit=50`;
  const page2 = (await get(`${weekPath}&cursor=${(await get(weekPath) as { next_cursor: string }).next_cursor}`)) as { next_cursor: string; articles: { id: number; published_at: string }[] };
  const last = page2.articles.at(-1)!;

  // The listings run as named statements with a generic plan (openListingPool): this client runs
  // the bare query that way too, printed beside the plain bare query the goal is measured against.
  const genericClient = new pg.Client({ connectionString: ns.dbUrl, options: '-c plan_cache_mode=force_generic_plan' });
  await genericClient.connect();
  cleanup.push(() => genericClient.end());
  const compareIds = (await client.query<{ id: number }>(`select id from entity where slug in ('e-50', 'e-51', 'e-52') order by slug`)).rows.map((r) => r.id);
  const compareClients = compareIds.map(() => new pg.Client({ connectionString: ns.dbUrl }));
  for (const c of compareClients) await c.connect();
  cleanup.push(() => Promise.all(compareClients.map((c) => c.end())));

  const pairs: (Pair & { sql: string; values: unknown[] })[] = [
    {
      name: `series, 90 days hourly (${series.buckets.bucket_start.length} buckets)`,
      endpoint: () => receive(`/api/v1/entities/e-50/sentiment?granularity=hour&from=${from.toISOString()}&to=${now.toISOString()}`),
      sql: seriesSql,
      values: [entityId, from, now],
      bare: () => client.query(seriesSql, [entityId, from, now]),
    },
    {
      name: `bucket articles, one hour (${page.articles.length} articles)`,
      endpoint: () => receive(`/api/v1/entities/e-50/articles?bucket=${bucket.toISOString()}&granularity=hour&limit=50`),
      sql: articlesSql(false),
      values: [entityId, bucket, new Date(bucket.getTime() + HOUR_MS)],
      bare: () => client.query(articlesSql(false), [entityId, bucket, new Date(bucket.getTime() + HOUR_MS)]),
      prepared: () => genericClient.query({ name: 'bench_articles', text: articlesSql(false), values: [entityId, bucket, new Date(bucket.getTime() + HOUR_MS)] }),
    },
    {
      name: 'articles of a week, page 3 by keyset cursor (50 articles)',
      endpoint: () => receive(`${weekPath}&cursor=${page2.next_cursor}`),
      sql: articlesSql(true),
      values: [entityId, weekFrom, now, new Date(last.published_at), last.id],
      bare: () => client.query(articlesSql(true), [entityId, weekFrom, now, new Date(last.published_at), last.id]),
      prepared: () => genericClient.query({ name: 'bench_articles_after', text: articlesSql(true), values: [entityId, weekFrom, now, new Date(last.published_at), last.id] }),
    },
    {
      name: `compare, 3 entities, 90 days hourly (3 x ${series.buckets.bucket_start.length} buckets)`,
      endpoint: () => receive(`/api/v1/compare?entities=e-50,e-51,e-52&granularity=hour&from=${from.toISOString()}&to=${now.toISOString()}`),
      sql: seriesSql,
      values: [entityId, from, now],
      // The same query per entity, concurrently on three connections: as the endpoint reads them
      // (Promise.all over its pool), so neither side gains from parallelism the other lacks.
      bare: () => Promise.all(compareIds.map((id, i) => compareClients[i]!.query(seriesSql, [id, from, now]))),
    },
  ];
  // The HTTP floor on this machine: an endpoint can not cost less than a request that does nothing.
  const floor: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await receive('/healthz');
    floor.push(performance.now() - t);
  }
  console.log(`HTTP floor (GET /healthz, no DB): p50 ${f(quantile(floor, 0.5))}  p95 ${f(quantile(floor, 0.95))}`);
  for (const pair of pairs) {
    await measure(pair);
    await explain(pair.sql, pair.values);
  }

  // Where the series endpoint's time goes beyond the query: its read in-process (the columns as
  // the handler gets them), JSON.stringify of the body, and the rest (HTTP, routing, transfer of
  // the body), each interleaved with the bare query.
  const parts: Record<'bare' | 'read' | 'stringify', number[]> = { bare: [], read: [], stringify: [] };
  let bytes = 0;
  for (let i = 0; i < ROUNDS; i++) {
    let t = performance.now();
    await client.query(seriesSql, [entityId, from, now]);
    parts.bare.push(performance.now() - t);
    t = performance.now();
    const buckets = await readSeries(orm.em.fork(), entityId, 'hour', from, now);
    parts.read.push(performance.now() - t);
    t = performance.now();
    bytes = JSON.stringify({ entity: { slug: 'e-50', name: 'Entity 50' }, granularity: 'hour', from: from.toISOString(), to: now.toISOString(), gaps: 'omit', buckets }).length;
    parts.stringify.push(performance.now() - t);
  }
  const n = series.buckets.bucket_start.length;
  console.log(
    `series parts, p50: bare SQL ${f(quantile(parts.bare, 0.5))}, readSeries ${f(quantile(parts.read, 0.5))}, JSON.stringify ${f(quantile(parts.stringify, 0.5))}; body ${(bytes / 1024).toFixed(0)} KB (${(bytes / n).toFixed(0)} bytes per bucket)`,
  );
  await app.close();
} finally {
  for (const done of cleanup) await done();
  await orm.close(true);
  await client.end();
  if (keep) console.log(`kept database ${ns.dbName}`);
  else await dropDatabase(ns.dbName);
}
