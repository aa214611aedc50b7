import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import { PermanentError, TransientError } from './errors.ts';

export type { Logger };

/**
 * The pino root. JSON everywhere except an interactive terminal, where pino-pretty (a dev
 * dependency) is used when installed; the container never has a TTY so never needs it.
 */
export function createLogger(level: string, options: { pretty?: boolean; env?: NodeJS.ProcessEnv } = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  // https://no-color.org: any non-empty NO_COLOR turns colours off.
  const colorize = !(options.env ?? process.env).NO_COLOR;
  return pino({
    level,
    // hostname: in a container it is the container id, what tells 50 replicas (all pid 1) apart.
    base: { pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: serializeError },
    // Connection strings and auth headers must never reach the logs.
    redact: {
      paths: ['password', '*.password', 'databaseUrl', 'redisUrl', '*.databaseUrl', '*.redisUrl', 'headers.authorization', '*.headers.authorization'],
      censor: '[redacted]',
    },
    ...(pretty && canPrettyPrint() ? { transport: { target: 'pino-pretty', options: { colorize, singleLine: true } } } : {}),
  });
}

/**
 * Classified failures (a 404, a 500, a timeout) are expected: their message says everything, so
 * they log without stacks (one line on a terminal). Anything else keeps pino's full error.
 */
export function serializeError(err: unknown): unknown {
  if (!(err instanceof TransientError || err instanceof PermanentError)) return pino.stdSerializers.err(err as Error);
  const causes: string[] = [];
  let cause: unknown = err.cause;
  for (let depth = 0; cause instanceof Error && depth < 5; depth++) {
    causes.push(`${cause.name}: ${cause.message}`);
    cause = cause.cause;
  }
  return { type: err.name, message: err.message, ...(causes.length ? { causes } : {}) };
}

function canPrettyPrint(): boolean {
  try {
    import.meta.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** Hides the password in a connection URL for log lines and error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // redis+cluster://user:pass@h1:p1,h2:p2 is not a WHATWG URL (a host list): redact by shape.
    if (/^rediss?\+cluster:\/\/[^/\s]*$/i.test(url)) return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
    return '[unparseable url]';
  }
}
