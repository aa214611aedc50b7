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
  const command = (process.argv[2] ?? 'start') as Command;
  if (!COMMANDS.includes(command)) {
    process.stderr.write(`newspulse: unknown command "${command}" (expected ${COMMANDS.join(', ')})\n`);
    process.exit(2);
  }
  const config = readConfig(command);
  const log: Logger = createLogger(config.logLevel).child({ process: command });
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection'));

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

await main();
