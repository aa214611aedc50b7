import type { BackoffStrategy, JobsOptions } from 'bullmq';
import { TransientError } from '../errors.ts';

/** Name of the backoff type that honours Retry-After (see `backoffStrategy`). */
export const BACKOFF_TYPE = 'exponential-retry-after';
const BASE_DELAY_MS = 5_000;
const MAX_DELAY_MS = 30 * 60_000;

/**
 * Defaults for every job: retried with exponential backoff and jitter, and kept in Redis
 * by age and count so Redis stays bounded over months.
 */
export const DEFAULT_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: BACKOFF_TYPE, delay: BASE_DELAY_MS },
  removeOnComplete: { age: 7 * 24 * 3600, count: 1_000 },
  removeOnFail: { age: 30 * 24 * 3600, count: 5_000 },
} as const satisfies JobsOptions;

/**
 * Exponential backoff with full jitter over the upper half, never shorter than the
 * Retry-After the other side asked for.
 */
export const backoffStrategy: BackoffStrategy = (attemptsMade, type, err, job) => {
  if (type !== BACKOFF_TYPE) throw new Error(`unknown backoff type ${type}`);
  const base = typeof job?.opts.backoff === 'object' ? (job.opts.backoff.delay ?? BASE_DELAY_MS) : BASE_DELAY_MS;
  const exponential = Math.min(MAX_DELAY_MS, base * 2 ** Math.max(0, attemptsMade - 1));
  const jittered = exponential / 2 + Math.random() * (exponential / 2);
  const floor = err instanceof TransientError && err.retryAfterMs !== undefined ? err.retryAfterMs : 0;
  return Math.round(Math.max(jittered, Math.min(floor, MAX_DELAY_MS)));
};
