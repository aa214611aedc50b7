/**
 * API keys. A key is 32 random bytes (base64url) behind a recognisable "npk_" prefix; the
 * table keeps only its SHA-256 (a key has 256 bits of entropy, so no salt or slow hash is
 * needed) and its first 12 characters for listings. The key itself is shown once, at creation.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';

export const KEY_PREFIX = 'npk_';
const SHOWN_PREFIX_LENGTH = 12;

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateKey(): { key: string; prefix: string; hash: string } {
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { key, prefix: key.slice(0, SHOWN_PREFIX_LENGTH), hash: hashKey(key) };
}

export interface ApiKeyInfo {
  id: number;
  name: string;
  prefix: string;
  created_at: Date;
  revoked_at: Date | null;
}

/** Stores a new key and returns it: the only time the key itself exists outside the caller. */
export async function createKey(em: EntityManager, name: string): Promise<ApiKeyInfo & { key: string }> {
  const trimmed = name.trim();
  if (!trimmed) throw new Error('keys: a key needs a name');
  const { key, prefix, hash } = generateKey();
  const row = await sql(em).insertInto('api_key').values({ name: trimmed, prefix, hash }).returning(['id', 'name', 'prefix', 'created_at', 'revoked_at']).executeTakeFirstOrThrow();
  return { ...row, key };
}

export async function listKeys(em: EntityManager): Promise<ApiKeyInfo[]> {
  return sql(em).selectFrom('api_key').select(['id', 'name', 'prefix', 'created_at', 'revoked_at']).orderBy('id').execute();
}

/** Revokes by id or by the shown prefix; returns the keys revoked now (none when already revoked or unknown). */
export async function revokeKey(em: EntityManager, idOrPrefix: string): Promise<ApiKeyInfo[]> {
  const byId = /^\d+$/.test(idOrPrefix);
  return sql(em)
    .updateTable('api_key')
    .set({ revoked_at: new Date() })
    .where(byId ? 'id' : 'prefix', '=', byId ? Number(idOrPrefix) : idOrPrefix)
    .where('revoked_at', 'is', null)
    .returning(['id', 'name', 'prefix', 'created_at', 'revoked_at'])
    .execute();
}

/**
 * What the API asks about keys, with a short memory: a revoked key stops working within
 * `ttlMs`, and a request storm does not become a query storm.
 */
export class KeyCheck {
  readonly #em: () => EntityManager;
  readonly #ttlMs: number;
  readonly #verdicts = new Map<string, { ok: boolean; at: number }>();
  #active: { count: number; at: number } | undefined;

  constructor(em: () => EntityManager, ttlMs = 5_000) {
    this.#em = em;
    this.#ttlMs = ttlMs;
  }

  async activeCount(): Promise<number> {
    if (this.#active && Date.now() - this.#active.at < this.#ttlMs) return this.#active.count;
    const row = await sql(this.#em()).selectFrom('api_key').select((eb) => eb.fn.countAll<string>().as('n')).where('revoked_at', 'is', null).executeTakeFirstOrThrow();
    this.#active = { count: Number(row.n), at: Date.now() };
    return this.#active.count;
  }

  async isValid(key: string): Promise<boolean> {
    if (!key.startsWith(KEY_PREFIX)) return false;
    const hash = hashKey(key);
    const cached = this.#verdicts.get(hash);
    if (cached && Date.now() - cached.at < this.#ttlMs) return cached.ok;
    const row = await sql(this.#em()).selectFrom('api_key').select('id').where('hash', '=', hash).where('revoked_at', 'is', null).executeTakeFirst();
    // Bounded: guessed keys must not grow the map without limit.
    if (this.#verdicts.size >= 10_000) this.#verdicts.clear();
    this.#verdicts.set(hash, { ok: row !== undefined, at: Date.now() });
    return row !== undefined;
  }
}
