/**
 * The demo's "internet": a small HTTP server on 127.0.0.1 serving the bundled samples in
 * src/demo/samples/ with their timestamps moved to the recent past, on the paths the real
 * adapters request (src/sources/*.ts), so the worker fetches them exactly as it would fetch
 * the real services.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SourceKind } from '../sources/types.ts';

const SAMPLES_DIR = new URL('./samples/', import.meta.url);

/** One bundled source: where it is served and which sample answers. */
export interface DemoSource {
  /** Source id in the demo sources file. */
  id: string;
  kind: SourceKind;
  /** Path served (the query string is ignored, as the adapters append their own). */
  path: string;
  sample: string;
  contentType: string;
  /** What the sources file gives the adapter as `url`: the path itself, or the origin for adapters that build their own path. */
  url: 'path' | 'origin';
  query?: string;
  every: string;
}

/**
 * The bundled sources. Paths follow the adapters: GDELT keeps the base URL's path
 * (`/api/v2/doc/doc`), HN always requests `/api/v1/search_by_date` on the base origin, feeds and
 * the trends RSS are fetched as given.
 */
export const DEMO_SOURCES: readonly DemoSource[] = [
  { id: 'demo-rss', kind: 'feed', path: '/feeds/markets.rss', sample: 'markets.rss.xml', contentType: 'application/rss+xml; charset=utf-8', url: 'path', every: '30s' },
  { id: 'demo-atom', kind: 'feed', path: '/feeds/tech.atom', sample: 'tech.atom.xml', contentType: 'application/atom+xml; charset=utf-8', url: 'path', every: '45s' },
  { id: 'demo-gdelt', kind: 'gdelt', path: '/api/v2/doc/doc', sample: 'gdelt-artlist.json', contentType: 'application/json; charset=utf-8', url: 'path', query: '(Tesla OR Apple OR Nvidia OR Microsoft) sourcelang:english', every: '1m' },
  { id: 'demo-hn', kind: 'hn', path: '/api/v1/search_by_date', sample: 'hn-search.json', contentType: 'application/json; charset=utf-8', url: 'origin', query: 'OpenAI', every: '1m' },
  { id: 'demo-trends', kind: 'google-trends', path: '/trending/rss', sample: 'trending-now.rss.xml', contentType: 'application/rss+xml; charset=utf-8', url: 'path', every: '1m' },
];

const PLACEHOLDER = /\{\{\s*(rfc822|iso|gdelt|epoch)\s+-(?:(\d+)h)?(?:(\d+)m)?\s*\}\}/g;

const pad = (n: number) => String(n).padStart(2, '0');

function formatTime(format: string, date: Date): string {
  switch (format) {
    case 'rfc822':
      return date.toUTCString().replace('GMT', '+0000');
    case 'iso':
      return date.toISOString().replace('.000Z', 'Z');
    case 'gdelt':
      // GDELT's seendate: 20261121T143000Z
      return `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}T${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
    default:
      return String(Math.floor(date.getTime() / 1000));
  }
}

/**
 * Fills a sample's time placeholders relative to `now`: `{{rfc822 -2h10m}}`, `{{iso -45m}}`,
 * `{{gdelt -3h}}`, `{{epoch -1h5m}}`. A placeholder this function does not understand is an
 * error, not silently served text.
 */
export function renderSample(template: string, now: Date): string {
  const rendered = template.replace(PLACEHOLDER, (_m, format: string, hours: string | undefined, minutes: string | undefined) => {
    const agoMs = (Number(hours ?? 0) * 60 + Number(minutes ?? 0)) * 60_000;
    return formatTime(format, new Date(now.getTime() - agoMs));
  });
  const leftover = /\{\{[^}]*\}\}/.exec(rendered);
  if (leftover) throw new Error(`demo: unknown time placeholder ${leftover[0]}`);
  return rendered;
}

export function readSample(name: string): string {
  return readFileSync(new URL(name, SAMPLES_DIR), 'utf8');
}

export interface DemoServer {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  /** The instant the samples' times are relative to. */
  now: Date;
  /** Paths requested so far, in order (without query strings). */
  requests: string[];
  /** The `url` a demo source gives its adapter. */
  sourceUrl(source: DemoSource): string;
  close(): Promise<void>;
}

/**
 * Starts the server. Bodies are rendered once, relative to `now` (default: the start time),
 * so every fetch of a source sees the same document: the worker's conditional GET gets a 304
 * (ETag) on later runs, as it would from a well-behaved real server.
 */
export async function startDemoServer(options: { now?: Date; port?: number } = {}): Promise<DemoServer> {
  const now = options.now ?? new Date();
  const bodies = new Map(
    DEMO_SOURCES.map((s) => {
      const body = Buffer.from(renderSample(readSample(s.sample), now));
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      return [s.path, { body, etag, contentType: s.contentType }] as const;
    }),
  );
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    requests.push(path);
    const found = bodies.get(path);
    if (!found) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`demo server: no sample at ${path}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const headers = { etag: found.etag, 'cache-control': 'max-age=0', 'last-modified': now.toUTCString() };
    if (req.headers['if-none-match'] === found.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': found.contentType, 'content-length': found.body.length });
    res.end(req.method === 'HEAD' ? undefined : found.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    now,
    requests,
    sourceUrl: (source) => (source.url === 'origin' ? origin : `${origin}${source.path}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
