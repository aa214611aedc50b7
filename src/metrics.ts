import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobStats } from './db/entities.ts';
import type { Orm } from './db/orm.ts';
import { sql } from './db/sql.ts';
import { QUEUE_NAMES } from './queues/catalogue.ts';
import type { Queues } from './queues/queues.ts';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

/** Fetch outcomes as operators read them on a dashboard. */
export type FetchOutcome = 'inserted' | 'unchanged' | 'not_modified' | 'skipped' | 'failed';

function fetchOutcome(stats: JobStats | null): FetchOutcome {
  if (!stats) return 'failed';
  if (stats.skipped) return 'skipped';
  if (stats.not_modified) return 'not_modified';
  return typeof stats.inserted === 'number' && stats.inserted > 0 ? 'inserted' : 'unchanged';
}

/**
 * Prometheus metrics of one process, in their own registry (tests and the board process
 * get theirs). Queue depth and rollup lag are read at scrape time, so they are never stale.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #jobs = new Counter({ name: 'newspulse_jobs_total', help: 'Jobs finished, by queue, job and outcome', labelNames: ['queue', 'job', 'outcome'], registers: [this.registry] });
  readonly #durations = new Histogram({
    name: 'newspulse_job_duration_seconds',
    help: 'Job run time, by queue and job',
    labelNames: ['queue', 'job'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly #articles = new Counter({ name: 'newspulse_articles_inserted_total', help: 'New articles stored, by source', labelNames: ['source'], registers: [this.registry] });
  readonly #fetches = new Counter({ name: 'newspulse_fetches_total', help: 'Fetch attempts, by source and outcome', labelNames: ['source', 'outcome'], registers: [this.registry] });

  constructor(sources?: { queues: Queues; orm: Orm }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'newspulse_' });
    if (!sources) return;
    const { queues, orm } = sources;
    new Gauge({
      name: 'newspulse_queue_jobs',
      help: 'Jobs in each queue by state',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
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
      registers: [this.registry],
      async collect() {
        const row = await sql(orm.em.fork()).selectFrom('rollup_dirty').select((eb) => eb.fn.min('marked_at').as('oldest')).executeTakeFirst();
        const oldest = row?.oldest ? new Date(row.oldest).getTime() : null;
        this.set(oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
      },
    });
  }

  /** Called by the job wrapper once per attempt. */
  recordJob(queue: string, job: string, outcome: 'completed' | 'failed', seconds: number, stats: JobStats | null, sourceId: string | null): void {
    this.#jobs.inc({ queue, job, outcome });
    this.#durations.observe({ queue, job }, seconds);
    if (job !== 'fetch' || !sourceId) return;
    this.#fetches.inc({ source: sourceId, outcome: fetchOutcome(stats) });
    if (stats && typeof stats.inserted === 'number' && stats.inserted > 0) this.#articles.inc({ source: sourceId }, stats.inserted);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
