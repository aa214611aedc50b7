import { decodeHTML } from 'entities';
import { indexFrom, isAsciiLetter, isSpace, regexFrom, tagEnd, type ScanMeter } from './scan.ts';

// Every pass here is linear in its input (see scan.ts): one feed field can be 300 KB of tag soup.

/** Elements whose contents are never readable text. */
const HIDDEN_ELEMENTS = new Set(['script', 'style', 'noscript', 'template']);
/** Tags that separate words when rendered; every other tag is removed without a space ("<b>G</b>ood" is "Good"). */
const BLOCK_ELEMENTS = new Set([
  'address', 'article', 'aside', 'blockquote', 'br', 'dd', 'div', 'dl', 'dt', 'figcaption', 'figure', 'footer',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'img', 'li', 'main', 'nav', 'ol', 'p', 'pre', 'section',
  'table', 'td', 'th', 'tr', 'ul',
]);
/**
 * Elements that mark a title as HTML on their own (no end tag needed). Only the ones publishers put
 * in headlines: "the <dialog> element" or "std::vector<int>" name no such element and stay text.
 */
const TITLE_ELEMENTS = new Set([
  'a', 'abbr', 'acronym', 'b', 'big', 'br', 'cite', 'del', 'dfn', 'div', 'em', 'font', 'i', 'img', 'ins', 'kbd',
  'mark', 'p', 'q', 's', 'samp', 'small', 'span', 'strike', 'strong', 'sub', 'sup', 'time', 'tt', 'u', 'var', 'wbr',
]);
const HIDDEN_END: Record<string, RegExp> = Object.fromEntries(
  [...HIDDEN_ELEMENTS].map((name) => [name, new RegExp(`</${name}(?=[\\s/>]|$)`, 'gi')]),
);
const CDATA_OPEN = '<![CDATA[';
// C0 controls other than tab/newline/CR, and DEL: Postgres rejects NUL and none of them is text.
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;
const WHITESPACE = /\s+/g;
const ELLIPSIS = '…';

/**
 * Readable plain text from a field that holds HTML (descriptions, Atom type="html"): tags,
 * comments, declarations, processing instructions and hidden elements removed, then entities decoded.
 * Tags are stripped BEFORE entities are decoded, so an escaped "&lt;b&gt;" stays visible text.
 * With `maxLen`, the result is cut on a word boundary and ends with an ellipsis.
 */
export function toPlainText(htmlOrText: string | null | undefined, maxLen?: number, meter?: ScanMeter): string {
  if (!htmlOrText) return '';
  return normalizeText(decodeHTML(stripMarkup(htmlOrText, meter)), maxLen);
}

/**
 * A title that may or may not be HTML (RSS titles, dc:title, media:title): RSS never said which,
 * and XML-decoding has already turned "&lt;dialog&gt;" into "<dialog>". It is treated as HTML only
 * when it shows markup (an end tag, a headline element such as <b>, a comment or declaration);
 * otherwise its angle brackets are text and only entities are decoded.
 */
export function titleText(text: string | null | undefined, maxLen?: number, meter?: ScanMeter): string {
  if (!text) return '';
  const evidence = markupEvidence(text, meter);
  if (evidence.endTag || evidence.titleElement || evidence.declaration || evidence.selfClosing) {
    return toPlainText(text, maxLen, meter);
  }
  return normalizeText(decodeHTML(text), maxLen);
}

/**
 * Atom type="text" (or no type): literal text, unless the element really has child elements
 * (`<title>Example <b>Atom</b> news</title>`), which show as end tags or self-closing tags.
 * A lone "<em>" (an escaped bracket in the source) stays text.
 */
export function atomPlainText(text: string | null | undefined, maxLen?: number, meter?: ScanMeter): string {
  if (!text) return '';
  const evidence = markupEvidence(text, meter);
  return evidence.endTag || evidence.selfClosing ? toPlainText(text, maxLen, meter) : normalizeText(text, maxLen);
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
  // Drop trailing spaces and punctuation by hand: a `[…]+$` regex retried at every position of a
  // long run of commas is quadratic.
  while (cut > 0 && TRAILING_PUNCTUATION.has(text[cut - 1]!)) cut -= 1;
  return text.slice(0, cut) + ELLIPSIS;
}
const TRAILING_PUNCTUATION = new Set([' ', '\t', '\n', '\r', ',', ';', ':', '.', '-', '–', '—']);

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

export interface MarkupEvidence {
  /** "</name": only markup has end tags. */
  endTag: boolean;
  /** "<name …/>". */
  selfClosing: boolean;
  /** A start tag of an element headlines use (<b>, <a href>, <br>…). */
  titleElement: boolean;
  /** "<!--", "<!DOCTYPE", "<![CDATA[" or "<?…". */
  declaration: boolean;
}

/** What kinds of markup `text` shows, in one pass (stops at the first end tag). */
export function markupEvidence(text: string, meter?: ScanMeter): MarkupEvidence {
  const evidence: MarkupEvidence = { endTag: false, selfClosing: false, titleElement: false, declaration: false };
  const n = text.length;
  let i = indexFrom(text, '<', 0, meter);
  while (i !== -1 && i + 1 < n) {
    const next = text.charCodeAt(i + 1);
    let resume = i + 1;
    if (next === 0x2f /* / */ && isAsciiLetter(text.charCodeAt(i + 2))) {
      evidence.endTag = true;
      return evidence;
    } else if (next === 0x21 /* ! */ || next === 0x3f /* ? */) {
      const c = text.charCodeAt(i + 2);
      if (isAsciiLetter(c) || c === 0x2d /* - */ || c === 0x5b /* [ */) evidence.declaration = true;
    } else if (isAsciiLetter(next)) {
      const nameEnd = tagNameEnd(text, i + 1, meter);
      const after = text.charCodeAt(nameEnd);
      // "<int>" or "<b>" must end its name at ">", "/" or a space to be a tag at all ("<a<a" is not).
      if (after === 0x3e || after === 0x2f || isSpace(after)) {
        const end = tagEnd(text, nameEnd, meter);
        // A tag that never closes is no evidence: "3 <a few" is text.
        if (text.charCodeAt(end - 1) !== 0x3e) break;
        if (TITLE_ELEMENTS.has(text.slice(i + 1, nameEnd).toLowerCase())) evidence.titleElement = true;
        if (text.charCodeAt(end - 2) === 0x2f) evidence.selfClosing = true;
        resume = end;
      } else {
        resume = nameEnd;
      }
    }
    i = indexFrom(text, '<', resume, meter);
  }
  return evidence;
}

/**
 * HTML with its markup removed, in one forward pass that follows the HTML tokenizer: a tag runs to
 * its ">" (quoted attribute values may hold ">"), and a tag, comment or declaration that never
 * closes runs to the end of the text, as in browsers. Block elements leave a space; script, style,
 * noscript and template leave nothing of their contents. CDATA markers are dropped and their
 * contents treated as HTML, as feeds mean them.
 */
export function stripMarkup(html: string, meter?: ScanMeter): string {
  const text = unwrapCdata(html, meter);
  const n = text.length;
  const out: string[] = [];
  let copied = 0; // text before this index is in `out` or deliberately dropped
  let i = indexFrom(text, '<', 0, meter);
  while (i !== -1) {
    const next = text.charCodeAt(i + 1);
    let end = -1; // index past the markup at i, or -1 when "<" is a literal character
    let replacement = '';
    if (next === 0x21 /* ! */) {
      end = text.startsWith('<!--', i) ? endPast(text, '-->', i + 4, meter) : endPast(text, '>', i + 2, meter);
    } else if (next === 0x3f /* ? */) {
      end = endPast(text, '>', i + 2, meter);
    } else if (next === 0x2f /* / */ && isAsciiLetter(text.charCodeAt(i + 2))) {
      const nameEnd = tagNameEnd(text, i + 2, meter);
      if (BLOCK_ELEMENTS.has(text.slice(i + 2, nameEnd).toLowerCase())) replacement = ' ';
      end = tagEnd(text, nameEnd, meter);
    } else if (isAsciiLetter(next)) {
      const nameEnd = tagNameEnd(text, i + 1, meter);
      const name = text.slice(i + 1, nameEnd).toLowerCase();
      end = tagEnd(text, nameEnd, meter);
      if (HIDDEN_ELEMENTS.has(name) && text.charCodeAt(end - 2) !== 0x2f) {
        // Its contents run to its end tag (or to the end of the text), then past that tag's ">".
        const close = regexFrom(HIDDEN_END[name]!, text, end, meter);
        end = close === null ? n : tagEnd(text, close.index + close[0].length, meter);
        replacement = ' ';
      } else if (BLOCK_ELEMENTS.has(name)) {
        replacement = ' ';
      }
    }
    if (end === -1) {
      i = indexFrom(text, '<', i + 1, meter);
      continue;
    }
    out.push(text.slice(copied, i), replacement);
    copied = end;
    i = end >= n ? -1 : indexFrom(text, '<', end, meter);
  }
  out.push(text.slice(copied));
  return out.join('');
}

/** `<![CDATA[x]]>` -> `x`, in one pass; an unterminated section keeps its contents. */
function unwrapCdata(text: string, meter: ScanMeter | undefined): string {
  let open = indexFrom(text, CDATA_OPEN, 0, meter);
  if (open === -1) return text;
  const out: string[] = [];
  let copied = 0;
  while (open !== -1) {
    out.push(text.slice(copied, open));
    const close = indexFrom(text, ']]>', open + CDATA_OPEN.length, meter);
    if (close === -1) {
      copied = open + CDATA_OPEN.length;
      break;
    }
    out.push(text.slice(open + CDATA_OPEN.length, close));
    copied = close + 3;
    open = indexFrom(text, CDATA_OPEN, copied, meter);
  }
  out.push(text.slice(copied));
  return out.join('');
}

/** Index just past `terminator` searched from `from`, or the end of the text when it never comes. */
function endPast(text: string, terminator: string, from: number, meter: ScanMeter | undefined): number {
  const at = indexFrom(text, terminator, from, meter);
  return at === -1 ? text.length : at + terminator.length;
}

/** End of a tag name starting at `from`: letters, digits, "-", ":" and "_" (custom and prefixed elements). */
function tagNameEnd(text: string, from: number, meter: ScanMeter | undefined): number {
  let i = from;
  for (;;) {
    const c = text.charCodeAt(i);
    if (!(isAsciiLetter(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x3a || c === 0x5f)) return i;
    if (meter) meter.visited += 1;
    i += 1;
  }
}
