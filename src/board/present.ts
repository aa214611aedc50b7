/**
 * How job results read to an operator, on the board and in the CLI: snake_case keys, no null or
 * undefined fields, rebuild's counters named for what they mean, and a job title that says
 * what the job did ("fetch bbc-business · 304 not modified", "fetch bbc-business · +12 articles").
 * Pure functions: the stored return values stay as the handlers wrote them.
 */

/** "skippedHours" -> "skipped_hours"; snake_case stays as it is. */
export function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

// rebuild's counters, renamed so the number explains itself ("skippedHours=58488" did not).
const REBUILD_KEYS: Readonly<Record<string, string>> = {
  skippedHours: 'hours_kept_older_than_retention',
  skippedDays: 'days_kept_older_than_retention',
  lateSkippedChunks: 'chunks_aged_out_during_rebuild',
  retentionCutoff: 'retention_cutoff',
  hours: 'hour_buckets_with_articles',
  days: 'day_buckets_with_articles',
  written: 'buckets_written',
  deletedHours: 'empty_hour_buckets_deleted',
  deletedDays: 'empty_day_buckets_deleted',
};

/** A job's result for display: snake_case keys (rebuild's renamed), null/undefined fields dropped. */
export function presentResult(jobName: string, value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  const renamed = jobName === 'rebuild' ? REBUILD_KEYS : {};
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [renamed[k] ?? snakeCase(k), v]),
  );
}

function field(value: unknown, key: string): unknown {
  return value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
}

/** What a finished fetch did, in a few words; null while it has no result. */
function fetchOutcome(result: unknown): string | null {
  if (!result || typeof result !== 'object') return null;
  const skipped = field(result, 'skipped');
  if (typeof skipped === 'string') return `skipped (${skipped})`;
  if (field(result, 'not_modified') === true) return '304 not modified';
  const inserted = field(result, 'inserted');
  if (typeof inserted === 'number') return inserted > 0 ? `+${inserted} article${inserted === 1 ? '' : 's'}` : 'no new articles';
  return null;
}

/** The job's title: its name and arguments (the source of a fetch), then its outcome when known. */
export function jobTitle(job: { name: string; data?: unknown; returnValue?: unknown; failedReason?: string | null }): string {
  const data = job.data && typeof job.data === 'object' ? (job.data as Record<string, unknown>) : {};
  const args = Object.entries(data)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => (k === 'sourceId' ? String(v) : `${snakeCase(k)}=${String(v)}`));
  const title = [job.name, ...args].join(' ');
  const outcome = job.name === 'fetch' ? fetchOutcome(job.returnValue) : null;
  return outcome ? `${title} · ${outcome}` : title;
}
