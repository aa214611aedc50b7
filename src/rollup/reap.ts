/**
 * Reap: job_run rows left `running` by a worker that died (SIGKILL, OOM, lost host). A row
 * is orphaned when its BullMQ job is no longer active, or when a newer attempt of the same
 * (queue, job_id) has since started (the stalled job re-ran in another worker).
 */
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';

export const ABANDONED_ERROR = 'abandoned: worker stopped before finishing';

/** Whether BullMQ still has this job in the `active` state. */
export type IsJobActive = (queue: string, jobId: string) => Promise<boolean>;

export interface ReapOptions {
  /** Leave rows younger than this alone: their job may be just starting. */
  olderThanMs: number;
  now?: Date;
}

export interface ReapStats {
  /** Rows marked abandoned. */
  abandoned: number;
  /** Running rows old enough to be examined. */
  examined: number;
}

export async function reapOrphanedRuns(em: EntityManager, isActive: IsJobActive, options: ReapOptions): Promise<ReapStats> {
  const now = options.now ?? new Date();
  const before = new Date(now.getTime() - options.olderThanMs);
  const db = sql(em);
  // Every running row (the partial index on status covers this); only old ones may be reaped,
  // but a young newer attempt still tells that the old ones of the same job are dead.
  const rows = await db
    .selectFrom('job_run')
    .select(['id', 'queue', 'job_id', 'started_at'])
    .where('status', '=', 'running')
    .orderBy('id')
    .execute();

  // Group by job; rows without a job id cannot be looked up, so each is its own group.
  const byJob = new Map<string, Array<{ id: number; queue: string; jobId: string | null; old: boolean }>>();
  for (const row of rows) {
    const key = row.job_id === null ? `row:${row.id}` : JSON.stringify([row.queue, row.job_id]);
    const group = byJob.get(key) ?? [];
    group.push({ id: Number(row.id), queue: row.queue, jobId: row.job_id, old: new Date(row.started_at).getTime() < before.getTime() });
    byJob.set(key, group);
  }

  const abandon: number[] = [];
  let examined = 0;
  for (const group of byJob.values()) {
    const first = group[0];
    if (!first || !group.some((r) => r.old)) continue;
    examined += group.filter((r) => r.old).length;
    const active = first.jobId !== null && (await isActive(first.queue, first.jobId));
    // While the job is active its newest attempt may be the one running now; every older one is dead.
    const newest = Math.max(...group.map((r) => r.id));
    for (const row of group) if (row.old && (!active || row.id !== newest)) abandon.push(row.id);
  }

  let abandoned = 0;
  if (abandon.length > 0) {
    // A row that finished meanwhile keeps its real outcome (status is re-checked).
    const result = await db
      .updateTable('job_run')
      .set((eb) => ({
        status: 'abandoned',
        finished_at: eb.fn<Date>('clock_timestamp'),
        error: ABANDONED_ERROR,
      }))
      .where('id', 'in', abandon)
      .where('status', '=', 'running')
      .executeTakeFirst();
    abandoned = Number(result.numUpdatedRows);
  }
  return { abandoned, examined };
}
