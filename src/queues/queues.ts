import { Queue } from 'bullmq';
import type { Logger } from '../logger.ts';
import type { RedisClient } from './connection.ts';
import { QUEUE_NAMES, type QueueName } from './catalogue.ts';
import { DEFAULT_JOB_OPTIONS } from './job-options.ts';
import { withDeadline } from '../shutdown.ts';
import { queuePrefix } from './keys.ts';

export type Queues = Record<QueueName, Queue>;

/** One producer Queue per catalogue queue, sharing one connection; each under its own prefix (`queuePrefix`). */
export function createQueues(connection: RedisClient, prefix: string, log: Logger): Queues {
  const entries = QUEUE_NAMES.map((name) => {
    const queue = new Queue(name, { connection, prefix: queuePrefix(prefix, name), defaultJobOptions: DEFAULT_JOB_OPTIONS });
    queue.on('error', (err) => log.warn({ err, queue: name }, 'queue connection error'));
    return [name, queue] as const;
  });
  return Object.fromEntries(entries) as Queues;
}

/** Closes every queue, bounded: after a Redis (cluster node) restart a close can wait on a reply that never comes. */
export async function closeQueues(queues: Queues, ms = 2_000): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => withDeadline(q.close(), ms, () => q.disconnect())));
}
