/**
 * /metrics across processes: the global gauges come from exactly one elected exporter (a
 * lease in Redis under the queue prefix), and per-source gauges appear only when asked for,
 * capped, for the worst sources first.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.ts';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { deletePrefix, testPrefix, workerRedis } from '../support/redis.ts';

describe('Metrics (real Postgres and Redis)', () => {
  let db: TestDatabase;
  let prefix: string;
  let queues: Queues;
  const redis = workerRedis();

  beforeAll(async () => {
    db = await createTestDatabase('metrics');
    prefix = testPrefix('metrics');
    queues = createQueues(redis, prefix, pino({ level: 'silent' }));
    await db.pool.query(
      `insert into source (id, kind, url, consecutive_failures, last_success_at, backoff_until) values
         ('healthy', 'feed', 'http://127.0.0.1/a', 0, now() - interval '10 minutes', null),
         ('flaky', 'feed', 'http://127.0.0.1/b', 1, now() - interval '2 hours', null),
         ('dead', 'feed', 'http://127.0.0.1/c', 4, null, now() + interval '1 hour')`,
    );
  });

  afterAll(async () => {
    await closeQueues(queues);
    redis.disconnect();
    await deletePrefix(prefix);
    await db.drop();
  });

  it('exports the global gauges from one process only, and source health in aggregate', async () => {
    const first = new Metrics({ queues, orm: db.orm });
    const second = new Metrics({ queues, orm: db.orm });
    const [a, b] = [(await first.render()).body, (await second.render()).body];
    expect(a).toMatch(/^newspulse_metrics_exporter 1$/m);
    expect(b).toMatch(/^newspulse_metrics_exporter 0$/m);
    expect(a).toContain('newspulse_queue_jobs{queue="ingest",state="waiting"} 0');
    expect(b).not.toContain('newspulse_queue_jobs');
    expect(b).not.toContain('newspulse_sources_failing');
    expect(a).toMatch(/^newspulse_sources_failing 2$/m);
    expect(a).toMatch(/^newspulse_sources_backing_off 1$/m);
    // "dead" never succeeded: its age counts from creation (just now), so "flaky" is the oldest at ~2 h.
    const age = Number(/^newspulse_source_oldest_success_age_seconds (\S+)$/m.exec(a)?.[1]);
    expect(age).toBeGreaterThanOrEqual(7_200);
    expect(age).toBeLessThan(7_200 + 600);
    // The exporter keeps its lease on the next scrape; the other still does not export.
    expect((await first.render()).body).toMatch(/^newspulse_metrics_exporter 1$/m);
    expect((await second.render()).body).toMatch(/^newspulse_metrics_exporter 0$/m);
  });

  it('adds per-source gauges only when asked, for at most N sources, worst first', async () => {
    await redis.del(`${prefix}:metrics-exporter`);
    const capped = new Metrics({ queues, orm: db.orm, sourceGauges: 2 });
    const body = (await capped.render()).body;
    const series = [...body.matchAll(/^newspulse_source_consecutive_failures\{source="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]);
    expect(series).toEqual([
      ['dead', 4],
      ['flaky', 1],
    ]);
    expect(body).toMatch(/^newspulse_source_last_success_timestamp_seconds\{source="dead"\} 0$/m);
    expect(body).toMatch(/^newspulse_source_backoff_until_timestamp_seconds\{source="dead"\} [1-9]/m);
    await redis.del(`${prefix}:metrics-exporter`);
    const off = (await new Metrics({ queues, orm: db.orm }).render()).body;
    expect(off).toMatch(/^newspulse_metrics_exporter 1$/m);
    expect(off).not.toMatch(/source="/);
  });
});
