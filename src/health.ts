import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.ts';

/** One dependency /readyz checks; throws (or rejects) when not ready. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/** What liveness reports: null while the process makes progress, else why it is stuck. */
export interface Liveness {
  stalled(): { since: Date; reason: string } | null;
}

/** Everything /readyz, /livez and /metrics need once the process has started. */
export interface Started {
  checks: readonly ReadinessCheck[];
  liveness?: Liveness;
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

export interface HealthServerOptions {
  port: number;
  host?: string;
  log: Logger;
  /** Per-check time limit, so a hung dependency reads as "not ready" instead of hanging the probe. */
  checkTimeoutMs?: number;
}

export interface HealthServer {
  port: number;
  /** Start finished: /readyz runs the checks (it answers 503 "starting" until then). */
  started(state: Started): void;
  close(): Promise<void>;
}

const PATHS = ['/livez', '/healthz', '/readyz', '/metrics'];

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The probes. It listens first thing, before migrations and scheduler sync, so a slow start is
 * "starting", not "connection refused":
 * - /livez (and /healthz, the same): 200 while the process makes progress; 503 once its workers
 *   are wedged (jobs due past READINESS_STALL, waiting or delayed, with free slots). Wire the orchestrator's
 *   liveness probe here: a restart is the cure for a wedged consumer.
 * - /readyz: 503 "starting" until start finished, then 200 only when every check passes
 *   (Postgres, Redis, workers consuming). Wire readiness here: it also goes red during a
 *   Postgres or Redis outage, which a restart would not fix.
 * - /metrics: Prometheus text.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const timeoutMs = options.checkTimeoutMs ?? 2_000;
  let state: Started | null = null;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, contentType = 'application/json') => {
      res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'method not allowed' });
    if (path === '/livez' || path === '/healthz') {
      const stalled = state?.liveness?.stalled() ?? null;
      if (!stalled) return send(200, { status: state ? 'ok' : 'starting' });
      return send(503, { status: 'stalled', since: stalled.since.toISOString(), reason: stalled.reason });
    }
    if (path === '/readyz') {
      if (!state) return send(503, { status: 'starting' });
      const { checks } = state;
      void Promise.all(checks.map(async (c) => [c.name, await runCheck(c, timeoutMs)] as const)).then((results) => {
        const ready = results.every(([, r]) => r.ok);
        if (!ready) options.log.warn({ checks: Object.fromEntries(results) }, 'not ready');
        send(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results) });
      });
      return;
    }
    if (path === '/metrics') {
      const metrics = state?.metrics;
      if (!metrics) return send(state ? 404 : 503, { error: state ? 'no metrics' : 'starting' });
      void metrics().then(
        (m) => send(200, m.body, m.contentType),
        (err: unknown) => send(500, { error: String(err) }),
      );
      return;
    }
    send(404, { error: 'not found', paths: PATHS });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  server.on('error', (err) => options.log.error({ err }, 'health server error'));
  const port = (server.address() as AddressInfo).port;
  options.log.info({ port }, 'health endpoints listening');
  return {
    port,
    started: (s) => {
      state = s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
