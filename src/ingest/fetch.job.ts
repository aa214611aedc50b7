import { errorMessage, PermanentError } from '../errors.ts';
import { closeRun } from '../db/job-runs.ts';
import type { JobStats } from '../db/entities.ts';
import { sql } from '../db/sql.ts';
import type { Handler } from '../queues/context.ts';
import type { Queues } from '../queues/queues.ts';
import { acceptHeader, parseSource, requestUrl } from '../sources/index.ts';
import { persistItems } from './persist.ts';
import { prepareArticles } from './prepare.ts';
import { lockSource, recordFailure, recordSuccess } from './source-state.ts';

/**
 * fetch{sourceId}: conditional GET -> parse -> score + match -> one transaction that
 * stores articles, links, dirty marks, the source's state and this job_run row together.
 */
export const fetchSource: Handler<'fetch'> = async ({ sourceId }, { em, services, job, signal, runId, log }) => {
  const { config, http, scorer, entities, queues } = services;
  const source = await sql(em).selectFrom('source').selectAll().where('id', '=', sourceId).executeTakeFirst();
  if (!source) throw new PermanentError(`fetch ${sourceId}: unknown source (not in the source table; is it in ${config.sourcesFile}?)`);
  // Jobs made by a scheduler carry its key; a manual run (CLI, board) does not.
  const scheduled = job.repeatJobKey !== undefined;
  const now = new Date();
  if (scheduled && !source.enabled) return { skipped: 'disabled' };
  if (scheduled && job.attemptsMade === 0 && source.backoff_until && source.backoff_until > now) {
    log.info({ backoff_until: source.backoff_until, failures: source.consecutive_failures }, 'source is backing off: skipping this run');
    return { skipped: 'backoff', backoff_until: source.backoff_until.toISOString(), consecutive_failures: source.consecutive_failures };
  }

  let stats: JobStats;
  try {
    stats = await em.transactional(async (tx) => {
      if (!(await lockSource(tx, sourceId, scheduled ? 'try' : 'wait'))) {
        log.info('another fetch of this source is running: skipping');
        return { skipped: 'concurrent' };
      }
      const url = requestUrl(source.kind, source, now);
      const response = await http.get(url, { label: sourceId, etag: source.etag, lastModified: source.last_modified, signal, accept: acceptHeader(source.kind) });
      if (response.notModified) {
        await recordSuccess(tx, sourceId, response, response.fetchedAt);
        const result = { fetched: 0, inserted: 0, not_modified: true };
        await closeRun(tx, runId, { status: 'completed', stats: result });
        return result;
      }
      const parsed = parseSource(source.kind, { body: response.body, contentType: response.contentType, url: response.url, fetchedAt: response.fetchedAt }, { sourceId });
      const prepared = prepareArticles(parsed.items, scorer, entities);
      const stored = await persistItems(tx, {
        sourceId,
        fetchedAt: response.fetchedAt,
        scorerId: scorer.id,
        articles: prepared.articles,
        trends: parsed.trends.map((t) => ({ ...t, entityIds: entities.match(t.title) })),
      });
      await recordSuccess(tx, sourceId, response, response.fetchedAt);
      const result: JobStats = {
        format: parsed.format,
        ...parsed.stats,
        bytes: response.body.length,
        fetched: parsed.items.length,
        inserted: stored.inserted,
        duplicates: stored.duplicates + prepared.repeated,
        skipped_items: parsed.skipped,
        date_fallbacks: parsed.dateFallbacks,
        entity_links: stored.entityLinks,
        trends: stored.trends,
        trend_links: stored.trendLinks,
        dirty_marks: stored.dirtyMarks,
        not_modified: false,
      };
      await closeRun(tx, runId, { status: 'completed', stats: result });
      return result;
    });
  } catch (err) {
    await recordFailure(em.fork(), sourceId, errorMessage(err), new Date()).catch((recordErr: unknown) =>
      log.warn({ err: recordErr }, 'could not record the failure on the source row'),
    );
    throw err;
  }
  if (typeof stats.dirty_marks === 'number' && stats.dirty_marks > 0) await requestRefresh(queues, config.rollupDebounceMs, log);
  return stats;
};

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
