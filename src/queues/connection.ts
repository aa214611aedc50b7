import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseRedisTarget, type RedisTarget } from './redis-target.ts';
import { withDeadline } from '../shutdown.ts';

/**
 * Workers block on Redis and must retry forever (BullMQ requires maxRetriesPerRequest:
 * null). Producers (CLI, HTTP) must fail fast instead of queueing commands offline.
 */
export type RedisRole = 'worker' | 'producer';

/** A single node or a Redis Cluster: BullMQ accepts either as its connection. */
export type RedisClient = Redis | Cluster;

/** How long a TCP connect may take, for both roles. */
export const CONNECT_TIMEOUT_MS = 5_000;
/**
 * A producer's command (and the handshake: HELLO, the ready check) may wait this long for an
 * answer: a port that accepts but never answers fails within seconds instead of hanging.
 * Workers get no command timeout: BullMQ's blocking commands legitimately wait.
 */
export const PRODUCER_COMMAND_TIMEOUT_MS = 5_000;

function nodeOptions(role: RedisRole): RedisOptions {
  return role === 'worker'
    ? { maxRetriesPerRequest: null, enableReadyCheck: true, connectTimeout: CONNECT_TIMEOUT_MS }
    : { maxRetriesPerRequest: 1, connectTimeout: CONNECT_TIMEOUT_MS, commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS };
}

const workerRetry = (times: number) => Math.min(times * 200, 5_000);
const producerRetry = (times: number) => (times > 3 ? null : 200 * times);

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}, clusterNodes?: string): RedisClient {
  return createRedisFor(parseRedisTarget(url, clusterNodes), role, extra);
}

export function createRedisFor(target: RedisTarget, role: RedisRole, extra: RedisOptions = {}): RedisClient {
  if (target.kind === 'single') {
    const options: RedisOptions = { ...nodeOptions(role), retryStrategy: role === 'worker' ? workerRetry : producerRetry, ...(role === 'producer' ? { enableOfflineQueue: false } : {}) };
    return new Redis(target.url, { ...options, ...extra });
  }
  const { lazyConnect, ...redisExtra } = extra;
  const redisOptions: ClusterOptions['redisOptions'] = {
    ...nodeOptions(role),
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
    ...(target.tls ? { tls: {} } : {}),
    ...(redisExtra as ClusterOptions['redisOptions']),
  };
  const options: ClusterOptions = {
    redisOptions,
    // A producer with the offline queue off would fail its first command: the slot map is
    // not loaded yet. Its connect() is bounded by the ready timeout in connectWithin instead.
    enableOfflineQueue: true,
    // Workers: no cluster ready check. When it fails (CLUSTER INFO says cluster_state:fail, as
    // it does for seconds after a master restart) ioredis 6 reconnects from inside connect()
    // after dropping that call's close listener, so the promise connect() returned never
    // settles. BullMQ awaits exactly that promise when it resets its blocking connection
    // (RedisConnection.reconnect after its bzpopmin watchdog fired): the Worker's fetch loop
    // then waits forever with every connection "ready" (issue 9's wedge, 5 of 12 restarts in
    // bench/wedge-repro.ts). Without the check connect() settles on the slots refresh, and
    // commands that meet CLUSTERDOWN are retried (retryDelayOnClusterDown below). Producers
    // keep the check: their connect is bounded by connectWithin and should not report ready
    // on a failed cluster.
    enableReadyCheck: role === 'producer',
    clusterRetryStrategy: role === 'worker' ? workerRetry : producerRetry,
    // A restarted or failed-over node comes back under the same address: reconnect to it.
    clusterNodeRetryStrategy: (times) => Math.min(100 * times, 2_000),
    slotsRefreshTimeout: 2_000,
    // A command meets a restarting or failing-over master as "connection closed" or CLUSTERDOWN;
    // each retry counts as a redirection: 120 x 250 ms rides out ~30 s instead of ioredis' ~2 s.
    retryDelayOnFailover: 250,
    retryDelayOnClusterDown: 250,
    retryDelayOnTryAgain: 250,
    maxRedirections: 120,
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
  };
  return new Cluster(target.nodes, options);
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * QUIT, bounded: a cluster client whose node was restarted can leave QUIT unanswered, and a
 * worker role has no command timeout; past `ms` the sockets are simply closed.
 */
export async function closeRedis(client: RedisClient, ms = 2_000): Promise<void> {
  await withDeadline(
    client.quit().then(
      () => undefined,
      () => client.disconnect(),
    ),
    ms,
    () => client.disconnect(),
  );
}
