import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.ts';

/** One dependency /readyz checks; throws (or rejects) when not ready. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface HealthServerOptions {
  port: number;
  host?: string;
  checks: readonly ReadinessCheck[];
  metrics?: () => Promise<{ contentType: string; body: string }>;
  log: Logger;
  /** Per-check time limit, so a hung dependency reads as "not ready" instead of hanging the probe. */
  checkTimeoutMs?: number;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

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

/** /healthz (process alive), /readyz (every check passes), /metrics (Prometheus). */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const timeoutMs = options.checkTimeoutMs ?? 2_000;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, contentType = 'application/json') => {
      res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'method not allowed' });
    if (path === '/healthz') return send(200, { status: 'ok' });
    if (path === '/readyz') {
      void Promise.all(options.checks.map(async (c) => [c.name, await runCheck(c, timeoutMs)] as const)).then((results) => {
        const ready = results.every(([, r]) => r.ok);
        if (!ready) options.log.warn({ checks: Object.fromEntries(results) }, 'not ready');
        send(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results) });
      });
      return;
    }
    if (path === '/metrics' && options.metrics) {
      void options.metrics().then(
        (m) => send(200, m.body, m.contentType),
        (err: unknown) => send(500, { error: String(err) }),
      );
      return;
    }
    send(404, { error: 'not found', paths: ['/healthz', '/readyz', '/metrics'] });
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
