/**
 * The closed, typed job catalogue: every queue, every job, its payload schema. The worker
 * refuses to start if a job has no handler; the CLI validates payloads against the same
 * schemas before anything is enqueued.
 */
import { z } from 'zod';

export const QUEUES = {
  ingest: { displayName: 'Ingest', description: 'Fetches sources and stores scored, matched articles' },
  rollup: { displayName: 'Rollups', description: 'Keeps hourly and daily sentiment rollups exact (refresh, rebuild)' },
  maintenance: { displayName: 'Maintenance', description: 'Retention (prune) and orphaned job-run cleanup (reap)' },
} as const;
export type QueueName = keyof typeof QUEUES;
export const QUEUE_NAMES = Object.keys(QUEUES) as QueueName[];

/** An ISO date or date-time, read as UTC when it has no zone. */
const isoInstant = z.string().refine((s) => parseInstant(s) !== null, 'must be an ISO date like 2026-11-01 or 2026-11-01T06:00:00Z');

export function parseInstant(text: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return null;
  const withZone = /T.*(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : text.includes('T') ? `${text}Z` : `${text}T00:00:00Z`;
  const date = new Date(withZone);
  if (Number.isNaN(date.getTime())) return null;
  // Reject dates Date would roll over (2026-02-30 -> March 2).
  if (date.toISOString().slice(0, 10) !== text.slice(0, 10) && !/[+-]\d{2}:?\d{2}$/.test(text)) return null;
  return date;
}

export const JOBS = {
  fetch: {
    queue: 'ingest',
    summary: 'Fetch one source now: parse, score, match and store new articles',
    payload: z.strictObject({ sourceId: z.string().min(1) }),
    // Opens its job_run row in the statement that reads its source (see RunRef).
    opensRun: true,
  },
  refresh: {
    queue: 'rollup',
    summary: 'Recompute exactly the hours and days marked dirty since the last refresh',
    payload: z.strictObject({}),
  },
  rebuild: {
    queue: 'rollup',
    summary: 'Recompute every hourly and daily rollup in a range from the stored articles',
    payload: z
      .strictObject({ from: isoInstant, to: isoInstant, entity: z.string().min(1).optional() })
      .refine((p) => (parseInstant(p.from)?.getTime() ?? 0) < (parseInstant(p.to)?.getTime() ?? 0), {
        message: '"from" must be before "to"',
        path: ['to'],
      }),
  },
  rescore: {
    queue: 'rollup',
    summary: 'Re-score stored articles with the current scorer (batches, resumable), then rebuild the rollups they touch',
    payload: z
      .strictObject({ from: isoInstant.optional(), to: isoInstant.optional(), batchSize: z.number().int().min(1).max(10_000).optional() })
      .refine((p) => p.from === undefined || p.to === undefined || (parseInstant(p.from)?.getTime() ?? 0) < (parseInstant(p.to)?.getTime() ?? 0), {
        message: '"from" must be before "to"',
        path: ['to'],
      }),
  },
  prune: {
    queue: 'maintenance',
    summary: 'Delete raw articles and job runs older than the retention windows (rollups stay)',
    payload: z.strictObject({}),
  },
  partitions: {
    queue: 'maintenance',
    summary: 'Create the month partitions of articles and job runs ahead of time (retention drops old ones)',
    payload: z.strictObject({}),
  },
  reap: {
    queue: 'maintenance',
    summary: 'Mark job-run rows whose BullMQ job is no longer active as abandoned',
    payload: z.strictObject({}),
  },
} as const;

export type JobName = keyof typeof JOBS;
export const JOB_NAMES = Object.keys(JOBS) as JobName[];
export type JobPayload<N extends JobName> = z.infer<(typeof JOBS)[N]['payload']>;
export type JobsOf<Q extends QueueName> = { [N in JobName]: (typeof JOBS)[N]['queue'] extends Q ? N : never }[JobName];

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOBS, name);
}

/** Validates a payload; returns the problems as "path: message" lines. */
export function checkPayload<N extends JobName>(name: N, data: unknown): { ok: true; data: JobPayload<N> } | { ok: false; problems: string[] } {
  const result = JOBS[name].payload.safeParse(data);
  if (result.success) return { ok: true, data: result.data as JobPayload<N> };
  return { ok: false, problems: result.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`) };
}
