import { decodeHTML } from 'entities';

// Elements whose contents are never readable text.
const HIDDEN_ELEMENTS = /<(script|style|noscript|template)\b(?:"[^"]*"|'[^']*'|[^'">])*>[\s\S]*?<\/\1\s*>/gi;
const CDATA = /<!\[CDATA\[([\s\S]*?)\]\]>/g;
const COMMENT = /<!--[\s\S]*?(?:-->|$)/g;
// Tags that separate words when rendered; every other tag is removed without a space ("<b>G</b>ood" is "Good").
const BLOCK_TAG =
  /<\/?(?:address|article|aside|blockquote|br|dd|div|dl|dt|figcaption|figure|footer|h[1-6]|header|hr|img|li|main|nav|ol|p|pre|section|table|td|th|tr|ul)\b(?:"[^"]*"|'[^']*'|[^'">])*>/gi;
// A tag must start with a letter (or "/letter"), so "a < b" and "<3" stay text. Quoted attributes may contain ">".
const ANY_TAG = /<\/?[a-zA-Z](?:"[^"]*"|'[^']*'|[^'">])*>/g;
// C0 controls other than tab/newline/CR, and DEL: Postgres rejects NUL and none of them is text.
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;
const WHITESPACE = /\s+/g;
const ELLIPSIS = '…';

/**
 * Readable plain text from a title or summary that may hold HTML, entities and CDATA.
 * Tags are stripped BEFORE entities are decoded, so an escaped "&lt;b&gt;" stays visible text.
 * With `maxLen`, the result is cut on a word boundary and ends with an ellipsis.
 */
export function toPlainText(htmlOrText: string | null | undefined, maxLen?: number): string {
  if (!htmlOrText) return '';
  const text = decodeHTML(
    htmlOrText
      .replace(CDATA, '$1')
      .replace(COMMENT, ' ')
      .replace(HIDDEN_ELEMENTS, ' ')
      .replace(BLOCK_TAG, ' ')
      .replace(ANY_TAG, ''),
  );
  return normalizeText(text, maxLen);
}

/** Plain text that needs no markup handling (JSON fields, Atom type="text"): controls removed, whitespace collapsed. */
export function normalizeText(text: string | null | undefined, maxLen?: number): string {
  if (!text) return '';
  const normalized = text.replace(CONTROL_CHARS, '').replace(WHITESPACE, ' ').trim();
  return maxLen === undefined ? normalized : truncate(normalized, maxLen);
}

/** Cuts `text` to at most `maxLen` characters (ellipsis included), preferring the last word boundary. */
export function truncate(text: string, maxLen: number): string {
  if (text.length <= maxLen) return text;
  if (maxLen <= ELLIPSIS.length) return ELLIPSIS.slice(0, maxLen);
  let cut = maxLen - ELLIPSIS.length;
  const space = text.lastIndexOf(' ', cut);
  // Only back up to a space when it does not throw away most of the text (one giant "word", a URL).
  if (space > cut / 2) cut = space;
  // Never split a surrogate pair.
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1;
  return text.slice(0, cut).replace(/[\s,;:.\-–—]+$/u, '') + ELLIPSIS;
}

/**
 * `href` resolved against `base`, only when the result is an http(s) URL (no javascript:, mailto:, data:).
 * Returns null for empty, unparseable or non-web references.
 */
export function absoluteUrl(href: string | null | undefined, base?: string | null): string | null {
  const trimmed = href?.trim();
  if (!trimmed) return null;
  let url: URL;
  try {
    url = base ? new URL(trimmed, base) : new URL(trimmed);
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
}
