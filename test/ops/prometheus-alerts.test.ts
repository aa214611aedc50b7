/**
 * ops/prometheus-alerts.yml against what a worker really exports: every rule is well formed,
 * and every metric a rule reads is one /metrics serves (from a real Metrics on a real Postgres
 * and Redis, elected as the exporter), so renaming a metric breaks this test, not the alerts.
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.ts';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { deletePrefix, testPrefix, workerRedis } from '../support/redis.ts';

const RULES_FILE = new URL('../../ops/prometheus-alerts.yml', import.meta.url);

// PromQL words that are not metric names: functions, aggregations, modifiers, keywords.
const PROMQL_WORDS = new Set([
  'sum', 'max', 'min', 'avg', 'count', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
  'rate', 'irate', 'increase', 'delta', 'histogram_quantile', 'clamp_min', 'clamp_max', 'absent', 'abs', 'time', 'e',
]);

interface Rule {
  alert?: string;
  expr?: unknown;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Metric names a PromQL expression reads: identifiers outside quotes, label matchers and ranges. */
export function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '');
  const words = bare.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? [];
  return [...new Set(words.filter((w) => !PROMQL_WORDS.has(w) && !/^\d/.test(w)))];
}

/** A histogram's series names map to the histogram. */
const baseName = (name: string) => name.replace(/_(bucket|count|sum)$/, '');

describe('ops/prometheus-alerts.yml', () => {
  let db: TestDatabase;
  let prefix: string;
  let queues: Queues;
  let exported: Set<string>;
  const redis = workerRedis();

  beforeAll(async () => {
    db = await createTestDatabase('alerts');
    prefix = testPrefix('alerts');
    queues = createQueues(redis, prefix, pino({ level: 'silent' }));
    const metrics = new Metrics({ queues, orm: db.orm });
    const body = (await metrics.render()).body;
    exported = new Set([...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  });

  afterAll(async () => {
    await closeQueues(queues);
    redis.disconnect();
    await deletePrefix(prefix);
    await db.drop();
  });

  const file = parse(readFileSync(RULES_FILE, 'utf8')) as { groups?: { name?: string; rules?: Rule[] }[] };
  const rules = (file.groups ?? []).flatMap((g) => g.rules ?? []);

  it('is a rule file with named groups of alerting rules, each with severity and summary', () => {
    expect(file.groups?.length).toBeGreaterThan(0);
    expect(rules.length).toBeGreaterThanOrEqual(8);
    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Newspulse[A-Za-z]+$/);
      expect(typeof rule.expr, rule.alert).toBe('string');
      if (rule.for !== undefined) expect(rule.for, rule.alert).toMatch(/^\d+[smhd]$/);
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
    }
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
  });

  it('reads only metrics the worker exports (global gauges included, Node process metrics unprefixed)', () => {
    expect(exported.has('newspulse_sources_failing')).toBe(true);
    expect(exported.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
    const used = new Set(rules.flatMap((r) => metricsIn(String(r.expr))));
    expect(used.size).toBeGreaterThan(5);
    const missing = [...used].filter((name) => !exported.has(baseName(name)));
    expect(missing).toEqual([]);
  });

  it('finds metric names the way Prometheus reads them', () => {
    expect(metricsIn('sum by (queue, job) (increase(newspulse_jobs_total{outcome="failed"}[1h])) > 10')).toEqual(['newspulse_jobs_total']);
    expect(metricsIn('a_total / clamp_min(b_total{x="sum"}, 1e-9) > 0.2')).toEqual(['a_total', 'b_total']);
  });
});
