import { QUEUES, type QueueName } from '../queues/catalogue.ts';
import type { Handler } from '../queues/context.ts';
import { reapOrphanedRuns } from './reap.ts';

/** A run younger than this may belong to a job that is only just starting. */
const REAP_AFTER_MS = 60_000;

const isQueueName = (name: string): name is QueueName => Object.hasOwn(QUEUES, name);

/** Mark job_run rows whose BullMQ job is no longer active as abandoned. */
export const reap: Handler<'reap'> = async (_payload, { em, services }) => {
  const stats = await reapOrphanedRuns(
    em,
    async (queue, jobId) => {
      if (!isQueueName(queue)) return false;
      const job = await services.queues[queue].getJob(jobId);
      return (await job?.getState()) === 'active';
    },
    { olderThanMs: REAP_AFTER_MS },
  );
  return { ...stats };
};
