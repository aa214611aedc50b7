/**
 * Shared by the hand-written text scanners (text.ts, xml.ts). A feed field can be hundreds of KB
 * of tag soup, so every scanner is a single forward pass: it never goes back to rescan text it has
 * passed. A regex with a `[^>]*`-style run tried at every "<" is quadratic on "<a<a<a…"; these
 * scanners are not, and the meter lets the tests prove it by counting instead of timing.
 */

/** Characters a scan has looked at. Pass one to a scanner to measure it; production code passes none. */
export interface ScanMeter {
  visited: number;
}

/**
 * `text.indexOf(needle, from)`, counting the characters it passes over. A miss counts the rest of
 * the text: callers treat a miss as "runs to the end", so they never search from there again.
 */
export function indexFrom(text: string, needle: string, from: number, meter: ScanMeter | undefined): number {
  const at = text.indexOf(needle, from);
  if (meter) meter.visited += (at === -1 ? text.length : at + needle.length) - from;
  return at;
}

/**
 * The next match of a global regex from `from` (its lastIndex is set), counting the characters
 * passed. Only for patterns whose every attempt is bounded (a literal start, no nested or
 * adjacent unbounded runs), so the search is linear however the text is shaped.
 */
export function regexFrom(re: RegExp, text: string, from: number, meter: ScanMeter | undefined): RegExpExecArray | null {
  re.lastIndex = from;
  const m = re.exec(text);
  if (meter) meter.visited += (m === null ? text.length : m.index + m[0].length) - from;
  return m;
}

/** True for ASCII letters: what a tag name must start with ("a < b" and "<3" are text). */
export function isAsciiLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

/** HTML/XML whitespace: space, tab, LF, FF, CR. */
export function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d;
}

/**
 * Index just past the ">" that closes a tag whose name ends at `from`, honouring quoted attribute
 * values (which may hold ">"); `text.length` when it never closes. Each character is visited once.
 */
export function tagEnd(text: string, from: number, meter: ScanMeter | undefined): number {
  let i = from;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (meter) meter.visited += 1;
    if (c === 0x3e /* > */) return i + 1;
    if (c === 0x3d /* = */) {
      // Only an attribute value may be quoted; a stray quote elsewhere is an ordinary character.
      i += 1;
      while (i < n && isSpace(text.charCodeAt(i))) {
        if (meter) meter.visited += 1;
        i += 1;
      }
      const q = text.charCodeAt(i);
      if (q === 0x22 || q === 0x27) {
        const close = indexFrom(text, q === 0x22 ? '"' : "'", i + 1, meter);
        if (close === -1) return n;
        i = close + 1;
      }
      continue;
    }
    i += 1;
  }
  return n;
}
