/**
 * Who may read. The board's rule, applied to the read side: credentials are an API key
 * (`Authorization: Bearer`, `X-API-Key`, or as the password of HTTP basic auth, so a browser
 * can open the dashboard with one) or the board's BOARD_USER/BOARD_PASSWORD. Without any key
 * and without a board password the API answers on loopback only; asking for another address
 * then is refused at start rather than silently exposed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { KeyCheck } from './keys.ts';

export class ApiConfigError extends Error {
  override name = 'ApiConfigError';
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host);
}

/** Throws when the API would be exposed beyond loopback with nothing to check credentials against. */
export function checkApiBinding(host: string, credentials: { activeKeys: number; boardPassword: string | undefined }): void {
  if (isLoopback(host) || credentials.activeKeys > 0 || credentials.boardPassword) return;
  throw new ApiConfigError(
    `api: refusing to listen on ${host} without credentials; create a key (npm run keys -- create NAME), set BOARD_PASSWORD, or API_HOST=127.0.0.1`,
  );
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The credential a request carries, if any. */
export function credentialOf(headers: FastifyRequest['headers']): { key: string } | { user: string; password: string } | null {
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header) return { key: header };
  const auth = headers.authorization;
  if (!auth) return null;
  const [scheme, value = ''] = auth.split(' ', 2);
  if (scheme?.toLowerCase() === 'bearer' && value) return { key: value.trim() };
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return null;
}

/**
 * The onRequest hook. Auth is required when the API is bound beyond loopback, when the board
 * has a password, or as soon as any key exists (checked with KeyCheck's short cache), so
 * creating the first key locks a running local API without a restart.
 */
export function accessHook(config: Config, keys: KeyCheck) {
  const { host } = config.api;
  const { user, password } = config.board;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const given = credentialOf(request.headers);
    let ok = false;
    if (given && 'key' in given) ok = await keys.isValid(given.key);
    else if (given) {
      const boardOk = password !== undefined && [sameSecret(given.user, user), sameSecret(given.password, password)].every(Boolean);
      ok = boardOk || (await keys.isValid(given.password));
    } else {
      ok = isLoopback(host) && !password && (await keys.activeCount()) === 0;
    }
    if (ok) return undefined;
    // Returning the reply stops the request here (fastify's async-hook contract).
    return reply
      .code(401)
      .header('www-authenticate', 'Basic realm="newspulse", charset="UTF-8"')
      .send({ error: 'unauthorized', message: given ? 'invalid credentials' : 'credentials required: an API key (Authorization: Bearer <key> or X-API-Key) or the board user and password' });
  };
}
