/**
 * Property-style: random sequences of ingests (late, out-of-order, duplicate, boundary-hugging
 * articles, marked as deltas or for recomputation; trend mentions; retractions), rebuilds, prunes and refreshes. After every refresh the rollup
 * table must equal the SQL oracle to 1e-9 (buckets before a prune cutoff must instead stay
 * exactly as they were). Replay a failure with ROLLUP_SEED=<seed>.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshDirty } from '../../src/rollup/refresh.ts';
import { rebuildRange } from '../../src/rollup/rebuild.ts';
import { pruneRaw } from '../../src/rollup/prune.ts';
import { DAY_MS, HOUR_MS, retentionCutoff } from '../../src/rollup/buckets.ts';
import { diffRollups, oracleRows, rollupRows } from './oracle.ts';
import { createEntities, createRollupDatabase, ingestArticles, ingestTrends, prng, retractArticles, type SeedArticle } from './seed.ts';

let db: Awaited<ReturnType<typeof createRollupDatabase>>;
let entities: number[];

beforeAll(async () => {
  db = await createRollupDatabase('rollup_property');
  entities = await createEntities(db.pool, 6);
});
afterAll(async () => {
  await db?.drop();
});

// The window spans the session zone's DST switch (St John's: UTC-2:30 -> -3:30 at 2026-11-01T04:30Z).
const BASE = Date.UTC(2026, 9, 28);
// Instants where a bucket computed in the session zone (or spanned with interval '1 day') goes wrong.
const SPECIAL_INSTANTS = ['2026-11-01T04:29:59.999Z', '2026-11-01T04:30:00Z', '2026-11-01T23:59:59.999Z', '2026-11-02T00:00:00Z', '2026-11-02T00:10:00Z', '2026-10-31T02:30:00Z'].map((t) => Date.parse(t));
const SPECIAL_SENTIMENTS = [0.05, -0.05, 0, 1, -1, 0.7, 0.0500000001, -0.0500000001];

const envSeed = process.env.ROLLUP_SEED ? Number(process.env.ROLLUP_SEED) : undefined;
const seeds = envSeed !== undefined ? [envSeed] : Array.from({ length: 12 }, (_, i) => (Date.now() + i * 7919) >>> 0);

describe('rollups equal the oracle after any sequence of ingests, prunes and refreshes', () => {
  it.each(seeds)('seed %i', async (seed) => {
    await db.pool.query('truncate article, article_key, trend, sentiment_rollup, rollup_dirty cascade');
    const rnd = prng(seed);
    const known: SeedArticle[] = [];
    let serial = 0;
    let floor = BASE; // after a prune, new data stays at or after the cutoff
    let frozen: { before: Date; now: Date; rows: Awaited<ReturnType<typeof rollupRows>> } | undefined;
    // After a prune, refresh runs with the same retention clock (as the job does with config).
    const refreshOptions = () => (frozen ? { retentionDays: 30, now: () => frozen!.now } : {});
    const [oneAnHour, constant] = entities;
    const log: string[] = [];

    const randomTime = (): number => {
      const span = 9 * DAY_MS;
      const kind = rnd.int(0, 9);
      const t = floor + Math.floor(rnd.next() * (BASE + span - floor));
      const day = Math.floor(t / DAY_MS) * DAY_MS;
      if (kind === 0) return day; // exactly UTC midnight
      if (kind === 1) return day - 1; // last ms of the previous day
      if (kind === 2) return Math.floor(t / HOUR_MS) * HOUR_MS + HOUR_MS - 1; // last ms of an hour
      if (kind === 3) return Math.max(floor, rnd.pick(SPECIAL_INSTANTS));
      return Math.max(floor, t);
    };
    const randomSentiment = (): number => (rnd.bool(0.25) ? rnd.pick(SPECIAL_SENTIMENTS) : Math.round((rnd.next() * 2 - 1) * 1e6) / 1e6);
    const entitySubset = (): number[] => Array.from({ length: rnd.int(1, 3) }, () => rnd.pick(entities.slice(2)));

    const check = async (label: string) => {
      const since = frozen?.before;
      const [actual, expected] = await Promise.all([rollupRows(db.pool, since), oracleRows(db.pool, since)]);
      const problems = diffRollups(actual, expected);
      if (frozen) {
        const old = (await rollupRows(db.pool)).filter((r) => r.bucket < frozen!.before.getTime());
        if (JSON.stringify(old) !== JSON.stringify(frozen.rows)) problems.push('rollups before the prune cutoff changed');
      }
      expect(problems, `seed ${seed} (replay: ROLLUP_SEED=${seed}) after ${label}; steps:\n${log.join('\n')}\n${problems.slice(0, 10).join('\n')}`).toEqual([]);
    };

    const steps = rnd.int(8, 14);
    for (let step = 0; step < steps; step++) {
      const op = rnd.int(0, 9);
      if (op <= 3) {
        const batch: SeedArticle[] = [];
        const n = rnd.int(1, 60);
        for (let i = 0; i < n; i++) {
          if (known.length > 0 && rnd.bool(0.15)) {
            batch.push(rnd.pick(known)); // a duplicate: re-fetched, must change nothing
            continue;
          }
          const sentiment = rnd.bool(0.1) ? 0.7 : randomSentiment(); // clusters of equal values
          batch.push({ externalId: `p${seed}-${++serial}`, publishedAt: new Date(randomTime()), sentiment, entityIds: entitySubset() });
        }
        // The one-article-per-hour entity: a fresh hour each time (n = 1, stddev null).
        if (oneAnHour !== undefined) {
          const hour = Math.floor(randomTime() / HOUR_MS) * HOUR_MS;
          const { rows } = await db.pool.query(`select 1 from article_entity where entity_id = $1 and date_trunc('hour', published_at, 'UTC') = $2`, [
            oneAnHour,
            new Date(hour).toISOString(),
          ]);
          if (rows.length === 0) batch.push({ externalId: `p${seed}-${++serial}`, publishedAt: new Date(hour + rnd.int(0, HOUR_MS - 1)), sentiment: randomSentiment(), entityIds: [oneAnHour] });
        }
        // A cluster of equal scores in one hour (zero variance: where sum-of-squares formulas cancel).
        if (constant !== undefined) {
          const at = randomTime();
          const value = randomSentiment();
          for (let i = rnd.int(2, 6); i > 0; i--) batch.push({ externalId: `p${seed}-${++serial}`, publishedAt: new Date(at + i), sentiment: value, entityIds: [constant] });
        }
        const unique = [...new Map(batch.map((a) => [a.externalId, a])).values()];
        // Mostly as ingest writes them (deltas); sometimes as a recompute mark, so both kinds meet in one hour.
        const marks = rnd.bool(0.25) ? 'recompute' : 'delta';
        await ingestArticles(db.pool, unique, { marks });
        for (const a of unique) if (!known.includes(a)) known.push(a);
        log.push(`ingest ${unique.length} (${marks})`);
      } else if (op === 4) {
        const trends = Array.from({ length: rnd.int(1, 5) }, () => ({ key: `t${rnd.int(1, 4)}`, observedAt: new Date(randomTime()), entityIds: entitySubset() }));
        await ingestTrends(db.pool, trends, rnd.bool(0.25) ? 'recompute' : 'delta');
        log.push(`trends ${trends.length}`);
      } else if (op === 5 && known.length > 0) {
        const gone = Array.from({ length: rnd.int(1, 5) }, () => rnd.pick(known).externalId);
        await retractArticles(db.pool, gone);
        log.push(`retract ${gone.length}`);
      } else if (op === 6 && rnd.bool(0.5)) {
        // A rebuild of part of the window while delta marks are pending: the hours it recomputes
        // already count those deltas, so a later refresh must not merge them again.
        const from = floor + rnd.int(0, 4) * DAY_MS + rnd.int(0, 23) * HOUR_MS;
        const to = from + rnd.int(1, 72) * HOUR_MS;
        const now = frozen ? frozen.now : new Date(BASE + 9 * DAY_MS);
        await rebuildRange(db.rollupOrm.em.fork(), { from: new Date(from), to: new Date(to), retentionDays: 30, now: () => now, chunkHours: rnd.pick([1, 24]) });
        log.push(`rebuild ${new Date(from).toISOString()}..${new Date(to).toISOString()}`);
      } else if (op === 7 && !frozen && rnd.bool(0.5)) {
        // Retention: everything published before a day inside the data window goes; rollups stay.
        await refreshDirty(db.rollupOrm.em.fork());
        const now = new Date(BASE + rnd.int(2, 5) * DAY_MS + rnd.int(0, DAY_MS - 1) + 30 * DAY_MS);
        const before = retentionCutoff(now, 30);
        frozen = { before, now, rows: (await rollupRows(db.pool)).filter((r) => r.bucket < before.getTime()) };
        const stats = await pruneRaw(db.rollupOrm.em.fork(), { articleRetentionDays: 30, jobRunRetentionDays: 30, batchSize: rnd.int(5, 50), now });
        const { rows } = await db.pool.query(`select count(*)::int as n from rollup_dirty`);
        expect(rows[0].n, `seed ${seed}: prune marked something dirty`).toBe(0);
        floor = before.getTime();
        log.push(`prune before ${before.toISOString()} (${stats.articles} articles)`);
      } else {
        const limit = rnd.bool(0.5) ? rnd.int(1, 40) : undefined;
        const stats = await refreshDirty(db.rollupOrm.em.fork(), { limit, ...refreshOptions() });
        log.push(`refresh limit ${limit ?? 'default'}: ${stats.marks} marks`);
        await check(`refresh #${step}`);
      }
    }
    await refreshDirty(db.rollupOrm.em.fork(), refreshOptions());
    log.push('final refresh');
    await check('the final refresh');
  });
});
