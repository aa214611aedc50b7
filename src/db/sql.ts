import type { Kysely } from 'kysely';
import type { InferKyselyDB } from '@mikro-orm/postgresql';
import type { EntityManager } from './orm.ts';
import type { entities } from './entities.ts';

/** The database as Kysely sees it: table and column names derived from the entities. */
export type DB = InferKyselyDB<(typeof entities)[number]>;

/**
 * Typed SQL bound to this EntityManager: inside `em.transactional` it joins the
 * transaction, so bulk statements commit with everything else.
 */
export function sql(em: EntityManager): Kysely<DB> {
  // convertValues: results come back as the entity types say (Date, number), not raw pg strings.
  return em.getKysely<DB>({ convertValues: true });
}
