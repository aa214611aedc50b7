/**
 * Rollup benchmarks at the size issue 17 speaks of, each figure printed beside its same-run baseline:
 *  (a) incremental refresh after 1,000 new articles with 10k and with BENCH_BIG (default 5M)
 *      articles of history (target: big / 10k <= 1.2x: refresh cost follows what changed, not
 *      history), new articles in the last 24 hours and inside the history's populated hours,
 *      each with delta marks (what ingest writes) and recompute marks (the path before
 *      deltas). The two histories live in two databases and all rounds alternate, so noise
 *      from anything else on the machine hits every variant alike;
 *  (b) full rebuild of the big history (BENCH_REBUILD, default BENCH_BIG) beside a bare
 *      INSERT ... SELECT ... GROUP BY of the same hour and day buckets (target <= 1.3x).
 *
 * The honest bare GROUP BY. Both sides write the same rows into the same, empty
 * sentiment_rollup table, so the baseline pays for the same three indexes (primary key, the
 * read API's covering sentiment_rollup_series_index, nothing else): a baseline into an
 * index-free table would charge the rebuild for the read path's index, one into the real table
 * charges both alike. The baseline is what one would write by hand without incrementality,
 * chunking or locking, and without rebuild's exactness care, in two variants, each run in the
 * same rounds: "scan" groups article_entity twice (hours, then days straight from the
 * articles), "hours" groups article_entity into hours once and the days from those hours
 * (textbook sumsq stddev). The goal ratio divides by the FASTER of the two, so neither a slow
 * baseline nor the choice of one flatters the rebuild.
 *
 * 5M is the default although seeding it takes minutes (about 4-8 min on the shared 2-core
 * machine): below a few million rows sentiment_rollup and its indexes fit in shared_buffers
 * and the refresh ratio flatters. BENCH_BIG=1000000 gives a quick run.
 * Run: node bench/rollup.ts (BENCH_PG_URL overrides postgres://postgres@127.0.0.1:5432).
 * BENCH_ROUNDS (default 7) refresh rounds per variant.
 * Creates throwaway databases and drops them at the end (BENCH_KEEP_DB=1 keeps them).
 * BENCH_BIG_DB=name reuses a big database kept by an earlier run (its history is not re-seeded;
 * its rollups and marks are rebuilt from scratch), for iterating on the statements.
 * BENCH_ROLLUP_INDEXES=covering|pk-include|no-covering (an experiment, default covering = the
 * migrated schema) lays sentiment_rollup's indexes out differently in both databases:
 * pk-include makes the primary key itself the covering index (one index instead of two),
 * no-covering drops the covering index and sets fillfactor 90 so merges can be HOT updates.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ensureDatabase, migrate } from '../src/db/migrate.ts';
import { openOrm, type Orm } from '../src/db/orm.ts';
import { ensurePartitions } from '../src/db/partitions.ts';
import { sql } from '../src/db/sql.ts';
import { refreshDirty } from '../src/rollup/refresh.ts';
import { rebuildRange } from '../src/rollup/rebuild.ts';
import { DAY_MS, HOUR_MS, hourOf } from '../src/rollup/buckets.ts';
import { hourDeltas, MARK_DELTAS_SQL, markDeltaParams } from '../src/rollup/delta.ts';
import { BENCH_STEM, PG_URL, sized } from './support.ts';

const ENTITIES = 200;
const HISTORY_DAYS = 90;
const NEW_ARTICLES = 1_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? sized(7, 1));
/** Articles of the small history the big one is compared with. */
const SMALL = sized(10_000, 1_000);
/** Articles of the big history (BENCH_BIG, default 5M) and of the rebuild measured on the way (BENCH_REBUILD, default the same). */
const BIG = Number(process.env.BENCH_BIG ?? sized(5_000_000, 2_000));
const REBUILD_SIZE = Math.min(BIG, Number(process.env.BENCH_REBUILD ?? BIG));
const REUSE_BIG = process.env.BENCH_BIG_DB;
const LAYOUTS = ['covering', 'pk-include', 'no-covering'] as const;
type Layout = (typeof LAYOUTS)[number];
const LAYOUT = (process.env.BENCH_ROLLUP_INDEXES ?? 'covering') as Layout;
if (!LAYOUTS.includes(LAYOUT)) throw new Error(`bench: BENCH_ROLLUP_INDEXES must be one of ${LAYOUTS.join(', ')}, got ${LAYOUT}`);
const INCLUDE = `(article_count, sentiment_sum, sentiment_sumsq, sentiment_min, sentiment_max, sentiment_mean, sentiment_stddev,
  positive_count, neutral_count, negative_count, trend_mentions, updated_at)`;

/** Puts sentiment_rollup's indexes in `layout`, from whichever layout a kept database was left in. */
async function layIndexes(client: pg.Client, layout: Layout): Promise<void> {
  const { rows } = await client.query<{ included: boolean }>(
    `select indnkeyatts < indnatts as included from pg_index where indexrelid = 'sentiment_rollup_pkey'::regclass`,
  );
  const wantInclude = layout === 'pk-include';
  if ((rows[0]?.included ?? false) !== wantInclude) {
    await client.query(`create unique index sentiment_rollup_pkey_next on sentiment_rollup (entity_id, granularity, bucket_start)${wantInclude ? ` include ${INCLUDE}` : ''}`);
    await client.query(`alter table sentiment_rollup drop constraint sentiment_rollup_pkey, add constraint sentiment_rollup_pkey primary key using index sentiment_rollup_pkey_next`);
  }
  if (layout === 'covering') {
    await client.query(`create index if not exists sentiment_rollup_series_index on sentiment_rollup (entity_id, granularity, bucket_start) include ${INCLUDE}`);
  } else await client.query(`drop index if exists sentiment_rollup_series_index`);
  await client.query(`alter table sentiment_rollup set (fillfactor = ${layout === 'no-covering' ? 90 : 100})`);
}
/** Rounds of the rebuild and of each bare baseline (BENCH_REBUILD_ROUNDS, default 2). */
const REBUILD_ROUNDS = Number(process.env.BENCH_REBUILD_ROUNDS ?? sized(2, 1));
const label = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);
const BIG_LABEL = label(BIG);
const REBUILD_LABEL = label(REBUILD_SIZE);

const now = hourOf(new Date());
const historyStart = new Date(now.getTime() - HISTORY_DAYS * DAY_MS);
// History ends a day before now; new articles arrive in the last 24 hours.
const historyEnd = new Date(now.getTime() - DAY_MS);

const ms = (t0: number) => performance.now() - t0;
const fmt = (n: number) => `${n.toFixed(0)} ms`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const AGGS = `count(*)::int, sum(sentiment), sum(sentiment * sentiment), min(sentiment), max(sentiment), avg(sentiment), stddev_samp(sentiment),
  (count(*) filter (where sentiment > 0.05))::int, (count(*) filter (where sentiment between -0.05 and 0.05))::int,
  (count(*) filter (where sentiment < -0.05))::int, 0, now()`;
const COLS = `(entity_id, granularity, bucket_start, article_count, sentiment_sum, sentiment_sumsq, sentiment_min, sentiment_max,
  sentiment_mean, sentiment_stddev, positive_count, neutral_count, negative_count, trend_mentions, updated_at)`;
// The baseline: what one would write by hand with no incrementality, chunking or locking.
const BARE_HOURS = `insert into sentiment_rollup ${COLS}
  select entity_id, 'hour', date_trunc('hour', published_at, 'UTC'), ${AGGS} from article_entity group by 1, 3`;
const BARE_DAYS = `insert into sentiment_rollup ${COLS}
  select entity_id, 'day', date_trunc('day', published_at, 'UTC'), ${AGGS} from article_entity group by 1, 3`;
// Days from the hours just written, as a hand-written two-level rollup would (textbook stddev from sumsq).
const BARE_DAYS_FROM_HOURS = `insert into sentiment_rollup ${COLS}
  select entity_id, 'day', date_trunc('day', bucket_start, 'UTC'), sum(article_count)::int, sum(sentiment_sum), sum(sentiment_sumsq),
         min(sentiment_min), max(sentiment_max), sum(sentiment_sum) / sum(article_count),
         case when sum(article_count) > 1 then sqrt(greatest(0, (sum(sentiment_sumsq) - sum(sentiment_sum) ^ 2 / sum(article_count)) / (sum(article_count) - 1))) end,
         sum(positive_count)::int, sum(neutral_count)::int, sum(negative_count)::int, 0, now()
    from sentiment_rollup where granularity = 'hour' group by 1, 3`;

interface BenchDb {
  name: string;
  orm: Orm;
  client: pg.Client;
  articles: number;
  batches: number;
  /** Reused (BENCH_BIG_DB): never dropped. */
  kept: boolean;
}

async function openBenchDb(label: string, reuse?: string): Promise<BenchDb> {
  const name = reuse ?? `${BENCH_STEM}_rollup_${label}_${randomBytes(3).toString('hex')}`;
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  const orm = await openOrm(url.toString());
  await migrate(orm);
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  if (reuse) {
    // A kept database: its articles stay; rollups and marks start from scratch as in a fresh run.
    const { rows } = await client.query<{ n: string }>(`select count(*)::text as n from article`);
    await client.query('truncate sentiment_rollup, rollup_dirty');
    // New batches get external ids no earlier run used.
    return { name, orm, client, articles: Number(rows[0]?.n ?? 0), batches: Math.floor(Date.now() / 1000), kept: true };
  }
  await client.query(`insert into source (id, kind) values ('bench', 'feed')`);
  await client.query(`insert into entity (slug, name) select 'e' || g, 'Entity ' || g from generate_series(1, $1::int) g`, [ENTITIES]);
  // Month partitions for the whole window (ingest makes them on demand; the bench writes directly).
  for (const table of ['article', 'article_entity'] as const) await ensurePartitions(sql(orm.em.fork()), table, historyStart, new Date(now.getTime() + 2 * DAY_MS));
  return { name, orm, client, articles: 0, batches: 0, kept: false };
}

async function dropBenchDb(db: BenchDb): Promise<void> {
  await db.client.end();
  await db.orm.close(true);
  if (process.env.BENCH_KEEP_DB === '1' || db.kept) {
    console.log(`kept database ${db.name}`);
    return;
  }
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`drop database if exists ${pg.escapeIdentifier(db.name)} with (force)`);
  await admin.end();
}

/** After a bulk load: statistics, visibility map, a checkpoint; timings then measure the statements, not the catch-up. */
async function settle(db: BenchDb): Promise<void> {
  await db.client.query('vacuum analyze');
  await db.client.query('checkpoint');
}

/**
 * History over [historyStart, historyEnd), 1-2 entities per article, inserted roughly in
 * publication order (+-1 hour of jitter) as ingest writes it. Each call lays another layer over
 * the same window: the history gets denser, not longer. Returns the generation time.
 */
async function addHistory(db: BenchDb, count: number): Promise<number> {
  const t0 = performance.now();
  const { client } = db;
  await client.query(`select setseed(0.42)`);
  const { rows } = await client.query<{ max: string | null }>(`select max(id)::text as max from article`);
  await client.query(
    `insert into article (source_id, external_id, title, published_at, fetched_at, sentiment, scorer)
     select 'bench', 'h' || g, 'history ' || g,
            least($4::timestamptz - interval '1 ms', greatest($3::timestamptz,
              $3::timestamptz + (g - $1::bigint)::float8 / ($2::bigint - $1::bigint + 1) * ($4::timestamptz - $3::timestamptz)
              + (random() - 0.5) * interval '2 hours')), now(),
            round((random() * 2 - 1)::numeric, 4)::float8, 'bench'
       from generate_series($1::bigint, $2::bigint) g`,
    [db.articles + 1, db.articles + count, historyStart.toISOString(), historyEnd.toISOString()],
  );
  await client.query(
    `insert into article_entity (article_id, entity_id, published_at, sentiment, scorer)
     select a.id, x.e, a.published_at, a.sentiment, a.scorer
       from article a
      cross join lateral (select 1 + (a.id * 7919 % $2)::int as e
                          union select 1 + (a.id * 104729 % $2)::int where a.id % 2 = 0) x
      where a.id > $1::bigint`,
    [rows[0]?.max ?? '0', ENTITIES],
  );
  db.articles += count;
  const took = ms(t0);
  await settle(db);
  return took;
}

type Bare = 'scan' | 'hours';
async function bareRollups(db: BenchDb, variant: Bare = 'scan'): Promise<number> {
  const t0 = performance.now();
  await db.client.query(BARE_HOURS);
  await db.client.query(variant === 'scan' ? BARE_DAYS : BARE_DAYS_FROM_HOURS);
  return ms(t0);
}

/** How the new articles are marked: as ingest does now (deltas), or for recomputation (the path before deltas, and rescore's). */
type MarkKind = 'delta' | 'recompute';
/** Where the new articles land: the last 24 hours (after the history), or hours inside the history that already hold articles. */
type Window = 'recent' | 'history';

/** What ingest does for a fetch: 1,000 new articles and their marks, in one transaction. */
async function ingestNew(db: BenchDb, kind: MarkKind, window: Window): Promise<number> {
  const { client } = db;
  db.batches += 1;
  const [from, span] = window === 'recent' ? [historyEnd, DAY_MS] : [historyStart, historyEnd.getTime() - historyStart.getTime()];
  await client.query('begin');
  const { rows } = await client.query<{ id: string }>(
    `insert into article (source_id, external_id, title, published_at, fetched_at, sentiment, scorer)
     select 'bench', 'n' || $1::int || '-' || g, 'new', $3::timestamptz + random() * $4::float8 * interval '1 ms', now(),
            round((random() * 2 - 1)::numeric, 4)::float8, 'bench'
       from generate_series(1, $2::int) g
     returning id`,
    [db.batches, NEW_ARTICLES, from.toISOString(), span],
  );
  const ids = rows.map((r) => r.id);
  const links = await client.query<{ entity_id: number; published_at: Date; sentiment: number }>(
    `insert into article_entity (article_id, entity_id, published_at, sentiment, scorer)
     select a.id, 1 + (random() * ($2::int - 1))::int, a.published_at, a.sentiment, a.scorer from article a where a.id = any($1::bigint[])
     returning entity_id, published_at, sentiment`,
    [ids, ENTITIES],
  );
  let marked: number;
  if (kind === 'delta') {
    // Exactly what persist.ts writes (rollup/delta.ts).
    const deltas = hourDeltas(links.rows.map((l) => ({ entityId: l.entity_id, at: l.published_at, sentiment: l.sentiment })), []);
    await client.query(MARK_DELTAS_SQL, markDeltaParams(deltas));
    marked = deltas.length;
  } else {
    const r = await client.query(
      `insert into rollup_dirty (entity_id, hour_start)
       select distinct entity_id, date_trunc('hour', published_at, 'UTC') from article_entity where article_id = any($1::bigint[])
       on conflict (entity_id, hour_start) do update set marked_at = clock_timestamp(), recompute = true`,
      [ids],
    );
    marked = r.rowCount ?? 0;
  }
  await client.query('commit');
  return marked;
}

async function refreshOnce(db: BenchDb, kind: MarkKind, window: Window): Promise<{ ms: number; marks: number }> {
  const marks = await ingestNew(db, kind, window);
  const t0 = performance.now();
  const stats = await refreshDirty(db.orm.em.fork());
  const took = ms(t0);
  if (stats.marks !== marks) throw new Error(`bench: refresh consumed ${stats.marks} of ${marks} marks`);
  return { ms: took, marks };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const small = await openBenchDb('10k');
  const big = await openBenchDb('big', REUSE_BIG);
  try {
    await layIndexes(small.client, LAYOUT);
    await layIndexes(big.client, LAYOUT);
    console.log(`rollup bench (${ENTITIES} entities, history over ${HISTORY_DAYS} days, 1-2 entities per article, sentiment_rollup indexes: ${LAYOUT})`);
    console.log(`history ${label(SMALL)} generated in ${fmt(await addHistory(small, SMALL))}`);
    await bareRollups(small);
    await settle(small);
    if (big.kept) {
      if (big.articles < BIG) throw new Error(`bench: ${big.name} holds ${big.articles} articles, fewer than BENCH_BIG=${BIG}`);
      console.log(`history ${label(big.articles)} reused from ${big.name}`);
      await settle(big);
    } else console.log(`history ${REBUILD_LABEL} generated in ${fmt(await addHistory(big, REBUILD_SIZE))}`);
    const rebuildLabel = big.kept ? label(big.articles) : REBUILD_LABEL;

    // (b) the full rebuild beside the two bare baselines, all into an empty rollup table,
    // alternating so background noise hits each alike.
    await big.client.query(`select count(*) from article_entity`); // the same warm cache for all
    const runs: Record<'scan' | 'hours' | 'rebuild', number[]> = { scan: [], hours: [], rebuild: [] };
    const rows: Record<'scan' | 'hours' | 'rebuild', number> = { scan: 0, hours: 0, rebuild: 0 };
    let chunks = 0;
    // Every stored article, as the bare GROUP BY covers them (a reused database began its window earlier).
    const span = await big.client.query<{ first: Date; last: Date }>(`select min(published_at) as first, max(published_at) as last from article_entity`);
    const rebuildFrom = span.rows[0]?.first ?? historyStart;
    const rebuildTo = new Date((span.rows[0]?.last ?? now).getTime() + HOUR_MS);
    const count = async () => (await big.client.query<{ n: number }>(`select count(*)::int as n from sentiment_rollup`)).rows[0]?.n ?? 0;
    const fresh = async () => {
      await big.client.query('truncate sentiment_rollup');
      await big.client.query('checkpoint');
    };
    for (let round = 0; round < REBUILD_ROUNDS; round++) {
      for (const variant of ['scan', 'hours'] as const) {
        await fresh();
        runs[variant].push(await bareRollups(big, variant));
        rows[variant] = await count();
      }
      await fresh();
      const r0 = performance.now();
      const rebuilt = await rebuildRange(big.orm.em.fork(), { from: rebuildFrom, to: rebuildTo, retentionDays: 3650 });
      runs.rebuild.push(ms(r0));
      rows.rebuild = rebuilt.hours + rebuilt.days;
      chunks = rebuilt.chunks;
    }
    const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);
    const fastest = Math.min(sum(runs.scan), sum(runs.hours));
    console.log(`(b) full rebuild of ${rebuildLabel} articles (${REBUILD_ROUNDS} alternating rounds each)`);
    console.log(`  bare GROUP BY, hours + days from article_entity:   ${runs.scan.map(fmt).join(', ')} (${rows.scan} rows)`);
    console.log(`  bare GROUP BY, hours, then days from those hours:  ${runs.hours.map(fmt).join(', ')} (${rows.hours} rows)`);
    console.log(`  rebuildRange, ${chunks} one-day chunks:             ${runs.rebuild.map(fmt).join(', ')} (${rows.rebuild} rows)`);
    console.log(`  ratio rebuild / faster bare: ${(sum(runs.rebuild) / fastest).toFixed(2)}x (target <= 1.3x); per round ${runs.rebuild.map((r, i) => (r / Math.min(runs.scan[i] ?? NaN, runs.hours[i] ?? NaN)).toFixed(2)).join(', ')}`);
    if (rows.rebuild !== rows.scan || rows.hours !== rows.scan) throw new Error(`bench: the rebuild and the baselines wrote different row counts`);

    if (!big.kept && BIG > REBUILD_SIZE) console.log(`history ${BIG_LABEL} generated in ${fmt(await addHistory(big, BIG - REBUILD_SIZE))}`);
    const bigLabel = big.kept ? label(big.articles) : BIG_LABEL;
    await big.client.query('truncate sentiment_rollup');
    await bareRollups(big);
    await settle(big);

    // (a) alternate rounds between the two histories and the two mark kinds; round 0 warms up and is not counted.
    for (const window of ['recent', 'history'] as const) {
      const times: Record<string, number[]> = {};
      let dirty = 0;
      for (let round = 0; round <= ROUNDS; round++) {
        for (const kind of ['delta', 'recompute'] as const) {
          for (const [label, db] of [['small', small], ['big', big]] as const) {
            const r = await refreshOnce(db, kind, window);
            dirty = r.marks;
            if (round > 0) (times[`${kind}/${label}`] ??= []).push(r.ms);
          }
        }
      }
      const where = window === 'recent' ? 'the last 24 hours (hours filled by earlier rounds)' : 'hours inside the history (already holding articles)';
      console.log(`(a) incremental refresh after ${NEW_ARTICLES} new articles in ${where}, median of ${ROUNDS} alternating rounds, ~${dirty} dirty hours each`);
      for (const kind of ['delta', 'recompute'] as const) {
        const [s, b] = [median(times[`${kind}/small`] ?? []), median(times[`${kind}/big`] ?? [])];
        console.log(`  ${kind} marks: ${label(SMALL)} history ${fmt(s)}, ${bigLabel} history ${fmt(b)}; ratio ${(b / s).toFixed(2)}x${kind === 'delta' ? ' (target <= 1.2x)' : ' (the path before deltas)'}`);
        console.log(`    runs ${label(SMALL)} ${(times[`${kind}/small`] ?? []).map(fmt).join(', ')}; ${bigLabel} ${(times[`${kind}/big`] ?? []).map(fmt).join(', ')}`);
      }
    }
    console.log(`total ${fmt(ms(t0))}`);
  } finally {
    // A kept database goes back to the migrated layout, so the next run starts from the schema.
    if (big.kept || process.env.BENCH_KEEP_DB === '1') await layIndexes(big.client, 'covering');
    if (process.env.BENCH_KEEP_DB === '1') await layIndexes(small.client, 'covering');
    await dropBenchDb(small);
    await dropBenchDb(big);
  }
}

await main();
