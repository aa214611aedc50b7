import { analyse } from 'chardet';
import type { ParseStats } from './types.ts';

/**
 * Bytes to text before any parser sees them: parsers trust the declared charset, and feeds lie
 * about it in both directions (windows-1252 labelled UTF-8, UTF-8 labelled ISO-8859-1).
 *
 * Order: a BOM decides (UTF-32 before UTF-16: FF FE 00 00 is UTF-32LE); then, as the XML spec's
 * Appendix F does, the zero bytes around the first ASCII characters reveal UTF-16/32 without a
 * BOM; otherwise bytes that are valid UTF-8 are UTF-8 (legacy text is almost never accidentally
 * valid UTF-8); otherwise the Content-Type charset, then the XML prolog's encoding; with no usable
 * declaration, chardet (ICU's detector) guesses among the legacy charsets (EUC-JP, Shift_JIS,
 * EUC-KR, GB18030, KOI8-R, windows-125x…), and windows-1252 (which, as in browsers, also stands in
 * for ISO-8859-1) is the last resort. The last two are recorded as guessed.
 */

export interface DecodedText {
  text: string;
  /** The WHATWG name of the encoding used ("utf-8", "windows-1252", …; "utf-32le"/"utf-32be"). */
  encoding: string;
  /** True when nothing in the bytes or headers said which charset it was: it was detected or assumed. */
  guessed: boolean;
}

const FALLBACK_ENCODING = 'windows-1252';
/** chardet looks at this much: enough for its statistics, and a bound on its work. */
const DETECT_SAMPLE_BYTES = 64 * 1024;
/**
 * Below this chardet's answer is noise: on a few bytes every multi-byte charset scores 10. Its
 * structural matches (valid EUC/SJIS sequences) score 100, a Cyrillic text of a few lines ~30.
 */
const MIN_DETECT_CONFIDENCE = 20;

/** Decodes a response body to a string without BOM. Pure. */
export function decodeText(bytes: Uint8Array, contentType: string | null): DecodedText {
  const bom = bomEncoding(bytes);
  if (bom) return decodeWith(bom.encoding, bytes.subarray(bom.length), false);
  const wide = wideEncodingWithoutBom(bytes);
  if (wide) return decodeWith(wide, bytes, false);

  const utf8 = tryDecode('utf-8', bytes, true);
  if (utf8 !== null) return { text: utf8, encoding: 'utf-8', guessed: false };

  for (const label of [charsetFromContentType(contentType), xmlDeclaredEncoding(bytes)]) {
    const encoding = label === null ? null : supportedEncoding(label);
    // A declared UTF-8 has just been shown false; a declared UTF-16/32 would have shown in its zero bytes.
    if (encoding === null || encoding === 'utf-8' || encoding.startsWith('utf-16')) continue;
    return decodeWith(encoding, bytes, false);
  }
  return decodeWith(detectLegacyEncoding(bytes) ?? FALLBACK_ENCODING, bytes, true);
}

/**
 * The bytes outside "<…>", each tag left as one space: ICU's own detector filters its input this
 * way (CharsetDetector.enableInputFilter), since English tag names and attributes outweigh a few
 * lines of Cyrillic in its n-gram statistics. "<" and ">" are the same byte in every charset here.
 */
function withoutMarkup(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let n = 0;
  let inTag = false;
  for (const byte of bytes) {
    if (byte === 0x3c) inTag = true;
    else if (byte === 0x3e && inTag) {
      inTag = false;
      out[n++] = 0x20;
    } else if (!inTag) out[n++] = byte;
  }
  return out.subarray(0, n);
}
/** Less text than this outside the tags says too little: chardet then reads the raw bytes. */
const MIN_FILTERED_BYTES = 64;

/** Job stats of a body read by a parser with no lenient fallback. */
export function strictParseStats(decoded: DecodedText): ParseStats {
  return { parser: 'strict', charset: decoded.encoding, charset_guessed: decoded.guessed, lenient_rescue: false };
}

/**
 * chardet's best answer for bytes that are not UTF-8, as a TextDecoder encoding; null when it is
 * unsure or names something that cannot be meant here (UTF-*, the 7-bit ISO-2022 forms, which
 * would have been valid UTF-8).
 */
export function detectLegacyEncoding(bytes: Uint8Array): string | null {
  const sample = bytes.subarray(0, DETECT_SAMPLE_BYTES);
  const text = withoutMarkup(sample);
  const best = analyse(text.length >= MIN_FILTERED_BYTES ? text : sample)[0];
  if (!best || best.confidence < MIN_DETECT_CONFIDENCE) return null;
  if (/^(utf|iso-2022|iso_2022|ascii|mbcs|sbcs)/i.test(best.name)) return null;
  return supportedEncoding(best.name);
}

/** The `charset` parameter of a Content-Type header, unquoted; null when absent. */
export function charsetFromContentType(contentType: string | null | undefined): string | null {
  // Bounded: a header is short, and the regex then reads a bounded string whatever it holds.
  const match = /;\s*charset\s*=\s*(?:"([^"]*)"|([^\s;]+))/i.exec((contentType ?? '').slice(0, 1024));
  const charset = match?.[1] ?? match?.[2];
  return charset ? charset.trim() : null;
}

/** The `encoding` of an XML declaration at the very start of the bytes; null when absent. */
export function xmlDeclaredEncoding(bytes: Uint8Array): string | null {
  // The declaration is ASCII in every ASCII-compatible encoding; latin1 maps bytes 1:1.
  const head = Buffer.from(bytes.subarray(0, 256)).toString('latin1');
  const match = /^\s*<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']/.exec(head);
  return match?.[1] ?? null;
}

function bomEncoding(bytes: Uint8Array): { encoding: string; length: number } | null {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return { encoding: 'utf-8', length: 3 };
  // UTF-32 first: its little-endian BOM starts with UTF-16LE's.
  if (bytes[0] === 0xff && bytes[1] === 0xfe && bytes[2] === 0x00 && bytes[3] === 0x00) return { encoding: 'utf-32le', length: 4 };
  if (bytes[0] === 0x00 && bytes[1] === 0x00 && bytes[2] === 0xfe && bytes[3] === 0xff) return { encoding: 'utf-32be', length: 4 };
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { encoding: 'utf-16be', length: 2 };
  return null;
}

/**
 * XML spec Appendix F without a BOM: a document starts with "<" (or whitespace), so its first
 * ASCII characters show which bytes are zero. Generalised from "<?" to any two ASCII characters,
 * since feeds often have no XML declaration. UTF-8 and the legacy charsets have no zero bytes there.
 */
function wideEncodingWithoutBom(bytes: Uint8Array): string | null {
  if (bytes.length < 4) return null;
  const zero = [bytes[0] === 0, bytes[1] === 0, bytes[2] === 0, bytes[3] === 0].map((z) => (z ? '0' : 'x')).join('');
  switch (zero) {
    case '000x':
      return 'utf-32be';
    case 'x000':
      return 'utf-32le';
    case '0x0x':
      return 'utf-16be';
    case 'x0x0':
      return 'utf-16le';
    default:
      return null;
  }
}

/** The canonical name TextDecoder gives a label, or null when Node does not know the label. */
function supportedEncoding(label: string): string | null {
  try {
    return new TextDecoder(label).encoding;
  } catch {
    return null;
  }
}

function tryDecode(encoding: string, bytes: Uint8Array, fatal: boolean): string | null {
  if (encoding === 'utf-32le' || encoding === 'utf-32be') return decodeUtf32(bytes, encoding === 'utf-32le');
  try {
    // ignoreBOM: a BOM has been stripped already; a second one is content.
    return new TextDecoder(encoding, { fatal, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

function decodeWith(encoding: string, bytes: Uint8Array, guessed: boolean): DecodedText {
  // Non-fatal decoding cannot throw: invalid sequences become U+FFFD.
  return { text: tryDecode(encoding, bytes, false) ?? '', encoding, guessed };
}

/**
 * UTF-32, which TextDecoder does not support: one code point per 4 bytes; surrogates, values
 * past U+10FFFF and a trailing partial unit become U+FFFD (as TextDecoder does for UTF-16).
 */
function decodeUtf32(bytes: Uint8Array, littleEndian: boolean): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: string[] = [];
  const units: number[] = [];
  const whole = bytes.length - (bytes.length % 4);
  for (let i = 0; i < whole; i += 4) {
    const cp = view.getUint32(i, littleEndian);
    units.push(cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0xfffd : cp);
    if (units.length === 8192) chunks.push(String.fromCodePoint(...units.splice(0)));
  }
  if (whole < bytes.length) units.push(0xfffd);
  chunks.push(String.fromCodePoint(...units));
  return chunks.join('');
}
