import { createHash } from 'node:crypto';
import { resolvePublished } from './dates.ts';
import { truncate } from './text.ts';
import type { ParsedItem } from './types.ts';

/**
 * An item as an adapter read it: text already plain, URL already absolute (or null), date still raw.
 * `buildItems` turns drafts into ParsedItems the same way for every source kind.
 */
export interface ItemDraft {
  /** The source's own id (GUID, Atom id, objectID…), null when it has none. */
  id: string | null;
  url: string | null;
  title: string;
  summary: string | null;
  author: string | null;
  language: string | null;
  /** The date exactly as the source wrote it: dates.ts decides what it means. */
  published: string | null;
}

export interface BuiltItems {
  items: ParsedItem[];
  skipped: number;
  dateFallbacks: number;
}

/** Prefix of derived ids, so a derived id reads as such and cannot pass for a GUID. */
export const HASH_ID_PREFIX = 'sha256:';
/**
 * Longest external id or trend key stored as it is, in UTF-8 bytes. Both sit in unique btree
 * indexes, whose rows Postgres caps near 2.7 kB: one 4,000-character GUID failed a whole fetch.
 */
export const MAX_KEY_BYTES = 512;
/** Longest summary kept, in characters. */
export const SUMMARY_MAX = 1000;
/** Longest title kept when a title has to be made from the summary. */
export const DERIVED_TITLE_MAX = 140;

/**
 * Drafts to ParsedItems: drops items with neither title nor link, resolves dates (falling back to
 * the fetch time), derives ids for items without one and drops repeats within the same body.
 */
export function buildItems(drafts: Iterable<ItemDraft>, fetchedAt: Date): BuiltItems {
  const items: ParsedItem[] = [];
  const seen = new Map<string, string | null>(); // externalId -> url
  let skipped = 0;
  let dateFallbacks = 0;

  for (const draft of drafts) {
    if (!draft.title && !draft.url) {
      skipped += 1;
      continue;
    }
    const { date, fallback } = resolvePublished(draft.published, fetchedAt);
    // A fallback date is the fetch time: it changes every fetch, so it must not feed a derived id.
    const stableDate = fallback ? null : date;
    const ownId = draft.id?.trim();
    let externalId = ownId ? storableKey(ownId) : derivedId(draft.url, stableDate, draft.title);
    if (seen.has(externalId)) {
      // The same id twice: a true repeat (same link) is dropped; a feed that reuses one GUID for
      // different stories gets a derived id for the later ones, so no story is lost.
      const derived = derivedId(draft.url, stableDate, draft.title);
      if (seen.get(externalId) === draft.url || seen.has(derived)) {
        skipped += 1;
        continue;
      }
      externalId = derived;
    }
    seen.set(externalId, draft.url);
    if (fallback) dateFallbacks += 1;
    items.push({
      externalId,
      url: draft.url,
      title: draft.title || truncate(draft.summary ?? '', DERIVED_TITLE_MAX) || draft.url || '',
      summary: draft.summary || null,
      author: draft.author || null,
      language: draft.language || null,
      publishedAt: date,
      dateFallback: fallback,
    });
  }
  return { items, skipped, dateFallbacks };
}

/**
 * `key` itself when it fits an index row (MAX_KEY_BYTES), else `sha256:` + its hex digest: the
 * same long key always gives the same digest, so dedup stays exact, and short keys read as written.
 */
export function storableKey(key: string): string {
  // Cheap test first: a UTF-16 unit is at most 3 UTF-8 bytes.
  if (key.length * 3 <= MAX_KEY_BYTES || Buffer.byteLength(key, 'utf8') <= MAX_KEY_BYTES) return key;
  return HASH_ID_PREFIX + createHash('sha256').update(key).digest('hex');
}

/** sha256 of link + published, or of link + published + title when there is no link. */
export function derivedId(url: string | null, published: Date | null, title: string): string {
  const parts = url ? [url, published?.toISOString() ?? ''] : ['', published?.toISOString() ?? '', title];
  return HASH_ID_PREFIX + createHash('sha256').update(parts.join('\n')).digest('hex');
}
