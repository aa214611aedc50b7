import type { Job } from 'bullmq';
import type { Queues } from '../queues/queues.ts';
import { JOBS, type JobName } from '../queues/catalogue.ts';
import { jobTitle, presentResult } from '../board/present.ts';

export interface Outcome {
  id: string | undefined;
  queue: string;
  name: string;
  data: unknown;
  state: string;
  result?: unknown;
  failure?: string;
  attempts: number;
}

const POLL_MS = 300;
const BAR_WIDTH = 30;

/** The shape rebuild reports; any other progress is shown as it is. */
function describeProgress(progress: unknown): { percent: number | null; text: string } {
  if (typeof progress === 'number') return { percent: progress, text: `${progress}%` };
  if (progress && typeof progress === 'object' && 'percent' in progress && typeof progress.percent === 'number') {
    const p = progress as { percent: number; done?: number; total?: number };
    return { percent: p.percent, text: p.total !== undefined ? `${p.done ?? 0}/${p.total}` : `${p.percent}%` };
  }
  return { percent: null, text: '' };
}

/** "fetch bbc-business", "rebuild from=… to=…": the board's title without the outcome. */
function label(job: Job): string {
  return jobTitle({ name: job.name, data: job.data });
}

/** key=value pairs in snake_case, null fields left out (presentResult). */
function summary(name: string, stats: unknown): string {
  const shown = presentResult(name, stats);
  if (!shown || typeof shown !== 'object') return String(shown ?? '');
  return Object.entries(shown)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

/**
 * Follows jobs to their end: a progress bar on a TTY, plain lines otherwise, a retry line
 * when an attempt fails, and a one-line summary per job.
 */
export async function followJobs(queues: Queues, jobs: Job[], options: { json: boolean; out: NodeJS.WritableStream; tty: boolean }): Promise<Outcome[]> {
  const { out } = options;
  const say = (line: string) => {
    if (!options.json) out.write(`${line}\n`);
  };
  const outcomes = await Promise.all(
    jobs.map(async (initial) => {
      const queue = queues[JOBS[initial.name as JobName].queue];
      const started = Date.now();
      let lastProgress = '';
      let lastAttempts = 0;
      say(`${label(initial)}: enqueued as ${initial.queueName}/${initial.id}`);
      for (;;) {
        // State first, then the job: a job read before it finished would carry no result.
        const state = await queue.getJobState(initial.id!);
        const job = await queue.getJob(initial.id!);
        if (!job || state === 'unknown') return { id: initial.id, queue: initial.queueName, name: initial.name, data: initial.data, state: 'missing', failure: 'job disappeared (removed from Redis)', attempts: lastAttempts };
        if (job.attemptsMade > lastAttempts && state !== 'completed' && state !== 'failed') {
          say(`${label(job)}: attempt ${job.attemptsMade} failed (${job.failedReason}); retrying`);
        }
        lastAttempts = job.attemptsMade;
        const progress = describeProgress(job.progress);
        // Shown while active, and once more at the end if a fast job finished between polls.
        const finished = state === 'completed' || state === 'failed';
        if (progress.percent !== null && progress.percent > 0 && progress.text !== lastProgress && (state === 'active' || finished)) {
          lastProgress = progress.text;
          if (options.tty && !options.json && jobs.length === 1) {
            const filled = Math.round((progress.percent / 100) * BAR_WIDTH);
            out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${progress.percent.toFixed(0).padStart(3)}% ${progress.text}`);
          } else {
            say(`${label(job)}: progress ${progress.percent.toFixed(0)}% (${progress.text})`);
          }
        }
        if (finished) {
          if (options.tty && !options.json && lastProgress && jobs.length === 1) out.write('\n');
          const seconds = ((Date.now() - started) / 1000).toFixed(1);
          if (state === 'completed') say(`${label(job)}: completed in ${seconds}s: ${summary(job.name, job.returnvalue)}`);
          else say(`${label(job)}: FAILED after ${job.attemptsMade} attempt(s): ${job.failedReason}`);
          return {
            id: job.id,
            queue: job.queueName,
            name: job.name,
            data: job.data,
            state,
            attempts: job.attemptsMade,
            ...(state === 'completed' ? { result: presentResult(job.name, job.returnvalue) } : { failure: job.failedReason }),
          };
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    }),
  );
  if (options.json) for (const o of outcomes) out.write(`${JSON.stringify(o)}\n`);
  return outcomes;
}
