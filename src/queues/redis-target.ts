/**
 * Where Redis is: one node (`redis://`, `rediss://`) or a Redis Cluster
 * (`redis+cluster://[user:pass@]h1:p1,h2:p2`, `rediss+cluster://…` for TLS, or
 * REDIS_CLUSTER_NODES=h1:p1,h2:p2 beside a plain REDIS_URL that carries credentials).
 * Pure parsing, so config validation and the connection factory agree on one reading.
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean };

export class RedisTargetError extends Error {
  override name = 'RedisTargetError';
}

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\/(.*)$/i;

function parseNode(text: string, where: string): { host: string; port: number } {
  const trimmed = text.trim();
  // [v6addr]:port or host:port; the port defaults to 6379 like redis:// URLs.
  const match = /^(\[[^\]]+\]|[^:/?#\s]+)(?::(\d{1,5}))?$/.exec(trimmed);
  if (!match) throw new RedisTargetError(`${where}: "${trimmed}" is not host:port`);
  const port = match[2] === undefined ? 6379 : Number(match[2]);
  if (port < 1 || port > 65_535) throw new RedisTargetError(`${where}: port ${match[2]} out of range`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Parses a comma list of host:port seed nodes (at least one). */
export function parseClusterNodes(list: string, where = 'REDIS_CLUSTER_NODES'): { host: string; port: number }[] {
  const parts = list.split(',').filter((p) => p.trim() !== '');
  if (!parts.length) throw new RedisTargetError(`${where}: no nodes given (expected host:port,host:port)`);
  return parts.map((p) => parseNode(p, where));
}

/** Reads REDIS_URL (and optionally REDIS_CLUSTER_NODES); throws RedisTargetError with a clear message. */
export function parseRedisTarget(url: string, clusterNodes?: string): RedisTarget {
  const cluster = CLUSTER_SCHEME.exec(url);
  if (cluster) {
    const [, scheme, rest] = cluster;
    const at = rest!.lastIndexOf('@');
    const auth = at >= 0 ? rest!.slice(0, at) : '';
    const hosts = (at >= 0 ? rest!.slice(at + 1) : rest!).replace(/\/\d*$/, '');
    if (/\/\d+$/.test(rest!) && !/\/0$/.test(rest!)) throw new RedisTargetError('REDIS_URL: Redis Cluster has only database 0');
    const [user, pass] = auth.includes(':') ? [auth.slice(0, auth.indexOf(':')), auth.slice(auth.indexOf(':') + 1)] : ['', auth];
    return {
      kind: 'cluster',
      nodes: parseClusterNodes(hosts, 'REDIS_URL'),
      ...(user ? { username: decodeURIComponent(user) } : {}),
      ...(pass ? { password: decodeURIComponent(pass) } : {}),
      tls: scheme!.toLowerCase() === 'rediss',
    };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisTargetError('REDIS_URL: must be a redis://, rediss:// or redis+cluster:// URL');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new RedisTargetError('REDIS_URL: must be a redis://, rediss:// or redis+cluster:// URL');
  }
  if (clusterNodes !== undefined && clusterNodes.trim() !== '') {
    // REDIS_URL then only lends its credentials and TLS choice to the cluster's nodes.
    return {
      kind: 'cluster',
      nodes: parseClusterNodes(clusterNodes),
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      tls: parsed.protocol === 'rediss:',
    };
  }
  return { kind: 'single', url };
}

/**
 * BullMQ's Lua scripts touch several keys of one queue at once; on a cluster they must hash
 * to one slot, so a clustered prefix carries a hash tag: `newspulse` -> `{newspulse}`, which
 * `queuePrefix` (keys.ts) then splits per queue (`{newspulse:ingest}`) so queues may live on
 * different masters. A prefix that already has a tag is kept as the operator wrote it.
 */
export function effectivePrefix(prefix: string, target: RedisTarget): string {
  if (target.kind === 'single' || /\{[^{}]+\}/.test(prefix)) return prefix;
  return `{${prefix}}`;
}

/** The one-string form of a cluster target, so everything downstream passes a single URL. */
export function clusterUrl(target: Extract<RedisTarget, { kind: 'cluster' }>): string {
  const auth = target.username || target.password ? `${encodeURIComponent(target.username ?? '')}${target.password ? `:${encodeURIComponent(target.password)}` : ''}@` : '';
  const hosts = target.nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',');
  return `${target.tls ? 'rediss' : 'redis'}+cluster://${auth}${hosts}`;
}
