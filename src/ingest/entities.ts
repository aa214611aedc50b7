import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import { compileMatcher, type EntityMatcher } from './match.ts';

/** The enabled entities compiled into one matcher; ids are entity.id. */
export interface EntityIndex extends EntityMatcher<number> {
  readonly size: number;
}

export async function loadEntityMatcher(em: EntityManager): Promise<EntityIndex> {
  const rows = await sql(em)
    .selectFrom('entity')
    .select(['id', 'slug', 'name', 'aliases', 'case_sensitive', 'require_any', 'exclude'])
    .where('enabled', '=', true)
    .orderBy('id')
    .execute();
  const matcher = compileMatcher(
    rows.map((r) => ({
      id: r.id,
      slug: r.slug,
      name: r.name,
      aliases: r.aliases,
      caseSensitive: r.case_sensitive,
      requireAny: r.require_any,
      exclude: r.exclude,
    })),
  );
  return { size: rows.length, match: (text) => matcher.match(text) };
}
