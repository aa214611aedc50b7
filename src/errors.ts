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

/** The one mapping to BullMQ: permanent failures must not be retried. */
export function toBullError(err: unknown): unknown {
  if (err instanceof PermanentError) {
    const unrecoverable = new UnrecoverableError(err.message);
    unrecoverable.cause = err;
    return unrecoverable;
  }
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
