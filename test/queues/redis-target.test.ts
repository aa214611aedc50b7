import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { redactUrl } from '../../src/logger.ts';
import { queuePrefix, redisKey } from '../../src/queues/keys.ts';
import { clusterUrl, effectivePrefix, parseRedisTarget, RedisTargetError } from '../../src/queues/redis-target.ts';

describe('parseRedisTarget', () => {
  it('reads single-node URLs as they are', () => {
    expect(parseRedisTarget('redis://127.0.0.1:6379')).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379' });
    expect(parseRedisTarget('rediss://u:p@cache.example:6380/2')).toEqual({ kind: 'single', url: 'rediss://u:p@cache.example:6380/2' });
  });

  it('reads the cluster URL form: nodes, credentials, TLS, default port', () => {
    expect(parseRedisTarget('redis+cluster://10.0.0.1:7000,10.0.0.2:7001,[::1]:7002,redis-c')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
        { host: 'redis-c', port: 6379 },
      ],
      tls: false,
    });
    expect(parseRedisTarget('rediss+cluster://default:s%40cret@h1:6379,h2:6379/0')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'h1', port: 6379 },
        { host: 'h2', port: 6379 },
      ],
      username: 'default',
      password: 's@cret',
      tls: true,
    });
  });

  it('reads REDIS_CLUSTER_NODES beside a REDIS_URL that lends credentials and TLS', () => {
    expect(parseRedisTarget('rediss://:pw@ignored:1', 'a:7000, b:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      password: 'pw',
      tls: true,
    });
  });

  it('refuses what it cannot use, saying why', () => {
    expect(() => parseRedisTarget('http://x')).toThrow(new RedisTargetError('REDIS_URL: must be a redis://, rediss:// or redis+cluster:// URL'));
    expect(() => parseRedisTarget('redis+cluster://')).toThrow('REDIS_URL: no nodes given');
    expect(() => parseRedisTarget('redis+cluster://h1:99999')).toThrow('REDIS_URL: port 99999 out of range');
    expect(() => parseRedisTarget('redis+cluster://h1:7000/3')).toThrow('Redis Cluster has only database 0');
    expect(() => parseRedisTarget('redis://x', 'h1:7000,not a host')).toThrow('REDIS_CLUSTER_NODES: "not a host" is not host:port');
  });

  it('round-trips through the one-string cluster form', () => {
    const target = parseRedisTarget('redis://u:p%3Aw@x', 'h1:7000,h2:7001');
    expect(target.kind).toBe('cluster');
    if (target.kind !== 'cluster') return;
    expect(clusterUrl(target)).toBe('redis+cluster://u:p%3Aw@h1:7000,h2:7001');
    expect(parseRedisTarget(clusterUrl(target))).toEqual(target);
  });
});

describe('prefix and key names', () => {
  it('adds a hash tag on a cluster only, and keeps a tag the operator wrote', () => {
    const cluster = parseRedisTarget('redis+cluster://h:1');
    expect(effectivePrefix('newspulse', cluster)).toBe('{newspulse}');
    expect(effectivePrefix('{np}', cluster)).toBe('{np}');
    expect(effectivePrefix('prod-{np}', cluster)).toBe('prod-{np}');
    expect(effectivePrefix('newspulse', parseRedisTarget('redis://h'))).toBe('newspulse');
  });

  it('names every project key under the prefix', () => {
    expect(redisKey('{newspulse}', 'lease', 'fetch', 'bbc')).toBe('{newspulse}:lease:fetch:bbc');
    expect(() => redisKey('np')).toThrow('at least one part');
    expect(() => redisKey('np', 'a', '')).toThrow('empty key part');
  });

  it('gives each queue its own hash tag when the prefix is one whole tag, and keeps every other prefix', () => {
    expect(queuePrefix('{newspulse}', 'ingest')).toBe('{newspulse:ingest}');
    expect(queuePrefix('{newspulse}', 'rollup')).toBe('{newspulse:rollup}');
    // Single node: plain prefixes keep their key names.
    expect(queuePrefix('newspulse', 'ingest')).toBe('newspulse');
    // A tag that is only part of the prefix: the operator asked for one slot.
    expect(queuePrefix('np{newspulse}', 'ingest')).toBe('np{newspulse}');
    expect(queuePrefix('{a}{b}', 'ingest')).toBe('{a}{b}');
    const cluster = parseRedisTarget('redis+cluster://h1:7000');
    expect(queuePrefix(effectivePrefix('newspulse', cluster), 'maintenance')).toBe('{newspulse:maintenance}');
  });

  it('config: a cluster URL or REDIS_CLUSTER_NODES gives the cluster URL and a tagged prefix; bad ones are named', () => {
    const viaUrl = loadConfig({ REDIS_URL: 'redis+cluster://h1:7000,h2:7001', QUEUE_PREFIX: 'np' }, { readSources: false });
    expect([viaUrl.redisUrl, viaUrl.queuePrefix]).toEqual(['redis+cluster://h1:7000,h2:7001', '{np}']);
    const viaNodes = loadConfig({ REDIS_URL: 'redis://:pw@localhost', REDIS_CLUSTER_NODES: 'h1:7000' }, { readSources: false });
    expect([viaNodes.redisUrl, viaNodes.queuePrefix]).toEqual(['redis+cluster://:pw@h1:7000', '{newspulse}']);
    expect(loadConfig({}, { readSources: false }).queuePrefix).toBe('newspulse');
    expect(() => loadConfig({ REDIS_URL: 'redis+cluster://h1:0' }, { readSources: false })).toThrow('invalid configuration: REDIS_URL: port 0 out of range');
    expect(() => loadConfig({ REDIS_URL: 'mysql://x' }, { readSources: false })).toThrow('REDIS_URL: must be a redis://, rediss:// or redis+cluster:// URL');
  });

  it('logs a cluster URL with its password masked', () => {
    expect(redactUrl('redis+cluster://u:secret@h1:7000,h2:7001')).toBe('redis+cluster://u:***@h1:7000,h2:7001');
    expect(redactUrl('redis+cluster://h1:7000,h2:7001')).toBe('redis+cluster://h1:7000,h2:7001');
  });
});
