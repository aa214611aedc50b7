import type { Orm } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import { QUEUE_NAMES } from '../queues/catalogue.ts';
import type { Queues } from '../queues/queues.ts';
import { fetchSchedulerId } from '../queues/schedules.ts';

const COUNT_STATES = ['active', 'waiting', 'delayed', 'prioritized', 'failed', 'completed'] as const;

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

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** What an operator checks first: are sources healthy, are queues moving, are rollups fresh. */
export async function collectStatus(orm: Orm, queues: Queues, now = new Date()) {
  const em = orm.em.fork();
  const sources = await sql(em)
    .selectFrom('source')
    .select(['id', 'kind', 'enabled', 'every_ms', 'pattern', 'tz', 'last_success_at', 'last_fetched_at', 'consecutive_failures', 'last_error', 'backoff_until'])
    .orderBy('id')
    .execute();
  const schedulers = await queues.ingest.getJobSchedulers(0, 10_000);
  const nextRun = new Map(schedulers.map((s) => [s.id ?? s.key, s.next ? new Date(s.next) : null]));
  const counts = Object.fromEntries(await Promise.all(QUEUE_NAMES.map(async (q) => [q, await queues[q].getJobCounts(...COUNT_STATES)] as const)));
  const lag = await sql(em)
    .selectFrom('rollup_dirty')
    .select((eb) => [eb.fn.countAll<string>().as('marks'), eb.fn.min('marked_at').as('oldest')])
    .executeTakeFirstOrThrow();
  const oldest = lag.oldest ? new Date(lag.oldest) : null;
  return {
    at: now.toISOString(),
    sources: sources.map((s) => ({
      id: s.id,
      kind: s.kind,
      enabled: s.enabled,
      schedule: s.every_ms !== null ? `every ${fmtSeconds(s.every_ms / 1000)}` : `cron ${s.pattern} ${s.tz ?? 'UTC'}`,
      next_run: nextRun.get(fetchSchedulerId(s.id))?.toISOString() ?? null,
      last_success_at: s.last_success_at?.toISOString() ?? null,
      consecutive_failures: s.consecutive_failures,
      backoff_until: s.backoff_until && s.backoff_until > now ? s.backoff_until.toISOString() : null,
      last_error: s.last_error,
    })),
    queues: counts,
    rollup: { dirty_marks: Number(lag.marks), lag_seconds: oldest ? Math.max(0, Math.round((now.getTime() - oldest.getTime()) / 1000)) : 0 },
  };
}

export async function printStatus({ orm, queues, json, out }: { orm: Orm; queues: Queues; json: boolean; out: NodeJS.WritableStream }): Promise<void> {
  const now = new Date();
  const status = await collectStatus(orm, queues, now);
  if (json) {
    out.write(`${JSON.stringify(status)}\n`);
    return;
  }
  const date = (iso: string | null) => (iso ? ago(new Date(iso), now) : '-');
  out.write('SOURCES\n');
  out.write(
    `${table([
      ['id', 'kind', 'schedule', 'next run', 'last success', 'failures', 'last error'],
      ...status.sources.map((s) => [
        s.enabled ? s.id : `${s.id} (disabled)`,
        s.kind,
        s.schedule,
        s.enabled ? date(s.next_run) : '-',
        date(s.last_success_at),
        s.consecutive_failures ? `${s.consecutive_failures}${s.backoff_until ? ` (backoff ${date(s.backoff_until)})` : ''}` : '0',
        s.last_error ? s.last_error.slice(0, 100) : '-',
      ]),
    ])}\n\n`,
  );
  out.write('QUEUES\n');
  out.write(`${table([['queue', ...COUNT_STATES], ...Object.entries(status.queues).map(([q, c]) => [q, ...COUNT_STATES.map((s) => String(c[s] ?? 0))])])}\n\n`);
  out.write(`ROLLUPS\n${status.rollup.dirty_marks} dirty mark(s), lag ${status.rollup.lag_seconds}s\n`);
}
