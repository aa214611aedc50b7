import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The pino root. JSON everywhere except an interactive terminal, where pino-pretty (a dev
 * dependency) is used when installed; the container never has a TTY so never needs it.
 */
export function createLogger(level: string, options: { pretty?: boolean } = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  return pino({
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Connection strings and auth headers must never reach the logs.
    redact: {
      paths: ['password', '*.password', 'databaseUrl', 'redisUrl', '*.databaseUrl', '*.redisUrl', 'headers.authorization', '*.headers.authorization'],
      censor: '[redacted]',
    },
    ...(pretty && canPrettyPrint() ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
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
