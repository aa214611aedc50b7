import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A real HTTP server on 127.0.0.1 (random port) for tests that fetch: per-path routes, a log of
 * every request (to assert headers such as If-None-Match), and static files from
 * test/fixtures/sources. Shared by every suite that needs "the internet".
 *
 *   const server = await start({ routes: { '/feed': file('rss2.xml'), '/down': { status: 503 } } });
 *   await http.get(server.url('/feed'), …);
 *   expect(server.requests[0]?.headers['user-agent']).toMatch(/newspulse/);
 *   await server.close();
 */

export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/sources/', import.meta.url));

/** A canned answer. `file` is read from the fixtures directory at request time. */
export interface StaticRoute {
  status?: number;
  headers?: Record<string, string | number | string[]>;
  body?: string | Buffer;
  file?: string;
}

/** A handler gets node's request and response; it may be async. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
export type Route = StaticRoute | RouteHandler;

export interface LoggedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  /** Path without query: what routes match. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The client's port: equal ports mean one reused (keep-alive) connection. */
  remotePort: number | undefined;
}

export interface StartOptions {
  /** Exact paths (without query) to routes. */
  routes?: Record<string, Route>;
  /**
   * Serve every file of `dir` (default: the fixtures directory) under this path prefix, e.g.
   * '/fixtures/' makes '/fixtures/rss2.xml' answer with test/fixtures/sources/rss2.xml.
   */
  staticPrefix?: string;
  dir?: string;
}

export interface FixtureServer {
  /** Origin, e.g. http://127.0.0.1:41234. */
  origin: string;
  /** Absolute URL of a path on this server. */
  url(path: string): string;
  /** Every request received, in order. */
  requests: LoggedRequest[];
  /** Adds or replaces a route while running. */
  route(path: string, route: Route): void;
  /** Stops the server, cutting open connections (keep-alive sockets, endless bodies). */
  close(): Promise<void>;
}

export async function start(options: StartOptions = {}): Promise<FixtureServer> {
  const routes = new Map(Object.entries(options.routes ?? {}));
  const dir = options.dir ?? FIXTURES_DIR;
  const requests: LoggedRequest[] = [];

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', path, headers: req.headers, remotePort: req.socket.remotePort });
    const route =
      routes.get(path) ??
      (options.staticPrefix && path.startsWith(options.staticPrefix)
        ? { file: decodeURIComponent(path.slice(options.staticPrefix.length)) }
        : { status: 404, body: `no route for ${path}` });
    Promise.resolve(typeof route === 'function' ? route(req, res) : answer(route, dir, res)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    origin,
    url: (path) => new URL(path, origin).href,
    requests,
    route: (path, route) => void routes.set(path, route),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** A route serving a fixture file, with a content type guessed from its extension unless given. */
export function file(name: string, route: Omit<StaticRoute, 'file'> = {}): StaticRoute {
  return { ...route, file: name };
}

/** A route that redirects to `location` with `status` (default 302). */
export function redirect(location: string, status = 302): StaticRoute {
  return { status, headers: { location }, body: '' };
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.xml': 'application/xml',
  '.rss': 'application/rss+xml',
  '.atom': 'application/atom+xml',
  '.json': 'application/json',
  '.html': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

async function answer(route: StaticRoute, dir: string, res: ServerResponse): Promise<void> {
  let body = route.body ?? '';
  const headers: Record<string, string | number | string[]> = Object.fromEntries(
    Object.entries(route.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
  );
  if (route.file !== undefined) {
    const path = normalize(join(dir, route.file));
    if (!path.startsWith(normalize(dir + sep))) {
      res.writeHead(403).end('outside the fixtures directory');
      return;
    }
    try {
      body = await readFile(path);
    } catch {
      res.writeHead(404).end(`no fixture ${route.file}`);
      return;
    }
    headers['content-type'] ??= CONTENT_TYPES[extname(path)] ?? 'application/octet-stream';
  }
  headers['content-length'] ??= Buffer.byteLength(body);
  res.writeHead(route.status ?? 200, headers).end(body);
}
