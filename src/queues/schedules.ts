import type { Queue } from 'bullmq';
import type { Logger } from '../logger.ts';
import type { Schedule, SourceConfig } from '../config.ts';
import type { JobName, JobPayload, QueueName } from './catalogue.ts';
import { JOBS } from './catalogue.ts';
import type { Queues } from './queues.ts';

/** A scheduler the worker wants to exist. Its id is stable, so every boot upserts the same one. */
export interface DesiredSchedule<N extends JobName = JobName> {
  id: string;
  job: N;
  data: JobPayload<N>;
  schedule: Schedule;
}

/** Fixed schedules besides the per-source fetches. */
export const MAINTENANCE_SCHEDULES: DesiredSchedule[] = [
  // The safety net behind the debounced refresh every ingest adds.
  { id: 'refresh', job: 'refresh', data: {}, schedule: { every: 5 * 60_000 } },
  { id: 'prune', job: 'prune', data: {}, schedule: { pattern: '17 3 * * *', tz: 'UTC' } },
  { id: 'reap', job: 'reap', data: {}, schedule: { every: 10 * 60_000 } },
  // Months are made three ahead; daily leaves weeks of slack if the job cannot run.
  { id: 'partitions', job: 'partitions', data: {}, schedule: { pattern: '7 2 * * *', tz: 'UTC' } },
];

export function fetchSchedulerId(sourceId: string): string {
  return `fetch-${sourceId}`;
}

export function desiredSchedules(sources: readonly SourceConfig[]): DesiredSchedule[] {
  const fetches = sources
    .filter((s) => s.enabled)
    .map((s): DesiredSchedule<'fetch'> => ({ id: fetchSchedulerId(s.id), job: 'fetch', data: { sourceId: s.id }, schedule: s.schedule }));
  return [...fetches, ...MAINTENANCE_SCHEDULES];
}

/**
 * Upserts every desired scheduler and removes the ones no longer wanted (a source that
 * was disabled or removed). Upserting the same id from many processes leaves one.
 */
export async function syncSchedules(queues: Queues, desired: readonly DesiredSchedule[], log: Logger): Promise<{ upserted: number; removed: string[] }> {
  for (const d of desired) {
    const queue = queues[JOBS[d.job].queue];
    // No `immediately` with patterns: every re-upsert would fire an extra run.
    const repeat = 'every' in d.schedule ? { every: d.schedule.every } : { pattern: d.schedule.pattern, tz: d.schedule.tz };
    await queue.upsertJobScheduler(d.id, repeat, { name: d.job, data: d.data });
  }
  const removed: string[] = [];
  const wanted = new Set(desired.map((d) => `${JOBS[d.job].queue}/${d.id}`));
  for (const [name, queue] of Object.entries(queues) as [QueueName, Queue][]) {
    for (const scheduler of await listSchedulers(queue)) {
      if (!wanted.has(`${name}/${scheduler}`)) {
        await queue.removeJobScheduler(scheduler);
        removed.push(scheduler);
      }
    }
  }
  log.info({ upserted: desired.length, removed }, 'job schedulers synced');
  return { upserted: desired.length, removed };
}

async function listSchedulers(queue: Queue): Promise<string[]> {
  const count = await queue.getJobSchedulersCount();
  const schedulers = count ? await queue.getJobSchedulers(0, count - 1) : [];
  return schedulers.map((s) => s.id ?? s.key);
}
