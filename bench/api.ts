/**
 * Read API at size, each endpoint beside the bare SQL query it runs, in the same run, the two
 * interleaved so machine noise hits both alike:
 *  (a) GET /api/v1/entities/:slug/sentiment, 90 days of hourly buckets (2,160 rows);
 *  (b) GET /api/v1/entities/:slug/articles?bucket=… (one hour's articles, newest first);
 * with BENCH_API_ARTICLES (default 5,000,000) articles over 90 days across 100 entities.
 * Goal: endpoint within 1.5x of the bare query, p95 under 50 ms. The endpoint is measured over
 * real HTTP on 127.0.0.1 (fastify, validation, JSON), the bare query through one pg client.
 * Run: node bench/api.ts. Creates a throwaway database and drops it (BENCH_KEEP_DB=1 keeps it).
 */
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { ensureDatabase, migrate } from '../src/db/migrate.ts';
import { openOrm } from '../src/db/orm.ts';
import { createLogger } from '../src/logger.ts';
import { buildApi } from '../src/api/server.ts';
import { openReadOrm } from '../src/api/read.ts';
import { DAY_MS, HOUR_MS, hourOf } from '../src/rollup/buckets.ts';
import { benchNamespace, dropDatabase } from './support.ts';

const ARTICLES = Number(process.env.BENCH_API_ARTICLES ?? 5_000_000);
const ENTITIES = 100;
const DAYS = 90;
const ROUNDS = Number(process.env.BENCH_API_ROUNDS ?? 200);

const now = hourOf(new Date());
const from = new Date(now.getTime() - DAYS * DAY_MS);
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? NaN;
const f = (n: number) => `${n.toFixed(2)} ms`;

async function seed(client: pg.Client): Promise<void> {
  const t0 = performance.now();
  await client.query(`insert into source (id, kind, url) values ('bench', 'feed', 'http://127.0.0.1/feed')`);
  await client.query(`insert into entity (slug, name) select 'e-' || g, 'Entity ' || g from generate_series(1, ${ENTITIES}) g`);
  // Articles spread evenly over the 90 days; each mentions one entity (round robin).
  await client.query(
    `insert into article (id, source_id, external_id, url, url_key, title, published_at, fetched_at, sentiment, scorer)
     select g, 'bench', 'x' || g, 'https://news.example.org/' || g, 'news.example.org/' || g, 'Headline number ' || g,
            $1::timestamptz + (g * ($2::bigint / $3::bigint)) * interval '1 millisecond', now(), ((g * 7919) % 2001 - 1000) / 1000.0, 'bench'
     from generate_series(1, $3::bigint) g`,
    [from, DAYS * DAY_MS, ARTICLES],
  );
  await client.query(`select setval(pg_get_serial_sequence('article', 'id'), $1)`, [ARTICLES]);
  const entityIds = (await client.query<{ id: number }>('select id from entity order by id')).rows.map((r) => r.id);
  await client.query(
    `insert into article_entity (article_id, entity_id, published_at, sentiment)
     select a.id, ($1::int[])[(a.id % ${ENTITIES}) + 1], a.published_at, a.sentiment from article a`,
    [entityIds],
  );
  const aggs = `count(*)::int, sum(sentiment), sum(sentiment * sentiment), min(sentiment), max(sentiment), avg(sentiment), stddev_samp(sentiment),
    (count(*) filter (where sentiment > 0.05))::int, (count(*) filter (where sentiment between -0.05 and 0.05))::int, (count(*) filter (where sentiment < -0.05))::int, 0, now()`;
  for (const g of ['hour', 'day']) {
    await client.query(
      `insert into sentiment_rollup (entity_id, granularity, bucket_start, article_count, sentiment_sum, sentiment_sumsq, sentiment_min, sentiment_max,
         sentiment_mean, sentiment_stddev, positive_count, neutral_count, negative_count, trend_mentions, updated_at)
       select entity_id, '${g}', date_trunc('${g}', published_at, 'UTC'), ${aggs} from article_entity group by 1, 3`,
    );
  }
  await client.query('vacuum analyze');
  console.log(`seeded ${ARTICLES.toLocaleString('en')} articles, ${ENTITIES} entities, hourly+daily rollups in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

interface Pair {
  name: string;
  endpoint: () => Promise<unknown>;
  bare: () => Promise<unknown>;
}

async function measure(pair: Pair): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await pair.endpoint();
    await pair.bare();
  }
  const e: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    let t = performance.now();
    await pair.endpoint();
    e.push(performance.now() - t);
    t = performance.now();
    await pair.bare();
    b.push(performance.now() - t);
  }
  const [e50, e95, b50, b95] = [quantile(e, 0.5), quantile(e, 0.95), quantile(b, 0.5), quantile(b, 0.95)];
  console.log(`${pair.name}`);
  console.log(`  endpoint  p50 ${f(e50)}  p95 ${f(e95)}   (goal p95 < 50 ms: ${e95 < 50 ? 'met' : 'MISSED'})`);
  console.log(`  bare SQL  p50 ${f(b50)}  p95 ${f(b95)}`);
  console.log(`  ratio     p50 ${(e50 / b50).toFixed(2)}x  p95 ${(e95 / b95).toFixed(2)}x   (goal <= 1.5x: ${e50 / b50 <= 1.5 ? 'met' : 'MISSED'} at p50)`);
}

const ns = benchNamespace('api');
await ensureDatabase(ns.dbUrl);
const migrator = await openOrm(ns.dbUrl);
await migrate(migrator);
await migrator.close(true);
const client = new pg.Client({ connectionString: ns.dbUrl });
await client.connect();
const orm = await openReadOrm(ns.dbUrl, 4);
try {
  await seed(client);
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

  const series = (await get(`/api/v1/entities/e-50/sentiment?granularity=hour&from=${from.toISOString()}&to=${now.toISOString()}`)) as { buckets: unknown[] };
  const bucket = new Date(now.getTime() - 30 * DAY_MS + 7 * HOUR_MS);
  const page = (await get(`/api/v1/entities/e-50/articles?bucket=${bucket.toISOString()}&granularity=hour&limit=50`)) as { articles: unknown[] };
  console.log(`series: ${series.buckets.length} hourly buckets; bucket articles: ${page.articles.length} rows in one hour`);

  await measure({
    name: `series, 90 days hourly (${series.buckets.length} buckets)`,
    endpoint: () => get(`/api/v1/entities/e-50/sentiment?granularity=hour&from=${from.toISOString()}&to=${now.toISOString()}`),
    bare: () =>
      client.query(
        `select bucket_start, article_count, sentiment_sum, sentiment_sumsq, sentiment_min, sentiment_max, sentiment_mean, sentiment_stddev,
                positive_count, neutral_count, negative_count, trend_mentions, updated_at
         from sentiment_rollup where entity_id = $1 and granularity = 'hour' and bucket_start >= $2 and bucket_start < $3 order by bucket_start`,
        [entityId, from, now],
      ),
  });
  await measure({
    name: `bucket articles, one hour (${page.articles.length} articles)`,
    endpoint: () => get(`/api/v1/entities/e-50/articles?bucket=${bucket.toISOString()}&granularity=hour&limit=50`),
    bare: () =>
      client.query(
        `select a.id, ae.published_at, a.title, a.url, a.source_id, ae.sentiment
         from article_entity ae join article a on a.id = ae.article_id and a.published_at = ae.published_at
         where ae.entity_id = $1 and ae.published_at >= $2 and ae.published_at < $3
         order by ae.published_at desc, ae.article_id desc limit 51`,
        [entityId, bucket, new Date(bucket.getTime() + HOUR_MS)],
      ),
  });
  await app.close();
} finally {
  await orm.close(true);
  await client.end();
  if (!process.env.BENCH_KEEP_DB) await dropDatabase(ns.dbName);
}
