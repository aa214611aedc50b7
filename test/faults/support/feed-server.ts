import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Teardown } from './teardown.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Per path: how often it was asked, and whether two requests for it were ever in flight at once. */
export interface PathStats {
  requests: number;
  inFlight: number;
  maxInFlight: number;
  /** Requests that arrived while another request for the same path was still open. */
  overlaps: number;
}

export interface FeedServer {
  origin: string;
  url(path: string): string;
  route(path: string, handler: Handler): void;
  stats(path: string): PathStats;
  allStats(): Map<string, PathStats>;
}

/**
 * The outside world for the fault suite: a local HTTP server with a handler per path that
 * records, per path, overlapping requests (a request counts as open until its response
 * closes, whether finished or cut by a killed client).
 */
export async function startFeedServer(teardown: Teardown): Promise<FeedServer> {
  const routes = new Map<string, Handler>();
  const stats = new Map<string, PathStats>();
  const sockets = new Set<Socket>();
  const statsOf = (path: string) => {
    let s = stats.get(path);
    if (!s) stats.set(path, (s = { requests: 0, inFlight: 0, maxInFlight: 0, overlaps: 0 }));
    return s;
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const s = statsOf(path);
    s.requests += 1;
    if (s.inFlight > 0) s.overlaps += 1;
    s.inFlight += 1;
    s.maxInFlight = Math.max(s.maxInFlight, s.inFlight);
    res.once('close', () => void (s.inFlight -= 1));
    const handler = routes.get(path);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no route for ${path}`);
      return;
    }
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Endless and slow bodies must not keep the server from closing.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  teardown.add('feed server', async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    origin,
    url: (path) => new URL(path, origin).href,
    route: (path, handler) => void routes.set(path, handler),
    stats: statsOf,
    allStats: () => stats,
  };
}

/** A handler that always answers `body` with `contentType`. */
export function staticBody(body: string | Buffer, contentType = 'application/rss+xml; charset=utf-8', status = 200): Handler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}
