import type { Orm } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import { QUEUE_NAMES } from '../queues/catalogue.ts';
import type { Queues } from '../queues/queues.ts';
import { fetchSchedulerId } from '../queues/schedules.ts';

const COUNT_STATES = ['active', 'waiting', 'delayed', 'prioritized', 'failed', 'completed'] as const;

/** Rows listed when no --limit is given: a small deployment sees every source, a large one a page. */
export const DEFAULT_STATUS_LIMIT = 50;
/** The most rows one call lists: next runs are read per listed row. */
export const MAX_STATUS_LIMIT = 10_000;

export interface StatusFilter {
  /** Only sources with consecutive failures (worst first). */
  failing?: boolean;
  /** Glob on the source id: `*` any run of characters, `?` one character (`bbc-*`). */
  source?: string;
  limit?: number;
}

export class StatusFilterError extends Error {
  override name = 'StatusFilterError';
}

/** `bbc-*` -> `bbc-%` for LIKE, with LIKE's own wildcards escaped. Pure, so tested on its own. */
export function globToLike(glob: string): string {
  return glob.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%').replace(/\?/g, '_');
}

export function checkLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_STATUS_LIMIT) throw new StatusFilterError(`--limit: must be a whole number from 1 to ${MAX_STATUS_LIMIT}, got "${text}"`);
  return n;
}

function ago(date: Date | null, now: Date): string {
  if (!date) return 'never';
  const s = Math.round((now.getTime() - date.getTime()) / 1000);
  if (s < 0) return `in ${fmtSeconds(-s)}`;
  return `${fmtSeconds(s)} ago`;
}

function fmtSeconds(s: number): string {
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** A padded text table. Loops, not Math.max(...rows): a spread of 100k+ values overflows the stack. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/**
 * What the next-run column says. A source that is backing off skips its scheduled runs until
 * `backoff_until`, so "next run in 48s" would be wrong: the backoff is what the operator needs.
 */
export function nextRunText(s: { enabled: boolean; next_run: string | null; backoff_until: string | null }, now: Date): string {
  if (!s.enabled) return '-';
  if (s.backoff_until) return `backing off, ${ago(new Date(s.backoff_until), now).replace(/^in /, 'resumes in ')}`;
  return s.next_run ? ago(new Date(s.next_run), now) : 'not scheduled';
}

/** What an operator checks first: are sources healthy, are queues moving, are rollups fresh. */
export async function collectStatus(orm: Orm, queues: Queues, now = new Date(), filter: StatusFilter = {}) {
  const em = orm.em.fork();
  const limit = filter.limit ?? DEFAULT_STATUS_LIMIT;
  const summary = await sql(em)
    .selectFrom('source')
    // Aliases must not be column names: convertValues would read "enabled" back as a boolean.
    .select((eb) => [
      eb.fn.countAll<string>().as('total'),
      eb.fn.countAll<string>().filterWhere('enabled', '=', true).as('enabled_count'),
      eb.fn.countAll<string>().filterWhere((w) => w.and([w('enabled', '=', true), w('consecutive_failures', '>', 0)])).as('failing'),
      eb.fn.countAll<string>().filterWhere((w) => w.and([w('enabled', '=', true), w('backoff_until', '>', now)])).as('backing_off'),
      eb.fn.countAll<string>().filterWhere((w) => w.and([w('enabled', '=', true), w('last_success_at', 'is', null)])).as('never_succeeded'),
    ])
    .executeTakeFirstOrThrow();
  let query = sql(em)
    .selectFrom('source')
    .select(['id', 'kind', 'enabled', 'every_ms', 'pattern', 'tz', 'last_success_at', 'last_fetched_at', 'consecutive_failures', 'last_error', 'backoff_until']);
  if (filter.failing) query = query.where('enabled', '=', true).where('consecutive_failures', '>', 0);
  if (filter.source) query = query.where('id', 'like', globToLike(filter.source));
  const ordered = filter.failing ? query.orderBy('consecutive_failures', 'desc').orderBy('id') : query.orderBy('id');
  // One row more than the page tells whether there is more, without counting the rest.
  const page = await ordered.limit(limit + 1).execute();
  const sources = page.slice(0, limit);
  // Next runs for the listed rows only: one small read each, never the whole scheduler set.
  const nextRun = new Map(
    await Promise.all(
      sources.filter((s) => s.enabled).map(async (s) => {
        const scheduler = await queues.ingest.getJobScheduler(fetchSchedulerId(s.id));
        return [s.id, scheduler?.next ? new Date(scheduler.next) : null] as const;
      }),
    ),
  );
  const counts = Object.fromEntries(await Promise.all(QUEUE_NAMES.map(async (q) => [q, await queues[q].getJobCounts(...COUNT_STATES)] as const)));
  const schedulers = await queues.ingest.getJobSchedulersCount();
  const lag = await sql(em)
    .selectFrom('rollup_dirty')
    .select((eb) => [eb.fn.countAll<string>().as('marks'), eb.fn.min('marked_at').as('oldest')])
    .executeTakeFirstOrThrow();
  const oldest = lag.oldest ? new Date(lag.oldest) : null;
  return {
    at: now.toISOString(),
    summary: {
      sources: Number(summary.total),
      enabled: Number(summary.enabled_count),
      failing: Number(summary.failing),
      backing_off: Number(summary.backing_off),
      never_succeeded: Number(summary.never_succeeded),
      fetch_schedulers: schedulers,
    },
    filter: { failing: Boolean(filter.failing), source: filter.source ?? null, limit },
    /** True when more sources match than were listed. */
    truncated: page.length > limit,
    sources: sources.map((s) => ({
      id: s.id,
      kind: s.kind,
      enabled: s.enabled,
      schedule: s.every_ms !== null ? `every ${fmtSeconds(s.every_ms / 1000)}` : `cron ${s.pattern} ${s.tz ?? 'UTC'}`,
      next_run: nextRun.get(s.id)?.toISOString() ?? null,
      last_success_at: s.last_success_at?.toISOString() ?? null,
      consecutive_failures: s.consecutive_failures,
      backoff_until: s.backoff_until && s.backoff_until > now ? s.backoff_until.toISOString() : null,
      last_error: s.last_error,
    })),
    queues: counts,
    rollup: { dirty_marks: Number(lag.marks), lag_seconds: oldest ? Math.max(0, Math.round((now.getTime() - oldest.getTime()) / 1000)) : 0 },
  };
}

export type Status = Awaited<ReturnType<typeof collectStatus>>;

export function renderStatus(status: Status, now: Date): string {
  const date = (iso: string | null) => (iso ? ago(new Date(iso), now) : '-');
  const s = status.summary;
  const lines: string[] = [];
  lines.push(
    `SOURCES  ${s.enabled} enabled of ${s.sources}, ${s.failing} failing, ${s.backing_off} backing off, ${s.never_succeeded} never succeeded; ${s.fetch_schedulers} fetch scheduler(s)`,
  );
  if (s.enabled !== s.fetch_schedulers) lines.push(`  note: ${s.enabled} enabled source(s) but ${s.fetch_schedulers} fetch scheduler(s): the workers have not synced this config yet (reload: npm run enqueue -- reload)`);
  const f = status.filter;
  const shown = [f.failing ? 'failing' : null, f.source ? `id like "${f.source}"` : null].filter(Boolean).join(', ');
  if (status.sources.length) {
    lines.push(
      table([
        ['id', 'kind', 'schedule', 'next run', 'last success', 'failures', 'last error'],
        ...status.sources.map((src) => [
          src.enabled ? src.id : `${src.id} (disabled)`,
          src.kind,
          src.schedule,
          nextRunText(src, now),
          date(src.last_success_at),
          String(src.consecutive_failures),
          src.last_error ? src.last_error.slice(0, 100) : '-',
        ]),
      ]),
    );
  } else {
    lines.push(`  no source matches${shown ? ` (${shown})` : ''}`);
  }
  if (status.truncated) lines.push(`  … first ${status.sources.length}${shown ? ` (${shown})` : ''}; narrow with --failing, --source 'PATTERN*' or raise --limit`);
  lines.push('', 'QUEUES');
  lines.push(table([['queue', ...COUNT_STATES], ...Object.entries(status.queues).map(([q, c]) => [q, ...COUNT_STATES.map((st) => String(c[st] ?? 0))])]));
  lines.push('', `ROLLUPS\n${status.rollup.dirty_marks} dirty mark(s), lag ${status.rollup.lag_seconds}s`);
  return `${lines.join('\n')}\n`;
}

export async function printStatus({ orm, queues, json, out, filter = {} }: { orm: Orm; queues: Queues; json: boolean; out: NodeJS.WritableStream; filter?: StatusFilter }): Promise<void> {
  const now = new Date();
  const status = await collectStatus(orm, queues, now, filter);
  out.write(json ? `${JSON.stringify(status)}\n` : renderStatus(status, now));
}
