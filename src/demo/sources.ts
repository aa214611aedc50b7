import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DemoServer } from './server.ts';
import { DEMO_SOURCES } from './server.ts';

/** The entities the demo tracks: the companies its sample headlines talk about. */
export const DEMO_ENTITIES = [
  { slug: 'tesla', name: 'Tesla', aliases: ['Tesla Inc', 'TSLA'], category: 'company', exclude: ['Nikola Tesla'] },
  { slug: 'apple', name: 'Apple', aliases: ['AAPL', 'iPhone maker'], category: 'company', exclude: ['Big Apple'] },
  { slug: 'nvidia', name: 'Nvidia', aliases: ['NVIDIA', 'NVDA'], category: 'company' },
  { slug: 'microsoft', name: 'Microsoft', aliases: ['MSFT', 'Azure'], category: 'company' },
  { slug: 'openai', name: 'OpenAI', aliases: ['ChatGPT'], category: 'company' },
  { slug: 'alphabet', name: 'Alphabet', aliases: ['Google', 'GOOGL'], category: 'company' },
  { slug: 'amazon', name: 'Amazon', aliases: ['AMZN'], category: 'company', exclude: ['Amazon rainforest'] },
  { slug: 'meta', name: 'Meta Platforms', aliases: ['Meta', 'Facebook', 'Instagram'], category: 'company' },
] as const;

/** The sources file's content: every bundled source, pointing at the demo server, on a short cadence. */
export function demoSourcesDocument(server: DemoServer): { entities: typeof DEMO_ENTITIES; sources: object[] } {
  return {
    entities: DEMO_ENTITIES,
    sources: DEMO_SOURCES.map((s) => ({
      id: s.id,
      kind: s.kind,
      url: server.sourceUrl(s),
      ...(s.query ? { query: s.query } : {}),
      every: s.every,
    })),
  };
}

/** Writes the demo sources file into a fresh temp directory; `remove()` deletes the directory. */
export function writeDemoSourcesFile(server: DemoServer): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'newspulse-demo-'));
  const file = join(dir, 'sources.json');
  writeFileSync(file, `${JSON.stringify(demoSourcesDocument(server), null, 2)}\n`);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
