import { indexFrom, isAsciiLetter, regexFrom, tagEnd, type ScanMeter } from './scan.ts';

/**
 * Pre-parse surgery on XML text shared by the XML adapters. Every pass is a single forward scan
 * (see scan.ts), so a hostile document costs time linear in its size. No feed needs a DTD, and a DTD is how
 * entity bombs (billion laughs, quadratic blowup) and XXE get in, so it is cut out before any
 * parser sees the document: references to its entities then stay as inert literal text.
 */

/**
 * The document without any `<!DOCTYPE …>` (internal subset included), wherever it stands: parsers
 * also honour one placed after the root. CDATA sections and comments are left untouched.
 */
export function stripDoctype(xml: string, meter?: ScanMeter): string {
  const markup = /<!\[CDATA\[|<!--|<!DOCTYPE/gi;
  let out = '';
  let copied = 0; // xml before this index is already in `out` or deliberately dropped
  for (let m = regexFrom(markup, xml, 0, meter); m !== null; m = regexFrom(markup, xml, markup.lastIndex, meter)) {
    const opener = m[0].toUpperCase();
    if (opener === '<!DOCTYPE') {
      out += xml.slice(copied, m.index);
      copied = doctypeEnd(xml, m.index, meter);
      markup.lastIndex = copied;
    } else {
      // A "<!DOCTYPE" inside CDATA or a comment is text: jump over them.
      markup.lastIndex = endOf(xml, opener === '<!--' ? '-->' : ']]>', m.index + opener.length, meter);
    }
    if (markup.lastIndex >= xml.length) break;
  }
  return out + xml.slice(copied);
}

/** The root element's qualified name as written ("rss", "rdf:RDF", "feed"), or null when there is none. */
export function rootElementName(xml: string, meter?: ScanMeter): string | null {
  const index = rootIndex(xml, meter);
  if (index === -1) return null;
  return /^<([A-Za-z_][\w.:-]*)/.exec(xml.slice(index, index + 200))?.[1] ?? null;
}

/** The part after the colon of a qualified name. */
export function localName(qualified: string): string {
  return qualified.slice(qualified.indexOf(':') + 1);
}

/** True when the text is an HTML page (what servers send for errors, logins and parked domains). */
export function looksLikeHtml(text: string, contentType: string | null): boolean {
  const root = rootElementName(text)?.toLowerCase();
  if (root === 'html') return true;
  if (/^\s*<!doctype\s+html/i.test(text)) return true;
  return root === undefined && /^text\/html\b/i.test(contentType ?? '');
}

/**
 * Best-effort repair of a document cut off mid-way (a dropped connection, a size cap upstream):
 * keep everything up to the last complete `</item>` or `</entry>` and close the elements that were
 * still open at that point. Returns null when there is nothing complete to keep.
 */
export function closeTruncated(xml: string, meter?: ScanMeter): string | null {
  const root = rootElementName(xml, meter);
  if (root === null) return null;
  // A document that ends with its root's end tag was not cut off, whatever else is wrong with it.
  // Checked from the end (one backward search), so an intact feed costs no tag scan.
  const tail = xml.trimEnd();
  const lastEndTag = tail.lastIndexOf('</');
  if (meter) meter.visited += xml.length - lastEndTag;
  if (lastEndTag !== -1 && tail.endsWith('>') && tail.slice(lastEndTag + 2, -1).trim() === root) return null;
  const tags = scanTags(xml, meter);
  let cut = -1;
  for (const tag of tags) {
    const local = localName(tag.name).toLowerCase();
    if (tag.closing && (local === 'item' || local === 'entry')) cut = tag.end;
  }
  if (cut === -1) return null;
  const kept = xml.slice(0, cut);
  return kept + openElements(tags, cut).reverse().map((name) => `</${name}>`).join('');
}

export interface TagToken {
  name: string;
  /** Index of the tag's "<". */
  start: number;
  closing: boolean;
  selfClosing: boolean;
  /** Index just past the tag's ">". */
  end: number;
}

/**
 * Every start and end tag of `xml` in order, in one pass: comments, CDATA, PIs and declarations
 * are stepped over; a construct that never closes ends the scan (nothing after it can be a tag).
 */
export function scanTags(xml: string, meter?: ScanMeter): TagToken[] {
  const tags: TagToken[] = [];
  const n = xml.length;
  let i = indexFrom(xml, '<', 0, meter);
  while (i !== -1 && i < n) {
    let end: number;
    const next = xml.charCodeAt(i + 1);
    if (xml.startsWith('<!--', i)) end = endOf(xml, '-->', i + 4, meter);
    else if (xml.startsWith('<![CDATA[', i)) end = endOf(xml, ']]>', i + 9, meter);
    else if (next === 0x3f /* ? */ || next === 0x21 /* ! */) end = endOf(xml, '>', i + 2, meter);
    else {
      const closing = next === 0x2f; /* / */
      const nameStart = closing ? i + 2 : i + 1;
      const first = xml.charCodeAt(nameStart);
      if (!isAsciiLetter(first) && first !== 0x5f /* _ */) {
        i = indexFrom(xml, '<', i + 1, meter);
        continue;
      }
      const nameEnd = xmlNameEnd(xml, nameStart, meter);
      end = tagEnd(xml, nameEnd, meter);
      if (xml.charCodeAt(end - 1) !== 0x3e /* > */) break; // never closed: the document ends inside it
      tags.push({ name: xml.slice(nameStart, nameEnd), start: i, closing, selfClosing: xml.charCodeAt(end - 2) === 0x2f, end });
    }
    i = end >= n ? -1 : indexFrom(xml, '<', end, meter);
  }
  return tags;
}

/** Names of the elements open at `cut`, outermost first. */
function openElements(tags: readonly TagToken[], cut: number): string[] {
  const stack: string[] = [];
  for (const tag of tags) {
    if (tag.end > cut) break;
    if (tag.selfClosing) continue;
    if (!tag.closing) stack.push(tag.name);
    // An end tag closes its element and anything left open inside it (as HTML parsers do).
    // lastIndexOf walks the open stack, not the text: depth is bounded by the tags already seen.
    else {
      const at = stack.lastIndexOf(tag.name);
      if (at !== -1) stack.length = at;
    }
  }
  return stack;
}

function xmlNameEnd(xml: string, from: number, meter: ScanMeter | undefined): number {
  let i = from;
  for (;;) {
    const c = xml.charCodeAt(i);
    if (!(isAsciiLetter(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x3a || c === 0x5f || c > 0x7f)) return i;
    if (meter) meter.visited += 1;
    i += 1;
  }
}

/** Index of the root element's "<", skipping the XML declaration, PIs, comments and a DOCTYPE. */
function rootIndex(xml: string, meter: ScanMeter | undefined): number {
  let i = 0;
  for (;;) {
    i = indexFrom(xml, '<', i, meter);
    if (i === -1) return -1;
    if (xml.startsWith('<?', i)) i = endOf(xml, '?>', i, meter);
    else if (xml.startsWith('<!--', i)) i = endOf(xml, '-->', i, meter);
    else if (xml.slice(i, i + 9).toUpperCase() === '<!DOCTYPE') i = doctypeEnd(xml, i, meter);
    else if (xml.startsWith('<!', i)) i = endOf(xml, '>', i, meter);
    else return i;
    if (i >= xml.length) return -1;
  }
}

function endOf(xml: string, terminator: string, from: number, meter: ScanMeter | undefined): number {
  const end = indexFrom(xml, terminator, from, meter);
  return end === -1 ? xml.length : end + terminator.length;
}

/**
 * Index just past a DOCTYPE starting at `start`. The internal subset may contain quoted "]>" and
 * ">" (in entity values) and comments, so it is scanned rather than matched with a regex.
 */
function doctypeEnd(xml: string, start: number, meter: ScanMeter | undefined): number {
  let inSubset = false;
  let i = start + 9;
  while (i < xml.length) {
    const c = xml[i];
    if (meter) meter.visited += 1;
    if (c === '"' || c === "'") {
      i = endOf(xml, c, i + 1, meter);
      continue;
    }
    if (inSubset && xml.startsWith('<!--', i)) {
      i = endOf(xml, '-->', i, meter);
      continue;
    }
    if (c === '[') inSubset = true;
    else if (c === ']') inSubset = false;
    else if (c === '>' && !inSubset) return i + 1;
    i += 1;
  }
  return xml.length;
}
