/**
 * Pre-parse surgery on XML text shared by the XML adapters. No feed needs a DTD, and a DTD is how
 * entity bombs (billion laughs, quadratic blowup) and XXE get in, so it is cut out before any
 * parser sees the document: references to its entities then stay as inert literal text.
 */

/**
 * The document without any `<!DOCTYPE …>` (internal subset included), wherever it stands: parsers
 * also honour one placed after the root. CDATA sections and comments are left untouched.
 */
export function stripDoctype(xml: string): string {
  const markup = /<!\[CDATA\[|<!--|<!DOCTYPE/gi;
  let out = '';
  let copied = 0; // xml before this index is already in `out` or deliberately dropped
  for (let m = markup.exec(xml); m !== null; m = markup.exec(xml)) {
    const opener = m[0].toUpperCase();
    if (opener === '<!DOCTYPE') {
      out += xml.slice(copied, m.index);
      copied = doctypeEnd(xml, m.index);
      markup.lastIndex = copied;
    } else {
      // A "<!DOCTYPE" inside CDATA or a comment is text: jump over them.
      markup.lastIndex = endOf(xml, opener === '<!--' ? '-->' : ']]>', m.index + opener.length);
    }
  }
  return out + xml.slice(copied);
}

/** The root element's qualified name as written ("rss", "rdf:RDF", "feed"), or null when there is none. */
export function rootElementName(xml: string): string | null {
  const index = rootIndex(xml);
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
export function closeTruncated(xml: string): string | null {
  const root = rootElementName(xml);
  // A document that ends with its root's end tag was not cut off, whatever else is wrong with it.
  if (root === null || new RegExp(`</${root.replace(/[.]/g, '\\.')}\\s*>\\s*$`).test(xml)) return null;
  const cut = Math.max(lastEnd(xml, 'item'), lastEnd(xml, 'entry'));
  if (cut === -1) return null;
  const kept = xml.slice(0, cut);
  return kept + openElements(kept).reverse().map((name) => `</${name}>`).join('');
}

function lastEnd(xml: string, local: string): number {
  const re = new RegExp(`</(?:[\\w.-]+:)?${local}\\s*>`, 'gi');
  let end = -1;
  for (const m of xml.matchAll(re)) end = m.index + m[0].length;
  return end;
}

/** Names of the elements open at the end of `xml`, outermost first (comments and CDATA skipped). */
function openElements(xml: string): string[] {
  const stack: string[] = [];
  const token = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<[?!][^>]*>|<(\/?)([A-Za-z_][\w.:-]*)(?:"[^"]*"|'[^']*'|[^'">])*?(\/?)>/g;
  for (const m of xml.matchAll(token)) {
    const [, closing, name, selfClosing] = m;
    if (name === undefined || selfClosing) continue;
    if (!closing) stack.push(name);
    // An end tag closes its element and anything left open inside it (as HTML parsers do).
    else if (stack.includes(name)) stack.length = stack.lastIndexOf(name);
  }
  return stack;
}

/** Index of the root element's "<", skipping the XML declaration, PIs, comments and a DOCTYPE. */
function rootIndex(xml: string): number {
  let i = 0;
  for (;;) {
    i = xml.indexOf('<', i);
    if (i === -1) return -1;
    if (xml.startsWith('<?', i)) i = endOf(xml, '?>', i);
    else if (xml.startsWith('<!--', i)) i = endOf(xml, '-->', i);
    else if (xml.slice(i, i + 9).toUpperCase() === '<!DOCTYPE') i = doctypeEnd(xml, i);
    else if (xml.startsWith('<!', i)) i = endOf(xml, '>', i);
    else return i;
    if (i >= xml.length) return -1;
  }
}

function endOf(xml: string, terminator: string, from: number): number {
  const end = xml.indexOf(terminator, from);
  return end === -1 ? xml.length : end + terminator.length;
}

/**
 * Index just past a DOCTYPE starting at `start`. The internal subset may contain quoted "]>" and
 * ">" (in entity values) and comments, so it is scanned rather than matched with a regex.
 */
function doctypeEnd(xml: string, start: number): number {
  let inSubset = false;
  let i = start + 9;
  while (i < xml.length) {
    const c = xml[i];
    if (c === '"' || c === "'") {
      i = endOf(xml, c, i + 1);
      continue;
    }
    if (inSubset && xml.startsWith('<!--', i)) {
      i = endOf(xml, '-->', i);
      continue;
    }
    if (c === '[') inSubset = true;
    else if (c === ']') inSubset = false;
    else if (c === '>' && !inSubset) return i + 1;
    i += 1;
  }
  return xml.length;
}
