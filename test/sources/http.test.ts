import { createServer } from 'node:net';
import { createServer as createHttpServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createBrotliCompress, createGzip, brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../src/errors.ts';
import { createHttpClient, parseRetryAfter, redactUrlSecrets, resolveLimits, type HttpClient } from '../../src/sources/http.ts';
import { createAddressPolicy, normalizeAddress, parseAllowPrivate } from '../../src/sources/address-policy.ts';
import { file, redirect, start, type FixtureServer } from './fixture-server.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const USER_AGENT = 'newspulse-test/1.0 (+https://example.com/bot)';

let server: FixtureServer;
let http: HttpClient;

beforeAll(async () => {
  server = await start({ staticPrefix: '/fixtures/' });
  http = createHttpClient({
    userAgent: USER_AGENT,
    maxBodyBytes: 1 * MiB,
    connectTimeoutMs: 300,
    headersTimeoutMs: 300,
    bodyTimeoutMs: 300,
    totalTimeoutMs: 600,
    // The fixture server, and nothing else private.
    allowPrivate: ['127.0.0.1/32'],
  });
});
afterAll(async () => {
  await http.close();
  await server.close();
});
afterEach(() => {
  server.requests.length = 0;
});

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the request to fail');
}

/** Streams `total` bytes of zeros through `compressor` into the response, never holding them all. */
async function streamCompressedZeros(res: ServerResponse, total: number, compressor: NodeJS.ReadWriteStream): Promise<void> {
  const chunk = Buffer.alloc(64 * KiB);
  let sent = 0;
  const zeros = new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      sent += chunk.length;
      this.push(chunk);
    },
  });
  await pipeline(zeros, compressor, res).catch(() => {
    // The client hung up on purpose once it had seen enough.
  });
}

describe('http client against a real server', () => {
  it('GETs a body with the validators, content type, final URL and a descriptive User-Agent', async () => {
    server.route('/feed', file('rss2.xml', { headers: { etag: '"v1"', 'last-modified': 'Sat, 21 Nov 2026 14:52:11 GMT' } }));
    const result = await http.get(server.url('/feed'), { label: 'bbc-world', accept: 'application/rss+xml' });
    expect(result.notModified).toBe(false);
    if (result.notModified) return;
    expect(result.body.toString('utf8')).toContain('<title><![CDATA[BBC News - World]]></title>');
    expect(result).toMatchObject({
      contentType: 'application/xml',
      etag: '"v1"',
      lastModified: 'Sat, 21 Nov 2026 14:52:11 GMT',
      url: server.url('/feed'),
    });
    expect(result.fetchedAt).toBeInstanceOf(Date);
    const headers = server.requests[0]!.headers;
    expect(headers['user-agent']).toBe(USER_AGENT);
    expect(headers['accept']).toBe('application/rss+xml');
    expect(headers['accept-encoding']).toBe('gzip, deflate, br');
    expect(headers['if-none-match']).toBeUndefined();
  });

  it('serves any fixture under the static prefix', async () => {
    const result = await http.get(server.url('/fixtures/hn.json'), { label: 'hn' });
    expect(!result.notModified && result.contentType).toBe('application/json');
  });

  it('sends a conditional GET and reports 304 with the validators to keep', async () => {
    server.route('/cond', (req, res) => {
      if (req.headers['if-none-match'] === '"v1"') res.writeHead(304, { etag: '"v1"' }).end();
      else res.writeHead(200, { etag: '"v1"' }).end('<rss/>');
    });
    const result = await http.get(server.url('/cond'), {
      label: 'cond', etag: '"v1"', lastModified: 'Sat, 21 Nov 2026 14:52:11 GMT',
    });
    expect(result).toMatchObject({
      notModified: true, etag: '"v1"', lastModified: 'Sat, 21 Nov 2026 14:52:11 GMT', url: server.url('/cond'),
    });
    expect(server.requests[0]!.headers['if-none-match']).toBe('"v1"');
    expect(server.requests[0]!.headers['if-modified-since']).toBe('Sat, 21 Nov 2026 14:52:11 GMT');
  });

  it('a 304 that sends new validators refreshes them', async () => {
    server.route('/cond2', { status: 304, headers: { etag: '"v2"', 'last-modified': 'Sun, 22 Nov 2026 00:00:00 GMT' } });
    const result = await http.get(server.url('/cond2'), { label: 'cond', etag: '"v1"', lastModified: 'x' });
    expect(result).toMatchObject({ notModified: true, etag: '"v2"', lastModified: 'Sun, 22 Nov 2026 00:00:00 GMT' });
  });

  it('429 with Retry-After seconds is transient with retryAfterMs', async () => {
    server.route('/busy', { status: 429, headers: { 'retry-after': '120' }, body: 'slow down' });
    const err = await failure(http.get(server.url('/busy'), { label: 'busy' }));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe(`fetch busy: HTTP 429 Too Many Requests from ${server.url('/busy')}`);
    expect((err as TransientError).retryAfterMs).toBe(120_000);
  });

  it('429 with an HTTP-date Retry-After is transient with the delay until then', async () => {
    const at = new Date(Date.now() + 90_000);
    server.route('/busy-date', { status: 429, headers: { 'retry-after': at.toUTCString() } });
    const err = await failure(http.get(server.url('/busy-date'), { label: 'busy' }));
    expect(err).toBeInstanceOf(TransientError);
    const retry = (err as TransientError).retryAfterMs!;
    // toUTCString drops milliseconds; allow for the test's own run time.
    expect(retry).toBeGreaterThan(85_000);
    expect(retry).toBeLessThanOrEqual(90_000);
  });

  it.each([
    [500, 'Internal Server Error'],
    [502, 'Bad Gateway'],
    [503, 'Service Unavailable'],
    [408, 'Request Timeout'],
  ])('HTTP %i is transient', async (status, text) => {
    server.route('/down', { status });
    const err = await failure(http.get(server.url('/down'), { label: 'down' }));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe(`fetch down: HTTP ${status} ${text} from ${server.url('/down')}`);
    expect((err as TransientError).retryAfterMs).toBeUndefined();
  });

  it.each([
    [404, 'Not Found'],
    [403, 'Forbidden'],
    [410, 'Gone'],
    [401, 'Unauthorized'],
  ])('HTTP %i is permanent', async (status, text) => {
    server.route('/gone', { status, body: '<html>nope</html>' });
    const err = await failure(http.get(server.url('/gone'), { label: 'bbc-world' }));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe(`fetch bbc-world: HTTP ${status} ${text} from ${server.url('/gone')}`);
  });

  it('follows 3 redirects and reports the final URL (validators sent on each hop)', async () => {
    server.route('/r1', redirect('/r2', 301));
    server.route('/r2', redirect(server.url('/r3'), 302));
    server.route('/r3', redirect('/final?x=1', 307));
    server.route('/final', { body: 'done' });
    const result = await http.get(server.url('/r1'), { label: 'redir', etag: '"e"' });
    expect(result).toMatchObject({ notModified: false, url: server.url('/final?x=1') });
    expect(server.requests.map((r) => r.url)).toEqual(['/r1', '/r2', '/r3', '/final?x=1']);
    expect(server.requests.every((r) => r.headers['if-none-match'] === '"e"')).toBe(true);
  });

  it('a redirect loop is permanent', async () => {
    server.route('/loop-a', redirect('/loop-b'));
    server.route('/loop-b', redirect('/loop-a'));
    const err = await failure(http.get(server.url('/loop-a'), { label: 'loop' }));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe(`fetch loop: redirect loop from ${server.url('/loop-a')}`);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('more than 5 redirects is permanent', async () => {
    for (let i = 0; i < 7; i++) server.route(`/hop${i}`, redirect(`/hop${i + 1}`));
    server.route('/hop7', { body: 'too far' });
    const err = await failure(http.get(server.url('/hop0'), { label: 'hops' }));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/^fetch hops: too many redirects \(more than 5\) from http:\/\/127\.0\.0\.1:\d+\/hop\d$/);
  });

  it('a body trickling past the overall deadline is a transient timeout', async () => {
    server.route('/slow', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/xml' });
      // A byte every 100 ms: never idle long enough for bodyTimeout, never done before the deadline.
      const timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(timer));
    });
    const started = Date.now();
    const err = await failure(http.get(server.url('/slow'), { label: 'slow' }));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe(`fetch slow: timed out after 600 ms from ${server.url('/slow')}`);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('headers that never come are a transient timeout', async () => {
    server.route('/hang', () => {
      // never answer
    });
    const err = await failure(http.get(server.url('/hang'), { label: 'hang' }));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/^fetch hang: timed out after (300|600) ms .*from http:\/\/127\.0\.0\.1:\d+\/hang$/);
  });

  it('a caller abort is transient and names the cause', async () => {
    server.route('/hang2', () => {});
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await failure(http.get(server.url('/hang2'), { label: 'abort', signal: controller.signal }));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe(`fetch abort: aborted from ${server.url('/hang2')}`);
  });

  it('a body over the cap is permanent (declared length: refused before reading)', async () => {
    server.route('/big', { body: Buffer.alloc(2 * MiB, 0x61) });
    const err = await failure(http.get(server.url('/big'), { label: 'big' }));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe(`fetch big: body exceeds 1 MiB limit from ${server.url('/big')}`);
  });

  it('a chunked body over the cap is permanent once the cap is passed', async () => {
    server.route('/endless', (_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * KiB, 0x61);
      const pump = () => {
        while (res.write(chunk)) {
          // keep writing until the socket pushes back
        }
      };
      res.on('drain', pump);
      pump();
    });
    const err = await failure(http.get(server.url('/endless'), { label: 'endless' }));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe(`fetch endless: body exceeds 1 MiB limit from ${server.url('/endless')}`);
  });

  it.each([
    ['gzip', gzipSync],
    ['br', (input: Buffer) => brotliCompressSync(input)],
  ] as const)('decodes a %s body', async (encoding, compress) => {
    const text = '<rss version="2.0"><channel><title>compressed ✓</title></channel></rss>'.repeat(50);
    server.route(`/${encoding}`, { headers: { 'content-encoding': encoding }, body: compress(Buffer.from(text)) });
    const result = await http.get(server.url(`/${encoding}`), { label: encoding });
    expect(!result.notModified && result.body.toString('utf8')).toBe(text);
  });

  it('decodes a deflate body', async () => {
    const { deflateSync } = await import('node:zlib');
    server.route('/deflate', { headers: { 'content-encoding': 'deflate' }, body: deflateSync(Buffer.from('deflated')) });
    const result = await http.get(server.url('/deflate'), { label: 'deflate' });
    expect(!result.notModified && result.body.toString('utf8')).toBe('deflated');
  });

  it.each([
    ['gzip', () => createGzip({ level: constants.Z_BEST_SPEED })],
    ['br', () => createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 1 } })],
  ] as const)('stops a 1 GiB %s bomb at the cap without buffering it', async (encoding, compressor) => {
    server.route(`/bomb-${encoding}`, (_req, res) => {
      res.writeHead(200, { 'content-encoding': encoding, 'content-type': 'application/xml' });
      void streamCompressedZeros(res, 1024 * MiB, compressor());
    });
    const heapBefore = process.memoryUsage().heapUsed;
    const started = Date.now();
    const err = await failure(http.get(server.url(`/bomb-${encoding}`), { label: 'bomb' }));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe(`fetch bomb: body exceeds 1 MiB limit from ${server.url(`/bomb-${encoding}`)}`);
    // Stopped after about the cap, long before 1 GiB could be inflated or held.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * MiB);
  });

  it('a corrupt gzip body is permanent', async () => {
    server.route('/corrupt', { headers: { 'content-encoding': 'gzip' }, body: Buffer.from('definitely not gzip') });
    const err = await failure(http.get(server.url('/corrupt'), { label: 'corrupt' }));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/^fetch corrupt: could not decompress body \(.+\) from http:\/\/127\.0\.0\.1:\d+\/corrupt$/);
  });

  it('an unknown Content-Encoding is permanent', async () => {
    server.route('/zstd', { headers: { 'content-encoding': 'compress' }, body: 'x' });
    const err = await failure(http.get(server.url('/zstd'), { label: 'enc' }));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe(`fetch enc: unsupported Content-Encoding "compress" from ${server.url('/zstd')}`);
  });

  it('a connection reset mid-body is transient', async () => {
    server.route('/reset', (req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => req.socket.destroy(), 20);
    });
    const err = await failure(http.get(server.url('/reset'), { label: 'reset' }));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/^fetch reset: network error (UND_ERR_SOCKET|ECONNRESET|UND_ERR_RES_CONTENT_LENGTH_MISMATCH) \(.+\) from http:\/\/127\.0\.0\.1:\d+\/reset$/);
  });

  it('connection refused is transient', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/feed`;
    const err = await failure(http.get(url, { label: 'refused' }));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(new RegExp(`^fetch refused: network error ECONNREFUSED \\(.*\\) from ${url.replace(/[.]/g, '\\.')}$`));
    expect(err.cause).toBeDefined();
  });

  it('an invalid or non-http URL is permanent before any request', async () => {
    await expect(http.get('not a url', { label: 'bad' })).rejects.toThrow('fetch bad: invalid URL (9 characters)');
    await expect(http.get('ftp://example.com/x', { label: 'bad' })).rejects.toThrow('fetch bad: unsupported URL scheme ftp: in ftp://example.com/x');
  });

  it('reuses one keep-alive connection for consecutive requests', async () => {
    server.route('/ka', { body: 'ok' });
    await http.get(server.url('/ka'), { label: 'ka' });
    // undici hands the socket back to the pool a tick after the body ends; a request sent in the
    // same tick would open a second connection.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await http.get(server.url('/ka'), { label: 'ka' });
    const [first, second] = server.requests;
    expect(first!.headers['connection']).toBe('keep-alive');
    expect(second!.remotePort).toBe(first!.remotePort);
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2026-11-21T15:00:00Z');
  it.each([
    ['120', 120_000],
    ['0', 0],
    [' 5 ', 5_000],
    ['Sat, 21 Nov 2026 15:01:30 GMT', 90_000],
    ['Sat, 21 Nov 2026 14:00:00 GMT', 0], // in the past: retry now
    ['Saturday, 21-Nov-26 15:00:10 GMT', 10_000], // RFC 850 form
    ['-5', undefined],
    ['soon', undefined],
    ['', undefined],
    [null, undefined],
    [undefined, undefined],
  ] as const)('%j -> %j', (value, expected) => expect(parseRetryAfter(value, now)).toBe(expected));
});

/** A port nothing listens on: bind one, note it, release it. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('resolveLimits', () => {
  it('lets the per-phase timeouts follow a longer overall deadline', () => {
    const limits = resolveLimits({ userAgent: 'ua', totalTimeoutMs: 45_000 });
    expect(limits).toMatchObject({ totalTimeoutMs: 45_000, headersTimeoutMs: 45_000, bodyTimeoutMs: 45_000, maxBodyBytes: 15 * 1024 * 1024, maxRedirects: 5 });
  });

  it('keeps explicit per-phase timeouts', () => {
    expect(resolveLimits({ userAgent: 'ua', totalTimeoutMs: 45_000, headersTimeoutMs: 300 })).toMatchObject({ headersTimeoutMs: 300, bodyTimeoutMs: 45_000 });
    expect(resolveLimits({ userAgent: 'ua' })).toMatchObject({ totalTimeoutMs: 20_000, headersTimeoutMs: 20_000, bodyTimeoutMs: 20_000 });
  });
});

/** A one-route server on another loopback address (127.0.0.2), recording what it received. */
async function startServerOn(host: string, handler: (path: string, res: ServerResponse) => void): Promise<{ url(path: string): string; seen: { path: string; headers: IncomingHttpHeaders }[]; close(): Promise<void> }> {
  const seen: { path: string; headers: IncomingHttpHeaders }[] = [];
  const srv = createHttpServer((req, res) => {
    seen.push({ path: req.url ?? '/', headers: req.headers });
    handler(req.url ?? '/', res);
  });
  await new Promise<void>((resolve) => srv.listen(0, host, resolve));
  const { port } = srv.address() as AddressInfo;
  return {
    url: (path) => `http://${host}:${port}${path}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        srv.close(() => resolve());
        srv.closeAllConnections();
      }),
  };
}

describe('SSRF: private and special addresses are refused in the connect path', () => {
  const limits = { userAgent: USER_AGENT, connectTimeoutMs: 500, totalTimeoutMs: 2_000 };

  it('refuses loopback by default, before any byte is sent', async () => {
    const client = createHttpClient(limits);
    try {
      server.route('/secret', { body: 'internal' });
      const err = await failure(client.get(server.url('/secret'), { label: 'ssrf' }));
      expect(err).toBeInstanceOf(PermanentError);
      expect(err.message).toBe(`fetch ssrf: refusing to connect to 127.0.0.1: loopback address (set FETCH_ALLOW_PRIVATE to allow it, e.g. FETCH_ALLOW_PRIVATE=127.0.0.1/32) from ${server.url('/secret')}`);
      expect(server.requests).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('refuses a redirect to 127.0.0.1 from an allowed host', async () => {
    const client = createHttpClient({ ...limits, allowPrivate: ['127.0.0.2/32'] });
    const outside = await startServerOn('127.0.0.2', (_path, res) => void res.writeHead(302, { location: server.url('/secret') }).end());
    try {
      server.route('/secret', { body: 'internal' });
      const err = await failure(client.get(outside.url('/feed'), { label: 'ssrf-redirect' }));
      expect(err).toBeInstanceOf(PermanentError);
      expect(err.message).toMatch(/^fetch ssrf-redirect: refusing to connect to 127\.0\.0\.1: loopback address \(set FETCH_ALLOW_PRIVATE/);
      expect(outside.seen.map((r) => r.path)).toEqual(['/feed']);
      expect(server.requests).toEqual([]);
    } finally {
      await client.close();
      await outside.close();
    }
  });

  it('refuses a redirect to the cloud metadata address, even with FETCH_ALLOW_PRIVATE=true', async () => {
    for (const allowPrivate of [['127.0.0.1/32'], true] as const) {
      const client = createHttpClient({ ...limits, allowPrivate });
      try {
        server.route('/to-metadata', redirect('http://169.254.169.254/latest/meta-data/iam/security-credentials/'));
        const err = await failure(client.get(server.url('/to-metadata'), { label: 'imds' }));
        expect(err).toBeInstanceOf(PermanentError);
        expect(err.message).toMatch(/^fetch imds: refusing to connect to 169\.254\.169\.254: link-local, cloud metadata address \(/);
        if (allowPrivate === true) expect(err.message).toContain('FETCH_ALLOW_PRIVATE=true never allows the metadata range');
      } finally {
        await client.close();
      }
    }
  });

  it('an explicitly listed metadata address is allowed (the listed CIDR is the only way)', () => {
    expect(createAddressPolicy(true).refusal('169.254.169.254')).toBe('link-local, cloud metadata');
    expect(createAddressPolicy(['169.254.169.254/32']).refusal('169.254.169.254')).toBeNull();
  });

  it('checks the resolved address of a name: localhost is loopback', async () => {
    const client = createHttpClient({ ...limits, allowPrivate: ['127.0.0.2/32'] });
    try {
      const port = new URL(server.origin).port;
      const err = await failure(client.get(`http://localhost:${port}/secret`, { label: 'named' }));
      expect(err).toBeInstanceOf(PermanentError);
      expect(err.message).toMatch(/^fetch named: refusing to connect to localhost \((127\.0\.0\.1|::1)\): loopback address/);
      expect(server.requests).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('an IPv4-mapped IPv6 literal is the IPv4 address it carries', async () => {
    const client = createHttpClient(limits);
    try {
      const port = new URL(server.origin).port;
      const err = await failure(client.get(`http://[::ffff:127.0.0.1]:${port}/secret`, { label: 'mapped' }));
      expect(err).toBeInstanceOf(PermanentError);
      expect(err.message).toMatch(/^fetch mapped: refusing to connect to ::ffff:7f00:1: loopback address/);
      expect(server.requests).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('a redirect to file: or gopher: is permanent and never retried as transient', async () => {
    for (const location of ['file:///etc/passwd', 'gopher://127.0.0.1:70/_x']) {
      server.route('/to-scheme', redirect(location));
      const err = await failure(http.get(server.url('/to-scheme'), { label: 'scheme' }));
      expect(err).toBeInstanceOf(PermanentError);
      expect(err.message).toBe(`fetch scheme: redirect to a non-http(s) URL refused (only http and https are followed) from ${server.url('/to-scheme')}`);
    }
  });

  it('classifies addresses: special ranges refused, public ones allowed', () => {
    const policy = createAddressPolicy(false);
    const refused: Record<string, string> = {
      '127.0.0.1': 'loopback',
      '10.1.2.3': 'private',
      '172.16.0.1': 'private',
      '172.31.255.255': 'private',
      '192.168.1.1': 'private',
      '100.64.0.1': 'shared address space (carrier-grade NAT)',
      '0.0.0.0': '"this network"',
      '224.0.0.1': 'multicast',
      '255.255.255.255': 'reserved',
      '::1': 'loopback',
      '::': 'unspecified',
      'fe80::1': 'link-local',
      'fd12:3456::1': 'unique local (private)',
      '::ffff:10.0.0.1': 'private',
      '::ffff:a9fe:a9fe': 'link-local, cloud metadata',
      '64:ff9b::7f00:1': 'NAT64 (embeds an IPv4 address)',
      '2002:7f00:1::': '6to4 (embeds an IPv4 address)',
    };
    for (const [address, what] of Object.entries(refused)) expect([address, policy.refusal(address)]).toEqual([address, what]);
    for (const address of ['93.184.216.34', '172.32.0.1', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect([address, policy.refusal(address)]).toEqual([address, null]);
    }
    expect(createAddressPolicy(true).refusal('10.0.0.1')).toBeNull();
    expect(createAddressPolicy(['10.0.0.0/8']).refusal('10.9.9.9')).toBeNull();
    expect(createAddressPolicy(['10.0.0.0/8']).refusal('192.168.0.1')).toBe('private');
    expect(normalizeAddress('::ffff:127.0.0.1')).toEqual({ address: '127.0.0.1', family: 'ipv4' });
  });

  it('parses FETCH_ALLOW_PRIVATE and names what it cannot read', () => {
    expect(parseAllowPrivate('true')).toEqual({ ok: true, value: true });
    expect(parseAllowPrivate('false')).toEqual({ ok: true, value: false });
    expect(parseAllowPrivate('127.0.0.1/32, 10.0.0.0/8,fd00::/8')).toEqual({ ok: true, value: ['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8'] });
    expect(parseAllowPrivate('10.0.0.0/33,intranet')).toEqual({
      ok: false,
      problem: 'must be true, false or a comma list of CIDRs like 127.0.0.1/32 (not "10.0.0.0/33", "intranet")',
    });
  });
});

describe('credentials in feed URLs', () => {
  it('sends userinfo as Basic auth, not in the request line, and never shows it in errors', async () => {
    server.route('/private-feed', { body: 'ok' });
    const result = await http.get(`http://reader:s%3Acret@${server.origin.slice('http://'.length)}/private-feed`, { label: 'auth' });
    expect(result.notModified).toBe(false);
    expect(result.url).toBe(server.url('/private-feed'));
    expect(server.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('reader:s:cret').toString('base64')}`);
    expect(server.requests[0]!.url).toBe('/private-feed');

    server.route('/private-gone', { status: 404 });
    const err = await failure(http.get(`http://reader:hunter2@${server.origin.slice('http://'.length)}/private-gone?api_key=k123&q=news`, { label: 'auth' }));
    expect(err.message).toBe(`fetch auth: HTTP 404 Not Found from ${server.url('/private-gone')}?api_key=REDACTED&q=news`);
    expect(err.message).not.toContain('hunter2');
  });

  it('redacts credential-like query values and userinfo, keeping the rest', () => {
    expect(redactUrlSecrets('https://u:p@example.com/feed?token=abc&access_token=x&apiKey=1&sig=2&keyword=tesla&page=2')).toBe(
      'https://example.com/feed?token=REDACTED&access_token=REDACTED&apiKey=REDACTED&sig=REDACTED&keyword=tesla&page=2',
    );
    expect(redactUrlSecrets('not a url with secret')).toBe('[unparseable URL]');
  });
});
