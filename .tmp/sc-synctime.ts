import { ensureDatabase, migrate } from '../src/db/migrate.ts';
import { openOrm } from '../src/db/orm.ts';
import { syncConfig } from '../src/db/sync.ts';
import pg from 'pg';
const url = 'postgres://postgres@127.0.0.1:5432/sc_synctime_tmp';
await ensureDatabase(url);
const orm = await openOrm(url);
await migrate(orm);
const source = (id: string) => ({ id, kind: 'feed' as const, url: `https://example.org/${id}.xml`, enabled: true, schedule: { every: 60_000 } });
const entity = (slug: string) => ({ slug, name: slug, aliases: [`A ${slug}`], caseSensitive: true, requireAny: [], exclude: [] });
const sources = Array.from({ length: 100_000 }, (_, i) => source(`s${i}`));
const entities = Array.from({ length: 10_000 }, (_, i) => entity(`e${i}`));
for (let i = 0; i < 3; i++) { const t = performance.now(); const r = await syncConfig(orm.em.fork(), { sources, entities }); console.log(i, Math.round(performance.now() - t), r.changedSources); }
await orm.close(true);
const c = new pg.Client('postgres://postgres@127.0.0.1:5432/postgres'); await c.connect(); await c.query('drop database sc_synctime_tmp with (force)'); await c.end();
