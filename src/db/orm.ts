import { fileURLToPath } from 'node:url';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { entities } from './entities.ts';

export type Orm = MikroORM;
export type { EntityManager } from '@mikro-orm/postgresql';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** One ORM configuration for the worker, the CLI, the tests and the MikroORM CLI. */
export function ormOptions(databaseUrl: string, overrides: Partial<Options> = {}): Options {
  return defineConfig({
    clientUrl: databaseUrl,
    entities,
    extensions: [Migrator],
    // Node runs the .ts migration files directly (type stripping): no build step.
    preferTs: true,
    migrations: {
      path: MIGRATIONS_DIR,
      pathTs: MIGRATIONS_DIR,
      glob: '!(*.d).ts',
      // The snapshot is written by migration:create only; up() must never rewrite files at runtime.
      snapshotOnMigrate: false,
      snapshotName: '.snapshot-newspulse',
      transactional: true,
      allOrNothing: true,
      silent: true,
    },
    // A worker only touches tables it knows; never let the ORM create databases or schema.
    ensureDatabase: false,
    allowGlobalContext: false,
    debug: false,
    pool: { min: 0, max: 10, idleTimeoutMillis: 30_000 },
    ...overrides,
  });
}

export async function openOrm(databaseUrl: string, overrides: Partial<Options> = {}): Promise<Orm> {
  return MikroORM.init(ormOptions(databaseUrl, overrides));
}
