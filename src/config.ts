/**
 * The only reader of process.env and of the sources file. Everything else receives a
 * frozen, validated Config. Every problem is reported in one message, before anything
 * connects, naming the variable or the JSON path.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { SOURCE_KINDS } from './sources/types.ts';
import { parseAllowPrivate, type AllowPrivate } from './sources/address-policy.ts';
import { clusterUrl, effectivePrefix, parseRedisTarget, RedisTargetError } from './queues/redis-target.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

const DURATION_UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "15m" -> 900000. Units: ms, s, m, h, d. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  const value = Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS];
  return value > 0 && Number.isSafeInteger(value) ? value : null;
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

// Ids end up in BullMQ job and scheduler ids: no ':' and never all digits.
const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, - or _ (max 63 chars)')
  .refine((s) => !/^\d+$/.test(s), 'must not be all digits');

const nonEmptyText = z.string().trim().min(1, 'must not be empty');

const entitySchema = z.strictObject({
  slug,
  name: nonEmptyText,
  aliases: z.array(nonEmptyText).default([]),
  category: nonEmptyText.optional(),
  caseSensitive: z.boolean().default(true),
  requireAny: z.array(nonEmptyText).default([]),
  exclude: z.array(nonEmptyText).default([]),
});

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

const sourceSchema = z
  .strictObject({
    id: slug,
    kind: z.enum(SOURCE_KINDS),
    url: httpUrl.optional(),
    query: nonEmptyText.optional(),
    every: z.string().optional(),
    cron: z.string().optional(),
    tz: z.string().optional(),
    enabled: z.boolean().default(true),
  })
  .superRefine((s, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (s.kind === 'feed' && !s.url) issue('url', 'is required for kind "feed"');
    if ((s.kind === 'gdelt' || s.kind === 'hn') && !s.query) issue('query', `is required for kind "${s.kind}"`);
    if (s.every !== undefined && s.cron !== undefined) issue('every', 'give either "every" or "cron", not both');
    if (s.every !== undefined && parseDuration(s.every) === null) issue('every', 'must be a duration like "30s", "15m", "1h"');
    if (s.tz !== undefined && !isTimeZone(s.tz)) issue('tz', `unknown time zone "${s.tz}"`);
    if (s.tz !== undefined && s.cron === undefined) issue('tz', 'only applies with "cron"');
    if (s.cron !== undefined) {
      try {
        CronExpressionParser.parse(s.cron, s.tz && isTimeZone(s.tz) ? { tz: s.tz } : {});
      } catch (err) {
        issue('cron', `invalid cron pattern: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  });

const sourcesFileSchema = z.strictObject({
  entities: z.array(entitySchema).default([]),
  sources: z.array(sourceSchema),
});

/** Duplicate ids, checked on the raw JSON so they are reported even beside other errors. */
function duplicateProblems(json: unknown): { path: PropertyKey[]; message: string }[] {
  const problems: { path: PropertyKey[]; message: string }[] = [];
  const check = (list: unknown, listName: string, key: string) => {
    if (!Array.isArray(list)) return;
    const seen = new Set<unknown>();
    list.forEach((item: unknown, i) => {
      const value = typeof item === 'object' && item !== null ? (item as Record<string, unknown>)[key] : undefined;
      if (typeof value !== 'string') return;
      if (seen.has(value)) problems.push({ path: [listName, i, key], message: `duplicate ${key} "${value}"` });
      seen.add(value);
    });
  };
  if (typeof json === 'object' && json !== null) {
    check((json as Record<string, unknown>).entities, 'entities', 'slug');
    check((json as Record<string, unknown>).sources, 'sources', 'id');
  }
  return problems;
}

export type EntityConfig = z.infer<typeof entitySchema>;
type SourceEntry = z.infer<typeof sourceSchema>;

/** When a source runs: a fixed interval or a cron pattern in a time zone. */
export type Schedule = { every: number } | { pattern: string; tz: string };

export interface SourceConfig extends Omit<SourceEntry, 'every' | 'cron' | 'tz'> {
  schedule: Schedule;
}

const DEFAULT_EVERY_MS = 15 * 60_000;

function toSourceConfig(entry: SourceEntry): SourceConfig {
  const { every, cron, tz, ...rest } = entry;
  const schedule: Schedule = cron !== undefined ? { pattern: cron, tz: tz ?? 'UTC' } : { every: every ? parseDuration(every)! : DEFAULT_EVERY_MS };
  return { ...rest, schedule };
}

const boolFlag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = z.coerce.number().int().positive();
const durationVar = z.string().transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration like "500ms", "25s", "15m"' });
    return z.NEVER;
  }
  return ms;
});

const envSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }).default('postgres://postgres@127.0.0.1:5432/newspulse'),
  // redis://, rediss://, or redis+cluster://h1:p1,h2:p2 (rediss+cluster:// for TLS): see queues/redis-target.ts.
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  // Seed nodes of a Redis Cluster (host:port,host:port); REDIS_URL then only lends credentials and TLS.
  REDIS_CLUSTER_NODES: z.string().optional(),
  SOURCES_FILE: z.string().min(1).default('config/sources.json'),
  // BullMQ keys are "<prefix>:<queue>:…"; on a cluster the prefix gets a {hash tag} unless it has one.
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_{}.-]+$/, 'must be letters, digits, _ . - { }').default('newspulse'),
  BOARD_PORT: port.default(3000),
  BOARD_HOST: z.string().min(1).default('127.0.0.1'),
  BOARD_USER: z.string().min(1).default('admin'),
  BOARD_PASSWORD: z.string().optional(),
  BOARD_READ_ONLY: boolFlag.default(false),
  HEALTH_PORT: port.default(8080),
  // Probes (kubelet, compose) reach the container from outside: all interfaces by default.
  HEALTH_HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_GRACE: durationVar.default(25_000),
  INGEST_CONCURRENCY: positiveInt.max(64).default(4),
  HTTP_TIMEOUT: durationVar.default(20_000),
  HTTP_MAX_BODY_BYTES: positiveInt.default(15 * 1024 * 1024),
  ARTICLE_RETENTION_DAYS: positiveInt.default(90),
  JOB_RUN_RETENTION_DAYS: positiveInt.default(30),
  ROLLUP_DEBOUNCE: durationVar.default(2_000),
  READINESS_STALL: durationVar.default(60_000),
  EXIT_ON_STALL: boolFlag.default(false),
  // SSRF guard: feed fetches refuse loopback/private/metadata addresses unless allowed here.
  FETCH_ALLOW_PRIVATE: z
    .string()
    .transform((v, ctx) => {
      const parsed = parseAllowPrivate(v);
      if (parsed.ok) return parsed.value;
      ctx.addIssue({ code: 'custom', message: parsed.problem });
      return z.NEVER;
    })
    .default(false),
  // Politeness per origin, shared by all workers (fetch path).
  HOST_CONCURRENCY: positiveInt.max(64).default(2),
  HOST_MIN_INTERVAL: z.union([z.literal('0').transform(() => 0), durationVar]).default(500),
  // Per-source gauges on /metrics: off (0) unless asked for, and never more than this many sources.
  METRICS_SOURCE_GAUGES: z.coerce.number().int().min(0).max(1_000).default(0),
  // Read side (src/api): same binding rule as the board, see src/api/access.ts.
  API_PORT: port.default(3001),
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_CORS_ORIGINS: z.string().optional(),
  API_RATE_LIMIT: positiveInt.default(600),
  API_LIVE_POLL: durationVar.default(2_000),
});

type Env = z.infer<typeof envSchema>;

/** Every environment variable the config reads (`--help` lists them all). */
export const ENV_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export interface Config {
  databaseUrl: string;
  redisUrl: string;
  sourcesFile: string;
  queuePrefix: string;
  board: { port: number; host: string; user: string; password: string | undefined; readOnly: boolean };
  healthPort: number;
  healthHost: string;
  logLevel: Env['LOG_LEVEL'];
  shutdownGraceMs: number;
  ingestConcurrency: number;
  http: { timeoutMs: number; maxBodyBytes: number; allowPrivate: AllowPrivate };
  retention: { articleDays: number; jobRunDays: number };
  rollupDebounceMs: number;
  /** /readyz turns red when jobs wait longer than this while workers have free slots. */
  readinessStallMs: number;
  /** Exit 1 once the workers are seen stalled (READINESS_STALL), for supervisors that only restart on exit. */
  exitOnStall: boolean;
  /** Per origin: requests in flight and least spacing of request starts, across all workers. */
  politeness: { hostConcurrency: number; hostMinIntervalMs: number };
  /** How many sources get per-source gauges (0: none, the default). */
  metricsSourceGauges: number;
  /** The read side: HTTP API + dashboard. CORS is off unless origins are listed; rate limit is per minute per client. */
  api: { port: number; host: string; corsOrigins: readonly string[]; rateLimitPerMinute: number; livePollMs: number };
  entities: readonly EntityConfig[];
  sources: readonly SourceConfig[];
}

function jsonPath(path: PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}.${String(key)}`), '$');
}

function readSourcesFile(file: string): { value?: z.infer<typeof sourcesFileSchema>; problems: string[] } {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    return { problems: [`SOURCES_FILE: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`] };
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { problems: [`SOURCES_FILE: ${file} is not valid JSON: ${(err as Error).message}`] };
  }
  const parsed = sourcesFileSchema.safeParse(json);
  const issues = [...(parsed.success ? [] : parsed.error.issues), ...duplicateProblems(json)];
  if (issues.length) return { problems: issues.map((i) => `${file} ${jsonPath(i.path)} ${i.message}`) };
  return { value: parsed.data, problems: [] };
}

/** Reads and validates everything; throws one ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: { readSources?: boolean } = {}): Config {
  // An empty variable means "unset": compose files often pass VAR= through.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsedEnv = envSchema.safeParse(cleaned);
  const problems = parsedEnv.success ? [] : parsedEnv.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`);
  // Read from the raw values so a bad REDIS_URL is reported beside every other bad variable.
  let redis: { url: string; prefix: (p: string) => string } | undefined;
  try {
    const url = typeof cleaned.REDIS_URL === 'string' ? cleaned.REDIS_URL : 'redis://127.0.0.1:6379';
    const target = parseRedisTarget(url, typeof cleaned.REDIS_CLUSTER_NODES === 'string' ? cleaned.REDIS_CLUSTER_NODES : undefined);
    redis = { url: target.kind === 'single' ? target.url : clusterUrl(target), prefix: (p) => effectivePrefix(p, target) };
  } catch (err) {
    if (!(err instanceof RedisTargetError)) throw err;
    problems.push(err.message);
  }
  const sourcesFile = resolve(typeof cleaned.SOURCES_FILE === 'string' ? cleaned.SOURCES_FILE : 'config/sources.json');
  const sources = options.readSources === false ? { value: { entities: [], sources: [] }, problems: [] } : readSourcesFile(sourcesFile);
  problems.push(...sources.problems);
  if (!parsedEnv.success || !sources.value || !redis || problems.length > 0) throw new ConfigError(problems);

  const e = parsedEnv.data;
  return deepFreeze({
    databaseUrl: e.DATABASE_URL,
    redisUrl: redis.url,
    sourcesFile,
    queuePrefix: redis.prefix(e.QUEUE_PREFIX),
    board: { port: e.BOARD_PORT, host: e.BOARD_HOST, user: e.BOARD_USER, password: e.BOARD_PASSWORD, readOnly: e.BOARD_READ_ONLY },
    healthPort: e.HEALTH_PORT,
    healthHost: e.HEALTH_HOST,
    logLevel: e.LOG_LEVEL,
    shutdownGraceMs: e.SHUTDOWN_GRACE,
    ingestConcurrency: e.INGEST_CONCURRENCY,
    http: { timeoutMs: e.HTTP_TIMEOUT, maxBodyBytes: e.HTTP_MAX_BODY_BYTES, allowPrivate: e.FETCH_ALLOW_PRIVATE },
    retention: { articleDays: e.ARTICLE_RETENTION_DAYS, jobRunDays: e.JOB_RUN_RETENTION_DAYS },
    rollupDebounceMs: e.ROLLUP_DEBOUNCE,
    readinessStallMs: e.READINESS_STALL,
    exitOnStall: e.EXIT_ON_STALL,
    politeness: { hostConcurrency: e.HOST_CONCURRENCY, hostMinIntervalMs: e.HOST_MIN_INTERVAL },
    metricsSourceGauges: e.METRICS_SOURCE_GAUGES,
    api: {
      port: e.API_PORT,
      host: e.API_HOST,
      corsOrigins: (e.API_CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
      rateLimitPerMinute: e.API_RATE_LIMIT,
      livePollMs: e.API_LIVE_POLL,
    },
    entities: sources.value.entities,
    sources: sources.value.sources.map(toSourceConfig),
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
