import { DelayedError, type Job } from 'bullmq';
import { errorMessage, PermanentError } from '../errors.ts';
import type { JobStats } from '../db/entities.ts';
import { closeRunWith, openRunReading } from '../db/job-runs.ts';
import type { Handler } from '../queues/context.ts';
import type { Queues } from '../queues/queues.ts';
import { acceptHeader, parseSource, requestUrl } from '../sources/index.ts';
import { retryDelayMs } from './host-slots.ts';
import { ingestItems } from './persist.ts';
import { keyItems, prepareKeyed } from './prepare.ts';
import { failureWrite, recordFailure, recordSuccess, successWrite } from './source-state.ts';

/** How soon a manual fetch that found its source busy asks again (it waits, never skips). */
const BUSY_SOURCE_RETRY_MS = 1_000;

/**
 * fetch{sourceId}: take the source's lease (Redis) -> conditional GET within the host's
 * politeness limits -> parse -> score + match -> ONE short transaction that checks the
 * lease's fencing token and stores articles, links, dirty marks, the source's state and this
 * job_run row together. No database connection is held during the HTTP exchange.
 *
 * Scheduled runs skip when another fetch of the source holds the lease; manual runs (CLI,
 * board) wait for it. Both wait for a busy host by going back to the delayed set (not by
 * sleeping in a worker slot).
 */
export const fetchSource: Handler<'fetch'> = async ({ sourceId }, { em, services, job, token, signal, log, run, completeRun }) => {
  const { config, http, scorer, entities, queues, coordination } = services;
  // Jobs made by a scheduler carry its key; a manual run (CLI, board) does not.
  const scheduled = job.repeatJobKey !== undefined;

  const attempt = await coordination.lease(sourceId, (err) => log.warn({ err }, 'could not renew the fetch lease (the commit is fenced either way)'));
  if (!attempt.acquired) {
    if (scheduled) {
      log.info('another fetch of this source is running: skipping');
      return { skipped: 'concurrent' };
    }
    return defer(job, token, Math.min(attempt.heldForMs, BUSY_SOURCE_RETRY_MS) + Math.random() * 250, 'another fetch of this source is running');
  }
  const lease = attempt.lease;
  let unknown = false;
  try {
    // Round trip 1: open this attempt's job_run row and read the source, in one statement.
    const opened = await openRunReading(em, run.start, sourceId);
    run.opened(opened.runId);
    const source = opened.source;
    if (!source) {
      unknown = true;
      throw new PermanentError(`fetch ${sourceId}: unknown source (not in the source table; is it in ${config.sourcesFile}?)`);
    }
    const now = new Date();
    if (scheduled && !source.enabled) return { skipped: 'disabled' };
    if (scheduled && job.attemptsMade === 0 && source.backoff_until && source.backoff_until > now) {
      log.info({ backoff_until: source.backoff_until, failures: source.consecutive_failures }, 'source is backing off: skipping this run');
      return { skipped: 'backoff', backoff_until: source.backoff_until.toISOString(), consecutive_failures: source.consecutive_failures };
    }
    await lease.ensureAbove(source.fence);

    try {
      const url = requestUrl(source.kind, source, now);
      const host = new URL(url).host;
      const slot = await coordination.hostSlot(host, `${job.id ?? 'job'}:${lease.token}`);
      if (!slot.acquired) return await defer(job, token, retryDelayMs(slot.retryInMs, coordination.politeness), `host ${host} is at its politeness limit`);
      let response: Awaited<ReturnType<typeof http.get>>;
      try {
        response = await http.get(url, {
          label: sourceId,
          etag: source.etag,
          lastModified: source.last_modified,
          signal: signal ? AbortSignal.any([signal, lease.lost]) : lease.lost,
          accept: acceptHeader(source.kind),
        });
      } finally {
        // Not awaited: the command leaves now (the next request to the host sees it freed),
        // and the job does not wait a Redis round trip for a reply it does not need.
        slot.release().catch((err: unknown) => log.warn({ err }, 'could not release the host slot (it lapses by itself)'));
      }

      if (response.notModified) {
        // Round trip 2: the fenced source write and the closing of the row, in one statement.
        const result = { fetched: 0, inserted: 0, not_modified: true };
        const closed = await closeRunWith(
          em,
          run.id,
          (db) => successWrite(db, sourceId, lease.token, response, response.fetchedAt).returning('id'),
          { status: 'completed', stats: result },
          { status: 'completed', stats: SUPERSEDED },
        );
        run.closed();
        return closed.applied ? result : superseded(log);
      }

      // Parsing and scoring grow a body many times over in the heap: share a byte budget.
      const releaseBudget = await coordination.budget.acquire(response.body.length);
      let stats: JobStats;
      try {
        const parsed = parseSource(source.kind, { body: response.body, contentType: response.contentType, url: response.url, fetchedAt: response.fetchedAt }, { sourceId });
        const keyed = keyItems(parsed.items);
        stats = await em.transactional(async (tx) => {
          // First, so a stale holder writes nothing at all (and the row lock orders commits).
          if (!(await recordSuccess(tx, sourceId, lease.token, response, response.fetchedAt))) return superseded(log);
          // Scores only the items whose keys it claims, each batch while the previous one is written.
          const stored = await ingestItems(tx, {
            sourceId,
            fetchedAt: response.fetchedAt,
            scorerId: scorer.id,
            items: keyed.items,
            prepare: (batch) => prepareKeyed(batch, scorer, entities),
            trends: parsed.trends.map((t) => ({ ...t, entityIds: entities.match(t.title) })),
            retentionDays: config.retention.articleDays,
          });
          const result: JobStats = {
            format: parsed.format,
            ...parsed.stats,
            bytes: response.body.length,
            fetched: parsed.items.length,
            inserted: stored.inserted,
            duplicates: stored.duplicates + keyed.repeated,
            too_old: stored.tooOld,
            skipped_items: parsed.skipped,
            date_fallbacks: parsed.dateFallbacks,
            entity_links: stored.entityLinks,
            trends: stored.trends,
            trend_links: stored.trendLinks,
            dirty_marks: stored.dirtyMarks,
            not_modified: false,
          };
          await completeRun(tx, result);
          return result;
        });
      } finally {
        releaseBudget();
      }
      if (typeof stats.dirty_marks === 'number' && stats.dirty_marks > 0) await requestRefresh(queues, config.rollupDebounceMs, log);
      return stats;
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      // The failure on the source row and on this attempt's row, in one statement.
      const failed = { status: 'failed', error: errorMessage(err) } as const;
      const recorded = await (run.isOpen
        ? closeRunWith(em.fork(), run.id, (db) => failureWrite(db, sourceId, lease.token, failed.error, new Date()).returning('id'), failed, failed).then((r) => {
            run.closed();
            return r.applied;
          })
        : recordFailure(em.fork(), sourceId, lease.token, failed.error, new Date())
      ).catch((recordErr: unknown) => {
        log.warn({ err: recordErr }, 'could not record the failure on the source row');
        return true;
      });
      if (!recorded) log.info('a newer fetch of this source already committed: this failure is not counted');
      throw err;
    }
  } finally {
    await lease.release({ forget: unknown }).catch((err: unknown) => log.warn({ err }, 'could not release the fetch lease (it lapses by itself)'));
  }
};

/** A fetch whose lease lapsed while it worked, and a newer fetch of the source committed first. */
const SUPERSEDED = { skipped: 'superseded' } as const satisfies JobStats;
function superseded(log: { info: (msg: string) => void }): JobStats {
  log.info('a newer fetch of this source committed first (this one lost its lease): nothing written');
  return SUPERSEDED;
}

/**
 * Puts the job back to wait without holding a worker slot (BullMQ's DelayedError: no attempt
 * is used up). The wrapper drops this attempt's job_run row: it did no work.
 */
async function defer(job: Job, token: string | undefined, delayMs: number, why: string): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.round(delayMs), token);
  throw new DelayedError(`fetch deferred ${Math.round(delayMs)} ms: ${why}`);
}

/**
 * Adds one debounced refresh: every ingest within the window shares it, so rollups are
 * fresh seconds after a fetch without a refresh per fetch. A failure here loses nothing:
 * the marks stay and the scheduled refresh picks them up.
 */
async function requestRefresh(queues: Queues, debounceMs: number, log: { warn: (obj: object, msg: string) => void }): Promise<void> {
  try {
    await queues.rollup.add('refresh', {}, { delay: debounceMs, deduplication: { id: 'refresh-after-ingest', ttl: debounceMs } });
  } catch (err) {
    log.warn({ err }, 'could not enqueue the debounced refresh; the scheduled one will catch up');
  }
}
