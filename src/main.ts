/**
 * Process entry: config -> ORM -> Redis -> workers + schedulers -> wait for a signal.
 *   node src/main.ts start    migrate, sync config, workers + schedulers + dashboard + health
 *   node src/main.ts worker   workers + schedulers + health (the container's command)
 *   node src/main.ts board    bull-board only
 *   node src/main.ts api      the read API and dashboard only (scales apart from workers)
 *   node src/main.ts migrate  apply migrations (creates the database when missing), then exit
 */
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createLogger, redactUrl, type Logger } from './logger.ts';
import { Shutdown } from './shutdown.ts';
import { runMigrations, startApiProcess, startBoardProcess, startWorkerProcess } from './process.ts';
import { ApiConfigError } from './api/access.ts';
import { BoardConfigError } from './board/server.ts';

const COMMANDS = ['start', 'worker', 'board', 'migrate', 'api'] as const;
type Command = (typeof COMMANDS)[number];

/** `--help`: the commands and every environment variable, with defaults (README "Configuration" has more). */
export const HELP = `usage: node src/main.ts <command>      (npm start | npm run worker | npm run board | npm run api | npm run migrate)

commands:
  start     migrate, sync the sources file, run workers + schedulers + bull-board + health (default)
  worker    workers + schedulers + health (the container's command; run as many as you like)
  board     bull-board only
  api       read API + dashboard only (API_PORT)
  migrate   create the database when missing, apply migrations, exit
  enqueue   not here: npm run enqueue -- --help (fetch, rollup, rebuild, rescore, prune, status, reload)

environment (empty = unset):
  DATABASE_URL            postgres://postgres@127.0.0.1:5432/newspulse
  REDIS_URL               redis://127.0.0.1:6379 (rediss:// for TLS; redis+cluster://h1:p1,h2:p2 for Redis Cluster)
  REDIS_CLUSTER_NODES     unset: h1:p1,h2:p2 makes a Redis Cluster client (instead of a cluster URL)
  SOURCES_FILE            config/sources.json: entities and sources
  QUEUE_PREFIX            newspulse: BullMQ key prefix (hash-tagged automatically on Redis Cluster)
  BOARD_PORT, BOARD_HOST  3000, 127.0.0.1: bull-board (non-loopback needs BOARD_PASSWORD)
  BOARD_USER              admin: basic-auth user
  BOARD_PASSWORD          unset: basic-auth password; unset = no auth, loopback only
  BOARD_READ_ONLY         false: true blocks every write on the board
  HEALTH_PORT, HEALTH_HOST  8080, 0.0.0.0: /livez (= /healthz), /readyz, /metrics
  LOG_LEVEL               info: fatal error warn info debug trace silent (NO_COLOR turns colours off)
  SHUTDOWN_GRACE          25s: how long running jobs may finish after SIGTERM
  INGEST_CONCURRENCY      4: fetch jobs at once per process
  HTTP_TIMEOUT            20s: whole-request deadline of a fetch
  HTTP_MAX_BODY_BYTES     15728640: response size cap after decompression
  FETCH_ALLOW_PRIVATE     false: true, or CIDRs (127.0.0.1/32,10.0.0.0/8) feeds may reach in private ranges
  HOST_CONCURRENCY        2: fetches in flight per origin, across all workers
  HOST_MIN_INTERVAL       500ms: least spacing of request starts per origin, across all workers
  METRICS_SOURCE_GAUGES   0: per-source gauges for the N worst sources (at most 1000)
  ARTICLE_RETENTION_DAYS  90: raw articles older than this are pruned
  JOB_RUN_RETENTION_DAYS  30: job_run rows older than this are pruned
  ROLLUP_DEBOUNCE         2s: delay of the refresh that follows an ingest
  READINESS_STALL         60s: jobs due this long with free worker slots = workers stalled
  EXIT_ON_STALL           false: true exits 1 on a stall, so a plain restart policy recovers it
  API_PORT, API_HOST      3001, 127.0.0.1: read API + dashboard (non-loopback needs an API key or BOARD_PASSWORD)
  API_CORS_ORIGINS        unset: comma-separated origins allowed by CORS
  API_RATE_LIMIT          600: requests per minute per client, per API process
  API_LIVE_POLL           2s: how often the dashboard's live feed checks for a finished refresh

exit codes: 0 ok, 1 failed (or stalled with EXIT_ON_STALL), 2 bad configuration or command
`;

function readConfig(command: Command): Config {
  try {
    return loadConfig(process.env, { readSources: command === 'start' || command === 'worker' });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`newspulse: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg === '--help' || arg === '-h' || arg === 'help') {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const command = (arg ?? 'start') as Command;
  if (!COMMANDS.includes(command)) {
    process.stderr.write(`newspulse: unknown command "${command}" (expected ${COMMANDS.join(', ')}; --help lists them)\n`);
    process.exit(2);
  }
  const config = readConfig(command);
  const log: Logger = createLogger(config.logLevel).child({ process: command });
  // Like Node's default (crash), after logging: state after an unexpected rejection is unknown,
  // and the supervisor's restart is the safe recovery.
  process.on('unhandledRejection', (reason) => {
    log.fatal({ err: reason }, 'unhandled rejection: exiting');
    process.exit(1);
  });

  if (command === 'migrate') {
    await runMigrations(config, log);
    return;
  }
  const shutdown = new Shutdown(log, config.shutdownGraceMs + 10_000);
  shutdown.installSignalHandlers();
  try {
    log.info({ database: redactUrl(config.databaseUrl), redis: redactUrl(config.redisUrl), prefix: config.queuePrefix }, 'starting');
    if (command === 'board') await startBoardProcess(config, log, shutdown);
    else if (command === 'api') await startApiProcess(config, log, shutdown);
    else await startWorkerProcess(config, log, shutdown, { migrate: command === 'start', board: command === 'start', api: command === 'start' });
  } catch (err) {
    if (err instanceof BoardConfigError || err instanceof ApiConfigError) {
      process.stderr.write(`newspulse: ${err.message}\n`);
      await shutdown.run('start failed');
      process.exit(2);
    }
    log.fatal({ err }, 'could not start');
    await shutdown.run('start failed');
    process.exit(1);
  }
}

if (import.meta.main) await main();
