import { DelayedError, type Job } from 'bullmq';
import { errorMessage, PermanentError } from '../errors.ts';
import type { JobStats } from '../db/entities.ts';
import { closeRunWith, openRunReading, readSource, type FetchSource } from '../db/job-runs.ts';
import type { Handler } from '../queues/context.ts';
import type { Queues } from '../queues/queues.ts';
import { acceptHeader, parseSource, requestUrl } from '../sources/index.ts';
import { retryDelayMs, type HeldSlot } from './host-slots.ts';
import type { ClaimAttempt } from './fetch-claim.ts';
import type { SourceLease } from './source-lease.ts';
import { ingestItems } from './persist.ts';
import { keyItems, prepareKeyed } from './prepare.ts';
import { failureWrite, recordFailure, recordSuccess, successWrite } from './source-state.ts';

/** A claim as the handler holds it: the lease, with a host slot unless the run will not fetch. */
type Claim = Exclude<ClaimAttempt, { acquired: true }> | { acquired: true; lease: SourceLease; slot: HeldSlot | undefined };

/** How soon a manual fetch that found its source busy asks again (it waits, never skips). */
const BUSY_SOURCE_RETRY_MS = 1_000;

/**
 * fetch{sourceId}: read the source (Postgres) and take the source's lease and a politeness
 * slot on its host together (Redis, one script) -> conditional GET -> parse -> score + match
 * -> ONE short transaction that checks the lease's fencing token and stores articles, links,
 * dirty marks, the source's state and this job_run row together. No database connection is
 * held during the HTTP exchange.
 *
 * The row is read before the lease is taken, or while it is taken (when this process's last
 * run of the source left a hint of its host), so the handler only trusts that read when the
 * fencing token proves no fetch could have committed after it: the token is the stored
 * fence + 1 (every earlier holder either committed before the read or is fenced out).
 * Otherwise it reads the row again, under the lease. A small 304 fetch thus costs two
 * statements and two Redis commands, one of which (the release) it does not wait for, in
 * three waits: the read and the claim together, the GET, the closing statement.
 *
 * Scheduled runs skip when another fetch of the source holds the lease; manual runs (CLI,
 * board) wait for it. Both wait for a busy host by going back to the delayed set (not by
 * sleeping in a worker slot).
 */
export const fetchSource: Handler<'fetch'> = async ({ sourceId }, { em, services, job, token, signal, log, run, completeRun }) => {
  const { config, http, scorer, entities, queues, coordination } = services;
  // Jobs made by a scheduler carry its key; a manual run (CLI, board) does not.
  const scheduled = job.repeatJobKey !== undefined;
  const onRenewError = (err: unknown) => log.warn({ err }, 'could not renew the fetch lease (the commit is fenced either way)');
  const unknownSource = () => new PermanentError(`fetch ${sourceId}: unknown source (not in the source table; is it in ${config.sourcesFile}?)`);
  /** Why a scheduled run of `source` does not fetch now, or null. Manual runs always fetch. */
  const skipOf = (row: FetchSource, now: Date): JobStats | null => {
    if (!scheduled) return null;
    if (!row.enabled) return { skipped: 'disabled' };
    if (job.attemptsMade === 0 && row.backoff_until && row.backoff_until > now) {
      return { skipped: 'backoff', backoff_until: row.backoff_until.toISOString(), consecutive_failures: row.consecutive_failures };
    }
    return null;
  };

  // Round trips 1 and 2: open this attempt's job_run row and read the source (Postgres, one
  // statement); take the source's lease and a politeness slot on its host (Redis, one script).
  // When this process's last run of the source fetched, the claim goes out beside the read,
  // on the host that run used (see host-hints.ts); otherwise it waits for the row.
  const holder = job.id ?? 'job';
  const hintedHost = coordination.hostHints.get(sourceId);
  const early = hintedHost === undefined ? undefined : coordination.claim(sourceId, hintedHost, holder, onRenewError, { early: true });
  // Awaited below; until then a rejection must not count as unhandled.
  early?.catch(() => undefined);
  const dropEarly = (forget: boolean) =>
    void early?.then(
      (claim) => {
        if (claim.acquired) claim.lease.release({ forget, slot: claim.slot }).catch((err: unknown) => log.warn({ err }, 'could not release the fetch lease (it lapses by itself)'));
      },
      () => undefined,
    );
  let opened: Awaited<ReturnType<typeof openRunReading>>;
  try {
    opened = await openRunReading(em, run.start, sourceId);
  } catch (err) {
    dropEarly(false);
    throw err;
  }
  run.opened(opened.run);
  let source = opened.source;
  if (!source) {
    dropEarly(true);
    throw unknownSource();
  }
  let slotHost = hostOf(source);
  // A scheduled run that the row says will skip takes the lease alone (it confirms the skip
  // under the lease), so a run that sends no request never stamps its host's interval.
  const fetchHost = skipOf(source, new Date()) === null ? slotHost : undefined;
  const claimForRow = async (): Promise<Claim> => {
    if (fetchHost !== undefined) return coordination.claim(sourceId, fetchHost, holder, onRenewError);
    const attempt = await coordination.lease(sourceId, onRenewError);
    return attempt.acquired ? { acquired: true, lease: attempt.lease, slot: undefined } : { acquired: false, busy: 'source', heldForMs: attempt.heldForMs };
  };
  let claim: Claim;
  if (early) {
    claim = await early;
    if (hintedHost !== fetchHost) {
      // The row does not bear the hint out: drop the slot it took (the lease stands, and the
      // request's own host is asked for a slot below), or ask again for the claim the row calls
      // for when only the hinted host was busy. The hint goes too, so a run deferred from here
      // claims after its read next time instead of spending another token on the wrong host.
      coordination.hostHints.forget(sourceId);
      if (claim.acquired) {
        claim.slot?.release().catch((err: unknown) => log.warn({ err }, 'could not release the host slot (it lapses by itself)'));
        claim = { ...claim, slot: undefined };
      } else if (claim.busy === 'host') claim = await claimForRow();
    }
  } else claim = await claimForRow();

  const busySource = (heldForMs: number): Promise<JobStats> => {
    if (scheduled) {
      log.info('another fetch of this source is running: skipping');
      return Promise.resolve({ skipped: 'concurrent' });
    }
    return defer(job, token, Math.min(heldForMs, BUSY_SOURCE_RETRY_MS) + Math.random() * 250, 'another fetch of this source is running');
  };
  const busyHost = (host: string | undefined, retryInMs: number): Promise<never> =>
    defer(job, token, retryDelayMs(retryInMs, coordination.politeness), `host ${host} is at its politeness limit`);
  if (!claim.acquired) {
    if (claim.busy === 'source') return busySource(claim.heldForMs);
    return busyHost(slotHost, claim.retryInMs);
  }
  const lease = claim.lease;
  let slot = claim.slot;
  let unknown = false;
  try {
    await lease.ensureAbove(source.fence);
    if (lease.token !== source.fence + 1) {
      // A fetch was granted the source after the last commit the read saw (it skipped, was
      // deferred, failed before committing, or committed after the read): read again, under the lease.
      const fresh = await readSource(em, sourceId);
      if (!fresh) {
        unknown = true;
        throw unknownSource();
      }
      source = fresh;
    }
    const now = new Date();
    const skip = skipOf(source, now);
    // When only the row read again says skip (a rare race), the claim already stamped the
    // host's last start for a request never sent: politeness errs on the strict side.
    if (skip) {
      coordination.hostHints.forget(sourceId);
      if (skip.skipped === 'backoff') log.info({ backoff_until: source.backoff_until, failures: source.consecutive_failures }, 'source is backing off: skipping this run');
      return skip;
    }

    try {
      const url = requestUrl(source.kind, source, now);
      const host = new URL(url).host;
      if (!slot || host !== slotHost) {
        // Claimed with the lease alone, or the row read again names another host: a slot on this one.
        const previous = slot;
        slot = undefined;
        previous?.release().catch((err: unknown) => log.warn({ err }, 'could not release the host slot (it lapses by itself)'));
        const taken = await coordination.hostSlot(host, `${holder}:${lease.token}`);
        if (!taken.acquired) return await busyHost(host, taken.retryInMs);
        slot = taken;
        slotHost = host;
      }
      const held = slot;
      // An early claim stamped its host's start ahead; a run slower than that lead (a slow read,
      // a second read) moves the stamp to now, or waits like a busy host.
      const startWait = await held.confirmStart();
      if (startWait > 0) return await busyHost(host, startWait);
      let response: Awaited<ReturnType<typeof http.get>>;
      try {
        response = await http.get(url, {
          label: sourceId,
          etag: source.etag,
          lastModified: source.last_modified,
          signal: signal ? AbortSignal.any([signal, lease.lost]) : lease.lost,
          accept: acceptHeader(source.kind),
        });
      } catch (err) {
        held.release().catch((releaseErr: unknown) => log.warn({ err: releaseErr }, 'could not release the host slot (it lapses by itself)'));
        throw err;
      }
      coordination.hostHints.set(sourceId, host);
      // A 304 keeps its slot over its one closing statement and frees it with the lease, in one
      // round trip; a body to parse and store frees it now (not awaited: the command leaves at
      // once, and the job does not wait a round trip for a reply it does not need).
      if (!response.notModified) held.release().catch((err: unknown) => log.warn({ err }, 'could not release the host slot (it lapses by itself)'));

      if (response.notModified) {
        // Round trip 3 (Postgres): the fenced source write and the closing of the row, in one
        // statement; then the lease and the slot are freed in one script (not waited for).
        const result = { fetched: 0, inserted: 0, not_modified: true };
        const closed = await closeRunWith(
          em,
          run.row,
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
      // Failures lead to backoff, in which scheduled runs skip: the next run reads before it claims.
      coordination.hostHints.forget(sourceId);
      // The failure on the source row and on this attempt's row, in one statement.
      const failed = { status: 'failed', error: errorMessage(err) } as const;
      const recorded = await (run.isOpen
        ? closeRunWith(em.fork(), run.row, (db) => failureWrite(db, sourceId, lease.token, failed.error, new Date()).returning('id'), failed, failed).then((r) => {
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
    // Not awaited: the script is written now, before BullMQ hears the job finished, on the
    // client every later claim from this process goes through, so Redis runs it before any
    // of them (a claim from another process was never ordered after this job's end anyway;
    // nor is the rare resend of a script Redis had not cached, which a claim meeting the lease
    // still held treats as a busy source). The job does not wait a round trip for a reply it
    // does not need; on shutdown the client's QUIT goes out after it.
    lease.release({ forget: unknown, slot }).catch((err: unknown) => log.warn({ err }, 'could not release the fetch lease (it lapses by itself)'));
  }
};

/**
 * The host a source's request goes to, or undefined when its URL cannot be built: that error
 * is raised again where the request is made, and recorded on the source like any failure.
 */
function hostOf(source: FetchSource): string | undefined {
  try {
    return new URL(requestUrl(source.kind, source, new Date())).host;
  } catch {
    return undefined;
  }
}

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
