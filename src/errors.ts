import { UnrecoverableError } from 'bullmq';

/**
 * A failure worth retrying (network, timeout, 408/429/5xx, a database that went away).
 * `retryAfterMs` is the least delay the other side asked for (Retry-After).
 */
export class TransientError extends Error {
  override name = 'TransientError';
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, { cause: options?.cause });
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** A failure that will fail again the same way (4xx, unparseable body, bad config). */
export class PermanentError extends Error {
  override name = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { cause: options?.cause });
  }
}

/**
 * An expected failure's "stack" as BullMQ stores it (the board shows it): the message and its
 * causes, not the frames of the wrapper that classified it.
 */
function causeChain(err: Error): string {
  const lines = [`${err.name}: ${err.message}`];
  let cause: unknown = err.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    lines.push(`  caused by: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : errorMessage(cause)}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return lines.join('\n');
}

/** The one mapping to BullMQ: permanent failures must not be retried. */
export function toBullError(err: unknown): unknown {
  if (err instanceof PermanentError) {
    const unrecoverable = new UnrecoverableError(err.message);
    unrecoverable.cause = err;
    unrecoverable.stack = causeChain(err);
    return unrecoverable;
  }
  if (err instanceof TransientError) err.stack = causeChain(err);
  return err;
}

/** Best-effort message of anything thrown, including non-Errors. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
