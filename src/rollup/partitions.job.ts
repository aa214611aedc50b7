import type { Handler } from '../queues/context.ts';
import { sql } from '../db/sql.ts';
import { ensureAhead, MONTHS_AHEAD } from '../db/partitions.ts';

/** Make the month partitions of article, article_entity and job_run for now through MONTHS_AHEAD months ahead. */
export const partitions: Handler<'partitions'> = async (_payload, { em, log }) => {
  const created = await em.transactional((tx) => ensureAhead(sql(tx)));
  if (created.length > 0) log.info({ created }, 'created month partitions');
  return { created: created.length, partitions: created.join(','), months_ahead: MONTHS_AHEAD };
};
