/**
 * The long-lived things jobs share, built once per process by plain functions (no DI
 * container) and passed to every handler through its context.
 */
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Orm } from './db/orm.ts';
import type { Queues } from './queues/queues.ts';
import type { createHttpClient } from './sources/http.ts';
import type { SentimentScorer } from './ingest/sentiment.ts';
import type { EntityIndex } from './ingest/entities.ts';
import type { Metrics } from './metrics.ts';
import type { FetchCoordination } from './ingest/coordination.ts';

export type HttpClient = ReturnType<typeof createHttpClient>;

export interface Services {
  config: Config;
  log: Logger;
  orm: Orm;
  /** Producers, for jobs that enqueue other jobs (ingest -> debounced refresh). */
  queues: Queues;
  http: HttpClient;
  scorer: SentimentScorer;
  /** Entities matched against every article, loaded from the entity table. */
  entities: EntityIndex;
  metrics: Metrics;
  /** Per-source leases and per-host slots across workers, and this process's parse budget. */
  coordination: FetchCoordination;
}
