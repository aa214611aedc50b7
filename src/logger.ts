import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';

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
    // Connection strings and auth headers must never reach the logs.
    redact: {
      paths: ['password', '*.password', 'databaseUrl', 'redisUrl', '*.databaseUrl', '*.redisUrl', 'headers.authorization', '*.headers.authorization'],
      censor: '[redacted]',
    },
    ...(pretty && canPrettyPrint() ? { transport: { target: 'pino-pretty', options: { colorize } } } : {}),
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
    return '[unparseable url]';
  }
}
