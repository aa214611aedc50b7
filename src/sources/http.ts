import { STATUS_CODES } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { Agent, buildConnector, interceptors, type Dispatcher } from 'undici';
import { PermanentError, TransientError } from '../errors.ts';
import { createAddressPolicy, type AllowPrivate } from './address-policy.ts';
import { parseRfc822 } from './dates.ts';

/**
 * The only module that knows undici. One keep-alive Agent with redirects; bodies are decompressed
 * here (so the size cap counts decompressed bytes and stops a gzip bomb after the cap, not after
 * the bomb); every failure leaves as a TransientError or PermanentError whose message starts with
 * `fetch <label>: ` and names the URL (credentials redacted), with the undici/zlib error as `cause`.
 * Connections go only to addresses the address policy allows (SSRF protection): the check sits
 * in the connector, after DNS resolution, so it covers every redirect hop and DNS rebinding.
 */

const MiB = 1024 * 1024;

/** The limits of a client, every one set. */
export type HttpLimits = Required<Omit<HttpClientOptions, 'userAgent' | 'allowPrivate'>>;

export const HTTP_DEFAULTS: Readonly<HttpLimits> = {
  maxBodyBytes: 15 * MiB,
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 20_000,
  bodyTimeoutMs: 20_000,
  totalTimeoutMs: 20_000,
  maxRedirects: 5,
};

export interface HttpClientOptions {
  /** Sent on every request: say who is fetching and how to reach them. */
  userAgent: string;
  /** Largest body accepted, counted after decompression. Default 15 MiB. */
  maxBodyBytes?: number;
  connectTimeoutMs?: number;
  /** Longest wait for response headers. */
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks. */
  bodyTimeoutMs?: number;
  /** Deadline for the whole exchange, redirects and a slowly trickling body included. Default 20 s. */
  totalTimeoutMs?: number;
  /** Redirects followed before giving up (permanently). Default 5. */
  maxRedirects?: number;
  /**
   * FETCH_ALLOW_PRIVATE: which loopback/private/special addresses may be fetched. Default: none.
   * `true` allows all of them except 169.254.0.0/16 (cloud metadata), which only a listed CIDR allows.
   */
  allowPrivate?: AllowPrivate;
}

export interface GetOptions {
  /** Who asked (a source id): the start of every error message. */
  label: string;
  /** Validators from the previous successful fetch, for a conditional GET. */
  etag?: string | null;
  lastModified?: string | null;
  signal?: AbortSignal;
  accept?: string;
}

interface Validators {
  etag: string | null;
  lastModified: string | null;
  /** The final URL, after redirects. */
  url: string;
  fetchedAt: Date;
}

/** 304: the validators to keep (the response's when it sent new ones, else the ones sent). */
export interface NotModified extends Validators {
  notModified: true;
}

export interface Fetched extends Validators {
  notModified: false;
  /** Decompressed body. */
  body: Buffer;
  contentType: string | null;
}

export type HttpResult = NotModified | Fetched;

export interface HttpClient {
  get(url: string, options: GetOptions): Promise<HttpResult>;
  /** Closes pooled connections; waits for requests in flight. */
  close(): Promise<void>;
}

/**
 * The limits a client runs with. The per-phase timeouts default to the overall deadline,
 * so a longer HTTP_TIMEOUT is not silently cut short by their 20 s defaults.
 */
export function resolveLimits(options: HttpClientOptions): HttpLimits {
  const { userAgent: _userAgent, allowPrivate: _allowPrivate, ...limits } = options;
  const given = definedOnly(limits);
  const total = given.totalTimeoutMs ?? HTTP_DEFAULTS.totalTimeoutMs;
  return { ...HTTP_DEFAULTS, headersTimeoutMs: total, bodyTimeoutMs: total, ...given };
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const { userAgent } = options;
  const config = resolveLimits(options);
  const policy = createAddressPolicy(options.allowPrivate ?? false);
  const connectResolved = buildConnector({ timeout: config.connectTimeoutMs, lookup: policy.lookup });
  // IP literals never reach `lookup` (net.connect skips DNS for them): check those here.
  const connect: buildConnector.connector = (opts, callback) => {
    try {
      policy.checkLiteral(opts.hostname);
    } catch (err) {
      callback(err as Error, null);
      return;
    }
    connectResolved(opts, callback);
  };
  const agent = new Agent({
    connect,
    headersTimeout: config.headersTimeoutMs,
    bodyTimeout: config.bodyTimeoutMs,
    keepAliveTimeout: 30_000,
  });
  const dispatcher = agent.compose(
    interceptors.redirect({ maxRedirections: config.maxRedirects, throwOnMaxRedirect: true }),
  );

  async function get(url: string, { label, etag, lastModified, signal, accept }: GetOptions): Promise<HttpResult> {
    const target = httpUrl(url, label);
    const deadline = AbortSignal.timeout(config.totalTimeoutMs);
    const context: FailureContext = { label, url: redactUrlSecrets(target.href), deadline, callerSignal: signal, config };
    const headers: Record<string, string> = {
      'user-agent': userAgent,
      accept: accept ?? '*/*',
      'accept-encoding': 'gzip, deflate, br',
    };
    // undici never sends URL userinfo: send it as Basic auth (dropped by undici on a cross-origin redirect).
    const basic = basicAuthorization(target);
    if (basic) headers.authorization = basic;
    if (etag) headers['if-none-match'] = etag;
    if (lastModified) headers['if-modified-since'] = lastModified;

    try {
      const res = await dispatcher.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        headers,
        signal: signal ? AbortSignal.any([deadline, signal]) : deadline,
      });
      context.url = redactUrlSecrets(finalUrl(res.context) ?? target.href);
      const validators = {
        etag: header(res.headers, 'etag'),
        lastModified: header(res.headers, 'last-modified'),
        url: context.url,
        fetchedAt: new Date(),
      };
      if (res.statusCode === 304) {
        await discard(res.body);
        return {
          ...validators,
          notModified: true,
          etag: validators.etag ?? etag ?? null,
          lastModified: validators.lastModified ?? lastModified ?? null,
        };
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        await discard(res.body);
        throw statusError(res, context);
      }
      const body = await readBody(res, context);
      return { ...validators, notModified: false, body, contentType: header(res.headers, 'content-type') };
    } catch (err) {
      throw classify(err, context);
    }
  }

  return { get, close: () => agent.close() };
}

/**
 * Retry-After as delay-seconds or an HTTP-date, in ms from `now` (never negative); undefined when
 * absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = parseRfc822(text);
  return date === null ? undefined : Math.max(0, date.getTime() - now.getTime());
}

// ---------------------------------------------------------------------------------------------

interface FailureContext {
  label: string;
  /** The URL the failure came from (the final one once redirects are done). */
  url: string;
  deadline: AbortSignal;
  callerSignal: AbortSignal | undefined;
  config: HttpLimits;
}

type Response = Dispatcher.ResponseData;

function httpUrl(url: string, label: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    // No echo of the text: it may hold a credential; its length helps find it.
    throw new PermanentError(`fetch ${label}: invalid URL (${url.length} characters)`, { cause: err });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new PermanentError(`fetch ${label}: unsupported URL scheme ${parsed.protocol} in ${redactUrlSecrets(parsed.href)}`);
  }
  return parsed;
}

/** `Basic …` for a URL's userinfo (percent-decoded, as browsers do); null without one. */
function basicAuthorization(url: URL): string | null {
  if (!url.username && !url.password) return null;
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const credentials = `${decode(url.username)}:${decode(url.password)}`;
  url.username = '';
  url.password = '';
  return `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
}

/** Query parameters whose values are credentials: api_key, apikey, token, access_token, sig, … */
const SECRET_PARAM = /(^|[-_.])(api[-_]?key|apikey|key|token|secret|password|passwd|pwd|pass|sig|signature|auth|authorization|credentials?|session|sessionid|sid)$|token|secret|password|apikey|api_key/i;

/**
 * The URL as shown in errors and logs: userinfo removed, the values of credential-like query
 * parameters replaced. Text that is not a URL is not echoed at all.
 */
export function redactUrlSecrets(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '[unparseable URL]';
  }
  if (parsed.username || parsed.password) {
    parsed.username = '';
    parsed.password = '';
  }
  for (const name of new Set(parsed.searchParams.keys())) {
    if (SECRET_PARAM.test(name)) parsed.searchParams.set(name, 'REDACTED');
  }
  return parsed.href;
}

/** The redirect interceptor records each URL it requested in `context.history`; the last is final. */
function finalUrl(context: object): string | undefined {
  const history = (context as { history?: unknown }).history;
  const last = Array.isArray(history) ? history.at(-1) : undefined;
  return last instanceof URL ? last.href : undefined;
}

function statusError(res: Response, ctx: FailureContext): Error {
  const status = res.statusCode;
  const what = `fetch ${ctx.label}: HTTP ${status} ${res.statusText || STATUS_CODES[status] || ''}`.trimEnd();
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(header(res.headers, 'retry-after'), new Date());
    return new TransientError(`${what} from ${ctx.url}`, retryAfterMs === undefined ? {} : { retryAfterMs });
  }
  if (status >= 300 && status < 400) return new PermanentError(`${what} without a followable Location from ${ctx.url}`);
  return new PermanentError(`${what} from ${ctx.url}`);
}

/** Reads the body through a decompressor, stopping as soon as the decompressed size passes the cap. */
async function readBody(res: Response, ctx: FailureContext): Promise<Buffer> {
  const max = ctx.config.maxBodyBytes;
  const tooLarge = () => new PermanentError(`fetch ${ctx.label}: body exceeds ${formatBytes(max)} limit from ${ctx.url}`);
  const encoding = (header(res.headers, 'content-encoding') ?? 'identity').trim().toLowerCase();
  const declaredLength = Number(header(res.headers, 'content-length') ?? NaN);
  if (encoding === 'identity' && declaredLength > max) {
    res.body.destroy();
    throw tooLarge();
  }

  const chunks: Buffer[] = [];
  let total = 0;
  const collect = async (source: AsyncIterable<Buffer>): Promise<void> => {
    for await (const chunk of source) {
      total += chunk.length;
      // Throwing here makes pipeline destroy the decompressor and the socket stream at once.
      if (total > max) throw tooLarge();
      chunks.push(chunk);
    }
  };
  const decoder = decompressor(encoding, ctx);
  if (decoder) await pipeline(res.body, decoder, collect);
  else await pipeline(res.body, collect);
  return Buffer.concat(chunks, total);
}

function decompressor(encoding: string, ctx: FailureContext): Transform | null {
  switch (encoding) {
    case 'identity':
    case '':
      return null;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      throw new PermanentError(`fetch ${ctx.label}: unsupported Content-Encoding "${encoding}" from ${ctx.url}`);
  }
}

/** Error codes of failures that may well go away by themselves. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'Z_BUF_ERROR',
]);
const TIMEOUT_CODES: Readonly<Record<string, keyof HttpLimits>> = {
  UND_ERR_CONNECT_TIMEOUT: 'connectTimeoutMs',
  UND_ERR_HEADERS_TIMEOUT: 'headersTimeoutMs',
  UND_ERR_BODY_TIMEOUT: 'bodyTimeoutMs',
};

/** The one place where undici, zlib and socket errors become Transient or Permanent. */
function classify(err: unknown, ctx: FailureContext): Error {
  if (err instanceof TransientError || err instanceof PermanentError) return err;
  const from = `from ${ctx.url}`;
  const prefix = `fetch ${ctx.label}:`;
  if (ctx.deadline.aborted) {
    return new TransientError(`${prefix} timed out after ${ctx.config.totalTimeoutMs} ms ${from}`, { cause: err });
  }
  if (ctx.callerSignal?.aborted) return new TransientError(`${prefix} aborted ${from}`, { cause: err });

  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const timeout = code === undefined ? undefined : TIMEOUT_CODES[code];
  if (timeout !== undefined) {
    return new TransientError(`${prefix} timed out after ${ctx.config[timeout]} ms (${code}) ${from}`, { cause: err });
  }
  if (code === 'UND_ERR_REDIRECT_MAX') {
    return new PermanentError(`${prefix} too many redirects (more than ${ctx.config.maxRedirects}) ${from}`, { cause: err });
  }
  if (/redirect loop/i.test(message)) return new PermanentError(`${prefix} redirect loop ${from}`, { cause: err });
  if (code === 'ERR_ADDRESS_REFUSED') return new PermanentError(`${prefix} ${causeWithCode(err, code)?.message ?? message} ${from}`, { cause: err });
  if (code === 'UND_ERR_INVALID_ARG' && /URL protocol/i.test(message)) {
    // Only http(s) is followed: a Location of file:, gopher:, data: … will not change on retry.
    return new PermanentError(`${prefix} redirect to a non-http(s) URL refused (only http and https are followed) ${from}`, { cause: err });
  }
  if (code?.startsWith('Z_') || code?.startsWith('ERR__ERROR') || code?.startsWith('ERR_BROTLI')) {
    // Z_BUF_ERROR (the stream ended early) is a cut connection; other zlib errors are corrupt data.
    const Kind = TRANSIENT_CODES.has(code) ? TransientError : PermanentError;
    return new Kind(`${prefix} could not decompress body (${message}) ${from}`, { cause: err });
  }
  if (code !== undefined && TRANSIENT_CODES.has(code)) {
    return new TransientError(`${prefix} network error ${code} (${message}) ${from}`, { cause: err });
  }
  if (code !== undefined && /CERT|TLS|SSL/.test(code)) {
    return new PermanentError(`${prefix} TLS error ${code} (${message}) ${from}`, { cause: err });
  }
  // Unknown failures get the benefit of the doubt: retries with backoff are cheap.
  return new TransientError(`${prefix} request failed${code ? ` ${code}` : ''} (${message}) ${from}`, { cause: err });
}

/** The first `code` found on the error, its causes, or the errors of an AggregateError (dual-stack connects). */
function errorCode(err: unknown, depth = 0): string | undefined {
  if (!(err instanceof Error) || depth > 5) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code !== 'UND_ERR') return code;
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const found = errorCode(inner, depth + 1);
      if (found) return found;
    }
  }
  return errorCode(err.cause, depth + 1);
}

function causeWithCode(err: unknown, code: string, depth = 0): Error | undefined {
  if (!(err instanceof Error) || depth > 5) return undefined;
  if ((err as { code?: unknown }).code === code) return err;
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const found = causeWithCode(inner, code, depth + 1);
      if (found) return found;
    }
  }
  return causeWithCode(err.cause, code, depth + 1);
}

function header(headers: Response['headers'], name: string): string | null {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? null : first;
}

/** Drops a body we will not read, without letting a huge error page hold the connection. */
async function discard(body: Response['body']): Promise<void> {
  try {
    await body.dump({ limit: 64 * 1024 });
  } catch {
    // Nothing to keep: the status line already said what happened.
  }
}

function formatBytes(bytes: number): string {
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
