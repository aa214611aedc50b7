import type { EntityManager } from '../db/orm.ts';
import { sql } from '../db/sql.ts';
import { compileMatcher, type EntityMatcher } from './match.ts';

/** The enabled entities compiled into one matcher; ids are entity.id. */
export interface EntityIndex extends EntityMatcher<number> {
  readonly size: number;
}

/** `includeDisabled`: also disabled entities (rescoring finds the mentions of every stored link). */
export async function loadEntityMatcher(em: EntityManager, options: { includeDisabled?: boolean } = {}): Promise<EntityIndex> {
  let query = sql(em).selectFrom('entity').select(['id', 'slug', 'name', 'aliases', 'case_sensitive', 'require_any', 'exclude']);
  if (options.includeDisabled !== true) query = query.where('enabled', '=', true);
  const rows = await query.orderBy('id').execute();
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
  return { size: rows.length, match: (text) => matcher.match(text), mentions: (text) => matcher.mentions(text) };
}
