/**
 * `npm run keys -- create NAME | list | revoke ID|PREFIX`: the read API's keys. A new key is
 * printed once and never again (only its SHA-256 is stored).
 */
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { openOrm } from '../db/orm.ts';
import { createKey, listKeys, revokeKey } from '../api/keys.ts';

const USAGE = `usage: npm run keys -- <command>

  create NAME        make a key for the read API; it is printed once, store it now
  list               every key: id, prefix, name, created, revoked
  revoke ID|PREFIX   revoke a key by its id or the prefix shown by list (takes effect within 5 s)

Send a key as "Authorization: Bearer <key>", "X-API-Key: <key>", or as the password of
HTTP basic auth (any user name), e.g. for the dashboard in a browser.
`;

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  if (!command || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (!['create', 'list', 'revoke'].includes(command) || (command !== 'list' && rest.length !== 1) || (command === 'list' && rest.length)) {
    process.stderr.write(`keys: bad arguments "${[command, ...rest].join(' ')}"\n\n${USAGE}`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig(process.env, { readSources: false });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`keys: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const orm = await openOrm(config.databaseUrl, { pool: { min: 0, max: 1 } });
  try {
    const em = orm.em.fork();
    if (command === 'create') {
      const created = await createKey(em, rest[0]!);
      process.stdout.write(`created key ${created.id} "${created.name}":\n\n  ${created.key}\n\nIt is shown only now; store it (only a hash is kept).\n`);
    } else if (command === 'list') {
      const keys = await listKeys(em);
      if (!keys.length) process.stdout.write('no keys (the API is open on loopback only)\n');
      for (const k of keys) {
        process.stdout.write(`${String(k.id).padStart(4)}  ${k.prefix}…  ${k.created_at.toISOString()}  ${k.revoked_at ? `revoked ${k.revoked_at.toISOString()}` : 'active'}  ${k.name}\n`);
      }
    } else {
      const revoked = await revokeKey(em, rest[0]!);
      if (!revoked.length) {
        process.stderr.write(`keys: no active key with id or prefix "${rest[0]}"\n`);
        return 1;
      }
      for (const k of revoked) process.stdout.write(`revoked key ${k.id} "${k.name}" (${k.prefix}…)\n`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`keys: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await orm.close(true);
  }
}

process.exitCode = await main();
