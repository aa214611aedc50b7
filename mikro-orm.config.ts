// Used by the MikroORM CLI only (`npm run migration:create`); the worker builds its own ORM.
import { loadConfig } from './src/config.ts';
import { ormOptions } from './src/db/orm.ts';

export default ormOptions(loadConfig(process.env, { readSources: false }).databaseUrl);
