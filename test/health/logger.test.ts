import { describe, expect, it } from 'vitest';
import { PermanentError, toBullError, TransientError } from '../../src/errors.ts';
import { serializeError } from '../../src/logger.ts';

describe('error logging', () => {
  it('logs an expected (classified) failure as its message and causes, without stacks', () => {
    const err = new TransientError('fetch bbc: HTTP 503 Service Unavailable from https://example.org/feed', { cause: new Error('upstream said no') });
    expect(serializeError(err)).toEqual({ type: 'TransientError', message: err.message, causes: ['Error: upstream said no'] });
    expect(serializeError(new PermanentError('fetch bbc: HTTP 404 Not Found from https://example.org/feed'))).toEqual({
      type: 'PermanentError',
      message: 'fetch bbc: HTTP 404 Not Found from https://example.org/feed',
    });
  });

  it('keeps the stack of anything unexpected', () => {
    const serialized = serializeError(new TypeError('cannot read properties of undefined')) as { type: string; stack: string };
    expect(serialized.type).toBe('TypeError');
    expect(serialized.stack).toMatch(/^TypeError: cannot read properties of undefined\n\s+at /);
  });

  it('gives BullMQ the message and causes as the stack of a failed job, not wrapper frames', () => {
    const permanent = toBullError(new PermanentError('parse x: unexpected root element <html>', { cause: new Error('inner') })) as Error;
    expect(permanent.stack).toBe('PermanentError: parse x: unexpected root element <html>\n  caused by: Error: inner');
    const transient = toBullError(new TransientError('fetch x: network error ECONNRESET')) as Error;
    expect(transient.stack).toBe('TransientError: fetch x: network error ECONNRESET');
  });
});
