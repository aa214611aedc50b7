/**
 * docker-compose.yml run for real: postgres and redis healthy, the one-shot migrate finishing
 * before workers start, the board's auth, CLI runs without BOARD_PASSWORD, three workers sharing
 * the queues with one scheduler each, SIGTERM reaching node on `stop`, and `kill -s KILL` + `up`
 * losing no fetched item. The feeds come from a server on the compose network (no internet).
 * Figures are printed, not asserted.
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { announceSkip, buildImage, detectEngine, figure, ok, ROOT, run, TEST_IMAGE, waitFor, type Result } from './support/docker.ts';

const engine = await detectEngine();
if (!engine.ok || !engine.compose) announceSkip('compose tests', engine.reason ?? 'no engine');

const PROJECT = 'newspulse-ctest';
const SOURCES = ['feed-a', 'feed-b', 'feed-c'];
const ITEMS_PER_PHASE = 20;
const MAINTENANCE_SCHEDULERS = 3;
const PASSWORD = 'ctest-board-secret';
const LOCAL_IMAGES = { POSTGRES_IMAGE: 'newspulse-local/postgres:15-bookworm', REDIS_IMAGE: 'newspulse-local/redis:7.0-bookworm' };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface State {
  Status: string;
  ExitCode: number;
  StartedAt: string;
  FinishedAt: string;
  Health?: { Status: string };
}
interface Inspect {
  Id: string;
  State: State;
  Config: { Healthcheck?: { Test: string[] } };
  NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> };
}

/** The only element: the stack runs one container of that service here. */
function only<T>(items: readonly T[] | undefined, what: string): T {
  if (items?.length !== 1) throw new Error(`expected one ${what}, found ${items?.length ?? 0}`);
  return items[0] as T;
}

describe.skipIf(!engine.ok || !engine.compose)('docker compose stack', () => {
  const dir = mkdtempSync(join(tmpdir(), 'newspulse-ctest-'));
  const override = join(dir, 'compose.ctest.yml');
  let boardPort = 0;
  let env: NodeJS.ProcessEnv = {};

  /** A compose command as a user types it; `withPassword` is the shell that has BOARD_PASSWORD. */
  const compose = (args: readonly string[], options: { withPassword?: boolean } = {}): Promise<Result> => {
    const e = { ...env };
    if (options.withPassword) e.BOARD_PASSWORD = PASSWORD;
    return run('docker', ['compose', '-p', PROJECT, '-f', 'docker-compose.yml', '-f', override, ...args], { env: e });
  };
  const composeOk = async (args: readonly string[], options: { withPassword?: boolean } = {}): Promise<Result> => {
    const r = await compose(args, options);
    if (r.code !== 0) throw new Error(`docker compose ${args.join(' ')} exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    return r;
  };
  const inspect = async (service: string): Promise<Inspect[]> => {
    const ids = (await composeOk(['ps', '-a', '-q', service])).stdout.split('\n').filter(Boolean);
    if (!ids.length) return [];
    return JSON.parse((await ok('docker', ['inspect', ...ids])).stdout) as Inspect[];
  };
  const healthy = async (service: string, count = 1): Promise<Inspect[] | undefined> => {
    const all = (await inspect(service)).filter((c) => c.State.Status === 'running');
    return all.length === count && all.every((c) => c.State.Health?.Status === 'healthy') ? all : undefined;
  };
  const psql = async (query: string): Promise<string> => (await composeOk(['exec', '-T', 'postgres', 'psql', '-U', 'newspulse', '-d', 'newspulse', '-tAc', query])).stdout.trim();
  const redis = async (...args: string[]): Promise<string> => (await composeOk(['exec', '-T', 'redis', 'redis-cli', ...args])).stdout.trim();
  const articles = async (): Promise<number> => Number(await psql('select count(*) from article'));
  const boardUrl = () => `http://127.0.0.1:${boardPort}/board/`;

  beforeAll(async () => {
    chmodSync(dir, 0o755); // the containers run as uid 1000 and read this directory
    copyFileSync(`${ROOT}test/container/support/feed-server.mjs`, join(dir, 'feed-server.mjs'));
    writeFileSync(join(dir, 'phase'), '1\n');
    const { entities } = JSON.parse(readFileSync(`${ROOT}config/sources.json`, 'utf8')) as { entities: unknown[] };
    writeFileSync(join(dir, 'sources.json'), JSON.stringify({ entities, sources: SOURCES.map((id) => ({ id, kind: 'feed', url: `http://feeds:8000/feed/${id}.xml`, every: '1h' })) }, null, 2));
    // The test's additions: its image tag, a feed server on the compose network, its sources.
    writeFileSync(
      override,
      [
        'services:',
        '  feeds:',
        `    image: ${TEST_IMAGE}`,
        '    command: ["node", "/probe/feed-server.mjs"]',
        `    environment: { FEED_ITEMS: "${ITEMS_PER_PHASE}", FEED_HOLD_MS: "90000" }`,
        `    volumes: ["${dir}:/probe:ro"]`,
        ...['migrate', 'worker', 'board'].flatMap((s) => [
          `  ${s}:`,
          `    image: ${TEST_IMAGE}`,
          // HTTP_TIMEOUT above the feed server's hold, so held fetches wait instead of failing.
          '    environment: { SOURCES_FILE: /probe/sources.json, FETCH_ALLOW_PRIVATE: "true", HTTP_TIMEOUT: "120s" }',
          `    volumes: ["${dir}:/probe:ro"]`,
        ]),
        '',
      ].join('\n'),
    );
    boardPort = await freePort();
    // A shell without BOARD_PASSWORD; Postgres/Redis images built locally when present.
    env = { ...process.env, BOARD_PUBLISH: `127.0.0.1:${boardPort}` };
    delete env.BOARD_PASSWORD;
    for (const [name, image] of Object.entries(LOCAL_IMAGES)) {
      if ((await run('docker', ['image', 'inspect', image])).code === 0 && !process.env[name]) env[name] = image;
    }
    figure('postgres image', env.POSTGRES_IMAGE ?? 'postgres:17-bookworm (compose default)');
    figure('redis image', env.REDIS_IMAGE ?? 'redis:7.4-bookworm (compose default)');
    await compose(['down', '-v', '--remove-orphans']);
    await buildImage();
  });

  afterAll(async () => {
    if (process.env.CONTAINER_KEEP !== '1') await compose(['down', '-v', '--remove-orphans', '-t', '5']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('comes up: postgres and redis healthy, migrate done before workers start, worker ready, board 401/200', async () => {
    const started = Date.now();
    await composeOk(['up', '-d', '--no-build'], { withPassword: true });
    const worker = only(await waitFor('a healthy worker', () => healthy('worker'), 360_000), 'worker');
    figure('`up -d` to worker healthy', `${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(await waitFor('healthy postgres', () => healthy('postgres'))).toHaveLength(1);
    expect(await waitFor('healthy redis', () => healthy('redis'))).toHaveLength(1);

    const migrate = only(await inspect('migrate'), 'migrate container');
    expect(migrate.State.Status).toBe('exited');
    expect(migrate.State.ExitCode).toBe(0);
    expect(Date.parse(migrate.State.FinishedAt)).toBeLessThanOrEqual(Date.parse(worker.State.StartedAt));
    expect((await composeOk(['logs', 'worker'])).stdout).toMatch(/worker ready/);

    const board = only(await waitFor('a healthy board', () => healthy('board')), 'board');
    expect(board.NetworkSettings.Ports['3000/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(boardPort) }]);
    expect((await fetch(boardUrl())).status).toBe(401);
    const wrong = await fetch(boardUrl(), { headers: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` } });
    expect(wrong.status).toBe(401);
    const authed = await fetch(boardUrl(), { headers: { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` } });
    expect(authed.status).toBe(200);
    expect(await authed.text()).toMatch(/newspulse/);
  });

  it('runs the CLI, logs and ps from a shell without BOARD_PASSWORD', async () => {
    const status = await compose(['run', '--rm', '--no-deps', 'worker', 'node', 'src/cli/enqueue.ts', 'status']);
    expect(status.stderr).not.toMatch(/BOARD_PASSWORD/);
    expect(status.code).toBe(0);
    for (const id of SOURCES) expect(status.stdout).toContain(id);
    expect((await compose(['ps'])).code).toBe(0);
    expect((await compose(['logs', '--tail', '5', 'worker'])).code).toBe(0);

    const fetched = await compose(['run', '--rm', '--no-deps', 'worker', 'node', 'src/cli/enqueue.ts', 'fetch', '--all', '--wait']);
    expect(fetched.code, fetched.stdout + fetched.stderr).toBe(0);
    expect(await waitFor('phase-1 articles', async () => ((await articles()) === SOURCES.length * ITEMS_PER_PHASE ? true : undefined))).toBe(true);
  });

  it('--scale worker=3 shares the queues with one scheduler each', async () => {
    await composeOk(['up', '-d', '--no-build', '--scale', 'worker=3'], { withPassword: true });
    const workers = await waitFor('three healthy workers', () => healthy('worker', 3), 360_000);
    expect(workers).toHaveLength(3);

    // Every worker container holds BullMQ consumer connections: they share the same queues.
    const ips = new Map<string, string>();
    for (const w of workers) {
      const ip = (await ok('docker', ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', w.Id])).stdout.trim();
      ips.set(ip, w.Id);
    }
    const clients = (await redis('CLIENT', 'LIST')).split('\n').filter((l) => /\bname=\S*newspulse/.test(l) || /\bname=bull:/.test(l));
    const consumerIps = new Set(clients.map((l) => /addr=([\d.]+):/.exec(l)?.[1]).filter((ip): ip is string => Boolean(ip && ips.has(ip))));
    expect(consumerIps.size).toBe(3);

    const schedulers: string[] = [];
    const pending = new Map<string, number>();
    for (const key of (await redis('--scan', '--pattern', '*:repeat')).split('\n').filter(Boolean)) {
      const queue = key.slice(0, -':repeat'.length);
      for (const id of (await redis('ZRANGE', key, '0', '-1')).split('\n').filter(Boolean)) schedulers.push(`${queue}/${id}`);
      const next = [...(await redis('ZRANGE', `${queue}:delayed`, '0', '-1')).split('\n'), ...(await redis('LRANGE', `${queue}:wait`, '0', '-1')).split('\n')];
      for (const jobId of next.filter((j) => j.startsWith('repeat:'))) {
        const scheduler = `${queue}/${jobId.slice('repeat:'.length).replace(/:\d+$/, '')}`;
        pending.set(scheduler, (pending.get(scheduler) ?? 0) + 1);
      }
    }
    figure('schedulers with 3 workers', `${schedulers.length} (${SOURCES.length} sources + ${MAINTENANCE_SCHEDULERS} maintenance)`);
    expect(schedulers.filter((s, i) => schedulers.indexOf(s) !== i)).toEqual([]);
    expect(schedulers).toHaveLength(SOURCES.length + MAINTENANCE_SCHEDULERS);
    expect([...pending.entries()].filter(([, n]) => n > 1)).toEqual([]);
  });

  it('`stop` gives SIGTERM to node as PID 1 and every worker exits 0 within the grace period', async () => {
    const workers = await inspect('worker');
    for (const w of workers) {
      const cmdline = (await ok('docker', ['exec', w.Id, 'cat', '/proc/1/cmdline'])).stdout.split('\0');
      expect(cmdline.slice(0, 3)).toEqual(['node', 'src/main.ts', 'worker']);
    }
    const stop = await composeOk(['stop', 'worker']);
    figure('`docker compose stop worker` (3 workers, grace 40 s)', `${(stop.ms / 1000).toFixed(1)} s`);
    for (const w of await inspect('worker')) {
      expect(w.State.Status).toBe('exited');
      // 0, not 137: the process ended itself before the grace period's SIGKILL.
      expect(w.State.ExitCode).toBe(0);
      expect((await ok('docker', ['logs', w.Id])).stdout).toMatch(/shutdown complete/);
    }
  });

  it('`kill -s KILL worker` during fetches, then `up`, loses nothing', async () => {
    await composeOk(['up', '-d', '--no-build', '--scale', 'worker=1'], { withPassword: true });
    await waitFor('a healthy worker', () => healthy('worker'));
    const before = await articles();
    expect(before).toBe(SOURCES.length * ITEMS_PER_PHASE);

    // Phase 2: each feed doubles and holds its answer until released, so the kill lands mid-fetch.
    writeFileSync(join(dir, 'phase'), '2\n');
    const enqueued = await compose(['run', '--rm', '--no-deps', 'worker', 'node', 'src/cli/enqueue.ts', 'fetch', '--all']);
    expect(enqueued.code, enqueued.stdout + enqueued.stderr).toBe(0);
    const inFlight = await waitFor('fetches in flight', async () => {
      const running = Number(await psql("select count(*) from job_run where status = 'running'"));
      return running > 0 ? running : undefined;
    }, 60_000, 250);
    figure('fetches in flight at kill -9', String(inFlight));
    const victim = only(await inspect('worker'), 'worker');
    await composeOk(['kill', '-s', 'KILL', 'worker']);
    const killed = only(JSON.parse((await ok('docker', ['inspect', victim.Id])).stdout) as Inspect[], 'killed worker');
    expect(killed.State.ExitCode).toBe(137);
    expect(await articles()).toBe(before); // the killed fetches wrote nothing half-way

    const restarted = Date.now();
    await composeOk(['up', '-d', '--no-build'], { withPassword: true });
    writeFileSync(join(dir, 'release'), 'now\n');
    await waitFor('every phase-2 item stored', async () => ((await articles()) === SOURCES.length * 2 * ITEMS_PER_PHASE ? true : undefined), 300_000, 2_000);
    figure('`up` after kill -9 to every item stored (lock expiry + stalled check)', `${((Date.now() - restarted) / 1000).toFixed(1)} s`);
    expect(Number(await psql('select count(distinct url_key) from article'))).toBe(SOURCES.length * 2 * ITEMS_PER_PHASE);
    let failed = 0;
    for (const key of (await redis('--scan', '--pattern', '*:failed')).split('\n').filter(Boolean)) failed += Number(await redis('ZCARD', key));
    expect(failed).toBe(0);
  });

  it('the board turns unhealthy when Redis is down (its probe reads the queues)', async () => {
    const board = only(await inspect('board'), 'board');
    const test = board.Config.Healthcheck?.Test ?? [];
    expect(test[0]).toBe('CMD');
    expect((await run('docker', ['exec', board.Id, ...test.slice(1)])).code).toBe(0);
    await composeOk(['stop', 'redis']);
    try {
      expect((await run('docker', ['exec', board.Id, ...test.slice(1)])).code).not.toBe(0);
    } finally {
      await composeOk(['start', 'redis']);
    }
    expect(await waitFor('the board probe green again', async () => ((await run('docker', ['exec', board.Id, ...test.slice(1)])).code === 0 ? true : undefined), 60_000)).toBe(true);
  });
});
