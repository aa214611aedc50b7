import { describe, expect, it } from 'vitest';
import { charsetFromContentType, decodeText, xmlDeclaredEncoding } from '../../src/sources/decode.ts';

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
