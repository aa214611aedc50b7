/**
 * Bytes to text before any parser sees them: parsers trust the declared charset, and feeds lie
 * about it in both directions (windows-1252 labelled UTF-8, UTF-8 labelled ISO-8859-1).
 *
 * Order: a BOM decides; otherwise bytes that are valid UTF-8 are UTF-8 (legacy text is almost
 * never accidentally valid UTF-8); otherwise the Content-Type charset, then the XML prolog's
 * encoding, then windows-1252 (which, as in browsers, also stands in for ISO-8859-1).
 */

export interface DecodedText {
  text: string;
  /** The WHATWG name of the encoding used ("utf-8", "windows-1252", …). */
  encoding: string;
}

const FALLBACK_ENCODING = 'windows-1252';

/** Decodes a response body to a string without BOM. Pure. */
export function decodeText(bytes: Uint8Array, contentType: string | null): DecodedText {
  const bom = bomEncoding(bytes);
  if (bom) return decodeWith(bom.encoding, bytes.subarray(bom.length));

  const utf8 = tryDecode('utf-8', bytes, true);
  if (utf8 !== null) return { text: utf8, encoding: 'utf-8' };

  for (const label of [charsetFromContentType(contentType), xmlDeclaredEncoding(bytes)]) {
    const encoding = label === null ? null : supportedEncoding(label);
    // A declared UTF-8 has just been shown false; UTF-16 without a BOM is not worth guessing.
    if (encoding === null || encoding === 'utf-8' || encoding.startsWith('utf-16')) continue;
    return decodeWith(encoding, bytes);
  }
  return decodeWith(FALLBACK_ENCODING, bytes);
}

/** The `charset` parameter of a Content-Type header, unquoted; null when absent. */
export function charsetFromContentType(contentType: string | null | undefined): string | null {
  const match = /;\s*charset\s*=\s*(?:"([^"]*)"|([^\s;]+))/i.exec(contentType ?? '');
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
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { encoding: 'utf-16be', length: 2 };
  return null;
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
  try {
    // ignoreBOM: a BOM has been stripped already; a second one is content.
    return new TextDecoder(encoding, { fatal, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

function decodeWith(encoding: string, bytes: Uint8Array): DecodedText {
  // Non-fatal decoding cannot throw: invalid sequences become U+FFFD.
  return { text: tryDecode(encoding, bytes, false) ?? '', encoding };
}
