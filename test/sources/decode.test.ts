import { describe, expect, it } from 'vitest';
import { charsetFromContentType, decodeText, detectLegacyEncoding, xmlDeclaredEncoding } from '../../src/sources/decode.ts';

const cp1252 = Buffer.from([0x93, 0x51, 0x94, 0x20, 0x80, 0x35, 0x20, 0x63, 0x61, 0x66, 0xe9]); // “Q” €5 café
const latin1Prolog = (body: Buffer) => Buffer.concat([Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?>'), body]);

describe('decodeText', () => {
  it.each([
    ['plain UTF-8', Buffer.from('héllo ☃'), null, 'héllo ☃', 'utf-8', false],
    ['UTF-8 BOM stripped', Buffer.from('\uFEFF<rss/>'), null, '<rss/>', 'utf-8', false],
    ['UTF-16LE BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<rss>é</rss>', 'utf16le')]), null, '<rss>é</rss>', 'utf-16le', false],
    ['UTF-16BE BOM', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('<a/>', 'utf16le').swap16()]), null, '<a/>', 'utf-16be', false],
    ['valid UTF-8 wins over a latin1 header', Buffer.from('Zoë'), 'text/xml; charset=ISO-8859-1', 'Zoë', 'utf-8', false],
    ['valid UTF-8 wins over a latin1 prolog', latin1Prolog(Buffer.from('Zoë')), null, '<?xml version="1.0" encoding="ISO-8859-1"?>Zoë', 'utf-8', false],
    ['invalid UTF-8 declared UTF-8 falls to windows-1252', cp1252, 'application/xml; charset=utf-8', '“Q” €5 café', 'windows-1252', true],
    ['header charset used when not UTF-8', Buffer.from([0xc1, 0xe2]), 'text/html; charset="KOI8-R"', 'аБ', 'koi8-r', false],
    ['prolog encoding used when no header', Buffer.concat([Buffer.from("<?xml version='1.0' encoding='iso-8859-7'?>"), Buffer.from([0xe1])]), null, "<?xml version='1.0' encoding='iso-8859-7'?>α", 'iso-8859-7', false],
    ['header beats prolog', Buffer.concat([Buffer.from('<?xml version="1.0" encoding="iso-8859-7"?>'), Buffer.from([0xe1])]), 'text/xml; charset=windows-1251', '<?xml version="1.0" encoding="iso-8859-7"?>б', 'windows-1251', false],
    ['unknown label is ignored', Buffer.from([0xe9]), 'text/xml; charset=x-made-up', 'é', 'windows-1252', true],
    ['no declaration: windows-1252', Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]), null, 'Grüße', 'windows-1252', true],
    ['ISO-8859-1 label decodes as windows-1252 (WHATWG)', Buffer.from([0x80]), 'text/plain; charset=iso-8859-1', '€', 'windows-1252', false],
    ['empty', Buffer.alloc(0), null, '', 'utf-8', false],
  ])('%s', (_name, bytes, contentType, text, encoding, guessed) => {
    expect(decodeText(bytes, contentType)).toEqual({ text, encoding, guessed });
  });
});

const utf32 = (text: string, littleEndian: boolean): Buffer => {
  const out = Buffer.alloc([...text].length * 4);
  [...text].forEach((ch, i) => (littleEndian ? out.writeUInt32LE(ch.codePointAt(0)!, i * 4) : out.writeUInt32BE(ch.codePointAt(0)!, i * 4)));
  return out;
};

describe('decodeText: UTF-16/32 per XML Appendix F', () => {
  it.each([
    ['UTF-32LE BOM is not UTF-16LE', Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x00]), utf32('<rss>é☃😀</rss>', true)]), '<rss>é☃😀</rss>', 'utf-32le'],
    ['UTF-32BE BOM', Buffer.concat([Buffer.from([0x00, 0x00, 0xfe, 0xff]), utf32('<a/>', false)]), '<a/>', 'utf-32be'],
    ['UTF-32LE without BOM (3C 00 00 00)', utf32('<?xml version="1.0"?><a/>', true), '<?xml version="1.0"?><a/>', 'utf-32le'],
    ['UTF-32BE without BOM (00 00 00 3C)', utf32('<rss/>', false), '<rss/>', 'utf-32be'],
    ['UTF-16LE without BOM (3C 00 3F 00)', Buffer.from('<?xml version="1.0" encoding="UTF-16"?><a>ü</a>', 'utf16le'), '<?xml version="1.0" encoding="UTF-16"?><a>ü</a>', 'utf-16le'],
    ['UTF-16BE without BOM, no declaration (00 3C 00 72)', Buffer.from('<rss>ü</rss>', 'utf16le').swap16(), '<rss>ü</rss>', 'utf-16be'],
  ])('%s', (_name, bytes, text, encoding) => {
    expect(decodeText(bytes, null)).toEqual({ text, encoding, guessed: false });
  });

  it('turns invalid UTF-32 units and a trailing partial unit into U+FFFD', () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x00]), utf32('<a>', true), Buffer.from([0x00, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00, 0x3e])]);
    expect(decodeText(bytes, null).text).toBe('<a>\uFFFD\uFFFD\uFFFD');
  });
});

describe('detectLegacyEncoding', () => {
  it('says nothing on a few bytes (every multi-byte charset scores alike)', () => {
    expect(detectLegacyEncoding(Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]))).toBeNull();
  });

  it('names the charset of legacy text whose structure is unambiguous', () => {
    // "日本語のニュース記事です。" repeated, in EUC-JP.
    const eucJp = Buffer.from('c6fccbdcb8eca4cea5cba5e5a1bca5b9b5adbbf6a4c7a4b9a1a3'.repeat(8), 'hex');
    expect(detectLegacyEncoding(eucJp)).toBe('euc-jp');
    expect(decodeText(eucJp, null)).toEqual({ text: '日本語のニュース記事です。'.repeat(8), encoding: 'euc-jp', guessed: true });
  });

  it('a declared legacy charset is used as declared, not guessed', () => {
    const eucJp = Buffer.from('c6fccbdcb8ec', 'hex');
    expect(decodeText(eucJp, 'text/xml; charset=EUC-JP')).toEqual({ text: '日本語', encoding: 'euc-jp', guessed: false });
  });
});

describe('charsetFromContentType', () => {
  it.each([
    ['text/xml; charset=UTF-8', 'UTF-8'],
    ['text/xml;charset="iso-8859-1"', 'iso-8859-1'],
    ['text/xml; foo=bar; Charset=windows-1252; x=y', 'windows-1252'],
    ['text/xml', null],
    [null, null],
  ])('%s -> %s', (header, charset) => expect(charsetFromContentType(header)).toBe(charset));
});

describe('xmlDeclaredEncoding', () => {
  it.each([
    ['<?xml version="1.0" encoding="ISO-8859-1"?><rss/>', 'ISO-8859-1'],
    ["  <?xml version='1.0' encoding='utf-8' standalone='yes'?>", 'utf-8'],
    ['<?xml version="1.0"?><rss/>', null],
    ['<rss encoding="x"/>', null],
  ])('%s -> %s', (text, encoding) => expect(xmlDeclaredEncoding(Buffer.from(text))).toBe(encoding));
});
