import type { Job } from 'bullmq';
import type { Logger } from '../logger.ts';
import type { EntityManager } from '../db/orm.ts';
import type { JobStats } from '../db/entities.ts';
import type { JobName, JobPayload } from './catalogue.ts';
import type { OpenedRun, RunStart } from '../db/job-runs.ts';
import type { Services } from '../services.ts';

/** What every handler receives besides its payload. */
export interface JobContext {
  /** A fresh EntityManager forked for this job only. */
  em: EntityManager;
  /** Child logger carrying queue, job and source ids. */
  log: Logger;
  job: Job;
  /** Aborted when the worker cancels the job or shuts down past its grace period. */
  signal: AbortSignal | undefined;
  /** This attempt's job_run row; a handler may close it inside its own transaction. */
  run: RunRef;
  /**
   * Closes this attempt's job_run row as completed inside the handler's transaction, so the
   * results and the row commit together; the wrapper then does not touch the row again.
   */
  completeRun(tx: EntityManager, stats: JobStats): Promise<void>;
  /** The worker's lock token for this job: needed to move it back to delayed (DelayedError). */
  token: string | undefined;
  services: Services;
}

/** A job handler: checks nothing itself (the wrapper validated the payload) and returns stats. */
export type Handler<N extends JobName> = (payload: JobPayload<N>, ctx: JobContext) => Promise<JobStats>;

/** One handler per job in the catalogue: a missing one is a type error. */
export type HandlerMap = { [N in JobName]: Handler<N> };

/**
 * This attempt's job_run row. The wrapper opens it before the handler runs, except for jobs
 * marked `opensRun` in the catalogue: those open it themselves in the statement that reads
 * what they need (one round trip instead of two), and tell the wrapper with `opened`.
 */
export interface RunRef {
  /** What the row records. */
  readonly start: RunStart;
  /** The open row; throws when it is not open yet. */
  readonly row: OpenedRun;
  readonly isOpen: boolean;
  opened(row: OpenedRun): void;
  /** The handler closed the row itself (with its results): the wrapper leaves it alone. */
  closed(): void;
}
