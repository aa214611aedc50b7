import { randomUUID } from 'node:crypto';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobStats } from './db/entities.ts';
import type { Orm } from './db/orm.ts';
import { sql } from './db/sql.ts';
import { keyUnder, redisOf, runScript } from './ingest/redis-scripts.ts';
import { QUEUE_NAMES } from './queues/catalogue.ts';
import type { Queues } from './queues/queues.ts';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

/** How a job attempt ended: `deferred` went back to wait for a busy host or source. */
export type JobOutcome = 'completed' | 'failed' | 'deferred';

/** Fetch outcomes as operators read them on a dashboard. */
export type FetchOutcome = 'inserted' | 'unchanged' | 'not_modified' | 'skipped' | 'deferred' | 'failed';

export const FETCH_OUTCOMES: readonly FetchOutcome[] = ['inserted', 'unchanged', 'not_modified', 'skipped', 'deferred', 'failed'];

function fetchOutcome(outcome: JobOutcome, stats: JobStats | null): FetchOutcome {
  if (outcome !== 'completed' || !stats) return outcome === 'deferred' ? 'deferred' : 'failed';
  if (stats.skipped) return 'skipped';
  if (stats.not_modified) return 'not_modified';
  return typeof stats.inserted === 'number' && stats.inserted > 0 ? 'inserted' : 'unchanged';
}

/** The lease that makes one process the exporter of the global gauges (one key: Cluster-safe). */
const EXPORTER_TTL_MS = 60_000;
const ELECT = `local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`;

export interface MetricsSources {
  queues: Queues;
  orm: Orm;
  /** Per-source gauges for at most this many sources (worst first); 0 (default) for none. */
  sourceGauges?: number;
}

/**
 * Prometheus metrics of one process. Every label value comes from a closed set (queue, job,
 * outcome, state), never from job data or source ids: cardinality stays the same at 100k
 * sources. Process metrics carry Node's standard names (no prefix) so stock Node.js
 * dashboards find them.
 *
 * Global gauges (queue depths, rollup lag, source health) describe the whole deployment, not
 * this process: only the process holding the exporter lease in Redis reports them, so
 * summing over instances counts each job once. They are read at scrape time, never stale.
 */
export class Metrics {
  readonly registry = new Registry();
  /** Scraped only while this process is the elected exporter. */
  readonly globalRegistry = new Registry();
  readonly #jobs = new Counter({ name: 'newspulse_jobs_total', help: 'Job attempts finished, by queue, job and outcome', labelNames: ['queue', 'job', 'outcome'], registers: [this.registry] });
  readonly #durations = new Histogram({
    name: 'newspulse_job_duration_seconds',
    help: 'Job attempt run time, by queue, job and outcome (completed, failed, deferred)',
    labelNames: ['queue', 'job', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly #articles = new Counter({ name: 'newspulse_articles_inserted_total', help: 'New articles stored', registers: [this.registry] });
  readonly #fetches = new Counter({ name: 'newspulse_fetches_total', help: 'Fetch attempts by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly #recreated = new Counter({
    name: 'newspulse_worker_recreated_total',
    help: "Times the consumption watchdog replaced a queue's wedged BullMQ Worker in-process",
    labelNames: ['queue'],
    registers: [this.registry],
  });
  readonly #exporter = new Gauge({ name: 'newspulse_metrics_exporter', help: '1 when this process exports the global gauges (exactly one process should)', registers: [this.registry] });
  readonly #elect: (() => Promise<boolean>) | undefined;

  constructor(sources?: MetricsSources) {
    collectDefaultMetrics({ register: this.registry });
    if (!sources) return;
    const { queues, orm } = sources;
    const registers = [this.globalRegistry];
    const redis = redisOf(queues.ingest);
    const key = keyUnder(queues.ingest, 'metrics-exporter');
    const me = randomUUID();
    this.#elect = async () => Number(await runScript(redis, ELECT, key, me, EXPORTER_TTL_MS)) === 1;

    new Gauge({
      name: 'newspulse_queue_jobs',
      help: 'Jobs in each queue by state',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        for (const queue of QUEUE_NAMES) {
          const counts = await queues[queue].getJobCounts(...QUEUE_STATES);
          for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state] ?? 0);
        }
      },
    });
    new Gauge({
      name: 'newspulse_rollup_lag_seconds',
      help: 'Age of the oldest rollup_dirty mark (0 when rollups are up to date)',
      registers,
      async collect() {
        const row = await sql(orm.em.fork()).selectFrom('rollup_dirty').select((eb) => eb.fn.min('marked_at').as('oldest')).executeTakeFirst();
        const oldest = row?.oldest ? new Date(row.oldest).getTime() : null;
        this.set(oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
      },
    });
    // Source health in aggregate: one query per scrape, three series whatever the number of sources.
    const health = { failing: 0, backingOff: 0, oldestSuccessAge: 0 };
    const readHealth = oncePerScrape(async () => {
      const rows = await orm.em.fork().execute<{ failing: string; backing_off: string; oldest_age: string | null }[]>(
        `select count(*) filter (where consecutive_failures > 0) as failing,
                count(*) filter (where backoff_until > now()) as backing_off,
                extract(epoch from now() - min(coalesce(last_success_at, created_at))) as oldest_age
           from source where enabled`,
      );
      const row = rows[0];
      health.failing = Number(row?.failing ?? 0);
      health.backingOff = Number(row?.backing_off ?? 0);
      health.oldestSuccessAge = Math.max(0, Number(row?.oldest_age ?? 0));
    });
    new Gauge({
      name: 'newspulse_sources_failing',
      help: 'Enabled sources whose last fetch failed',
      registers,
      async collect() {
        await readHealth();
        this.set(health.failing);
      },
    });
    new Gauge({
      name: 'newspulse_sources_backing_off',
      help: 'Enabled sources whose scheduled fetches are paused by backoff',
      registers,
      async collect() {
        await readHealth();
        this.set(health.backingOff);
      },
    });
    new Gauge({
      name: 'newspulse_source_oldest_success_age_seconds',
      help: 'Time since the least recently successful enabled source last fetched successfully (since creation if never)',
      registers,
      async collect() {
        await readHealth();
        this.set(health.oldestSuccessAge);
      },
    });
    const limit = sources.sourceGauges ?? 0;
    if (limit > 0) registerSourceGauges(orm, limit, registers);
  }

  /** Called by the job wrapper once per attempt. */
  recordJob(queue: string, job: string, outcome: JobOutcome, seconds: number, stats: JobStats | null): void {
    this.#jobs.inc({ queue, job, outcome });
    this.#durations.observe({ queue, job, outcome }, seconds);
    if (job !== 'fetch') return;
    this.#fetches.inc({ outcome: fetchOutcome(outcome, stats) });
    if (stats && typeof stats.inserted === 'number' && stats.inserted > 0) this.#articles.inc(stats.inserted);
  }

  /** Called by the consumption watchdog (queues/consumption.ts) each time it replaces a wedged Worker. */
  recordWorkerRecreated(queue: string): void {
    this.#recreated.inc({ queue });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    const exporting = this.#elect ? await this.#elect().catch(() => false) : false;
    this.#exporter.set(exporting ? 1 : 0);
    const local = await this.registry.metrics();
    const global = exporting ? await this.globalRegistry.metrics() : '';
    return { contentType: this.registry.contentType, body: global ? `${local}\n${global}` : local };
  }
}

/**
 * Opt-in per-source detail (METRICS_SOURCE_GAUGES=N): the N worst sources (most consecutive
 * failures, then oldest success), labelled by source ids read from the source table (synced
 * from the validated config), never from job data. Cardinality is at most 3 x N series.
 */
function registerSourceGauges(orm: Orm, limit: number, registers: Registry[]): void {
  type Row = { id: string; consecutive_failures: number; last_success_at: Date | null; backoff_until: Date | null };
  let rows: Row[] = [];
  const read = oncePerScrape(async () => {
    rows = await sql(orm.em.fork())
      .selectFrom('source')
      .select(['id', 'consecutive_failures', 'last_success_at', 'backoff_until'])
      .where('enabled', '=', true)
      .orderBy('consecutive_failures', 'desc')
      .orderBy('last_success_at', (ob) => ob.asc().nullsFirst())
      .orderBy('id')
      .limit(limit)
      .execute();
  });
  const seconds = (d: Date | null) => (d ? d.getTime() / 1000 : 0);
  new Gauge({
    name: 'newspulse_source_consecutive_failures',
    help: `Consecutive failed fetches, for the ${limit} worst sources (METRICS_SOURCE_GAUGES)`,
    labelNames: ['source'],
    registers,
    async collect() {
      await read();
      this.reset();
      for (const r of rows) this.set({ source: r.id }, r.consecutive_failures);
    },
  });
  new Gauge({
    name: 'newspulse_source_last_success_timestamp_seconds',
    help: 'Last successful fetch (Unix seconds, 0 if never), for the same sources',
    labelNames: ['source'],
    registers,
    async collect() {
      await read();
      this.reset();
      for (const r of rows) this.set({ source: r.id }, seconds(r.last_success_at));
    },
  });
  new Gauge({
    name: 'newspulse_source_backoff_until_timestamp_seconds',
    help: 'End of the current backoff (Unix seconds, 0 if none), for the same sources',
    labelNames: ['source'],
    registers,
    async collect() {
      await read();
      this.reset();
      for (const r of rows) this.set({ source: r.id }, seconds(r.backoff_until));
    },
  });
}

/**
 * prom-client collects every metric of a scrape at once: gauges that share one query share
 * one run of it (the in-flight promise), and the next scrape reads afresh.
 */
function oncePerScrape(read: () => Promise<void>): () => Promise<void> {
  let inFlight: Promise<void> | null = null;
  return () =>
    (inFlight ??= read().finally(() => {
      inFlight = null;
    }));
}
