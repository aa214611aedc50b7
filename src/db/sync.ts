import type { EntityConfig, SourceConfig } from '../config.ts';
import type { EntityManager } from './orm.ts';
import { sql } from './sql.ts';

/**
 * Makes the source and entity tables match the config file, idempotently. Sources and
 * entities missing from the file are disabled, never deleted: their articles and rollups
 * stay queryable.
 */
export async function syncConfig(
  em: EntityManager,
  config: { sources: readonly SourceConfig[]; entities: readonly EntityConfig[] },
): Promise<{ sources: number; entities: number; disabledSources: string[]; disabledEntities: string[] }> {
  return em.transactional(async (tx) => {
    const db = sql(tx);
    if (config.sources.length) {
      await db
        .insertInto('source')
        .values(
          config.sources.map((s) => ({
            id: s.id,
            kind: s.kind,
            url: s.url ?? null,
            query: s.query ?? null,
            every_ms: 'every' in s.schedule ? s.schedule.every : null,
            pattern: 'pattern' in s.schedule ? s.schedule.pattern : null,
            tz: 'tz' in s.schedule ? s.schedule.tz : null,
            enabled: s.enabled,
          })),
        )
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            kind: eb.ref('excluded.kind'),
            url: eb.ref('excluded.url'),
            query: eb.ref('excluded.query'),
            every_ms: eb.ref('excluded.every_ms'),
            pattern: eb.ref('excluded.pattern'),
            tz: eb.ref('excluded.tz'),
            enabled: eb.ref('excluded.enabled'),
            updated_at: new Date(),
          })),
        )
        .execute();
    }
    if (config.entities.length) {
      await db
        .insertInto('entity')
        .values(
          config.entities.map((e) => ({
            slug: e.slug,
            name: e.name,
            aliases: e.aliases,
            category: e.category ?? null,
            case_sensitive: e.caseSensitive,
            require_any: e.requireAny,
            exclude: e.exclude,
            enabled: true,
          })),
        )
        .onConflict((oc) =>
          oc.column('slug').doUpdateSet((eb) => ({
            name: eb.ref('excluded.name'),
            aliases: eb.ref('excluded.aliases'),
            category: eb.ref('excluded.category'),
            case_sensitive: eb.ref('excluded.case_sensitive'),
            require_any: eb.ref('excluded.require_any'),
            exclude: eb.ref('excluded.exclude'),
            enabled: true,
          })),
        )
        .execute();
    }
    const sourceIds = config.sources.map((s) => s.id);
    const slugs = config.entities.map((e) => e.slug);
    const disabledSources = await db
      .updateTable('source')
      .set({ enabled: false, updated_at: new Date() })
      .where('enabled', '=', true)
      .$if(sourceIds.length > 0, (q) => q.where('id', 'not in', sourceIds))
      .returning('id')
      .execute();
    const disabledEntities = await db
      .updateTable('entity')
      .set({ enabled: false })
      .where('enabled', '=', true)
      .$if(slugs.length > 0, (q) => q.where('slug', 'not in', slugs))
      .returning('slug')
      .execute();
    return {
      sources: config.sources.length,
      entities: config.entities.length,
      disabledSources: disabledSources.map((r) => r.id),
      disabledEntities: disabledEntities.map((r) => r.slug),
    };
  });
}
