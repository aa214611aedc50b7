import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Which IP addresses a feed fetch may connect to (SSRF protection). Loopback, link-local (the
 * cloud metadata service at 169.254.169.254), private and the other special-purpose ranges of
 * RFC 6890 are refused unless FETCH_ALLOW_PRIVATE allows them: `true` allows every range but
 * the metadata one, a CIDR list allows exactly the listed ranges (169.254.0.0/16 included when
 * listed). The check runs on the resolved address inside the connect path, so neither DNS
 * rebinding nor a redirect reaches a refused address.
 */

/** FETCH_ALLOW_PRIVATE, parsed: false (default), true, or CIDRs such as "127.0.0.1/32". */
export type AllowPrivate = boolean | readonly string[];

type Family = 'ipv4' | 'ipv6';
interface Range {
  cidr: string;
  what: string;
  /** Refused even with FETCH_ALLOW_PRIVATE=true: only an explicit CIDR allows it. */
  metadata?: true;
}

// Most specific first: the first match names the range in the error.
const SPECIAL_RANGES: readonly Range[] = [
  { cidr: '169.254.0.0/16', what: 'link-local, cloud metadata', metadata: true },
  { cidr: 'fd00:ec2::254/128', what: 'cloud metadata', metadata: true },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '::1/128', what: 'loopback' },
  { cidr: '::/128', what: 'unspecified' },
  { cidr: '0.0.0.0/8', what: '"this network"' },
  { cidr: '10.0.0.0/8', what: 'private' },
  { cidr: '172.16.0.0/12', what: 'private' },
  { cidr: '192.168.0.0/16', what: 'private' },
  { cidr: '100.64.0.0/10', what: 'shared address space (carrier-grade NAT)' },
  { cidr: '192.0.0.0/24', what: 'IETF protocol assignments' },
  { cidr: '192.0.2.0/24', what: 'documentation' },
  { cidr: '198.51.100.0/24', what: 'documentation' },
  { cidr: '203.0.113.0/24', what: 'documentation' },
  { cidr: '192.88.99.0/24', what: '6to4 relay anycast' },
  { cidr: '198.18.0.0/15', what: 'benchmarking' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '240.0.0.0/4', what: 'reserved' },
  { cidr: '::/96', what: 'IPv4-compatible (deprecated)' },
  { cidr: '64:ff9b::/96', what: 'NAT64 (embeds an IPv4 address)' },
  { cidr: '64:ff9b:1::/48', what: 'local-use NAT64' },
  { cidr: '100::/64', what: 'discard-only' },
  { cidr: '2001:db8::/32', what: 'documentation' },
  { cidr: '2001::/23', what: 'IETF protocol assignments (Teredo included)' },
  { cidr: '2002::/16', what: '6to4 (embeds an IPv4 address)' },
  { cidr: 'fc00::/7', what: 'unique local (private)' },
  { cidr: 'fe80::/10', what: 'link-local' },
  { cidr: 'fec0::/10', what: 'site-local (deprecated)' },
  { cidr: 'ff00::/8', what: 'multicast' },
];

/** A refused connection: a PermanentError at the HTTP edge (retrying cannot help). */
export class AddressRefusedError extends Error {
  override name = 'AddressRefusedError';
  readonly code = 'ERR_ADDRESS_REFUSED';
}

interface Cidr {
  address: string;
  prefix: number;
  family: Family;
}

/** "10.0.0.0/8", "fd00::/8" or a bare address (a single host); null when not one. */
export function parseCidr(text: string): Cidr | null {
  const [address = '', prefixText, ...rest] = text.trim().split('/');
  if (rest.length) return null;
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** FETCH_ALLOW_PRIVATE's text: "true"/"1", "false"/"0", or a comma list of CIDRs. */
export function parseAllowPrivate(text: string): { ok: true; value: AllowPrivate } | { ok: false; problem: string } {
  const value = text.trim().toLowerCase();
  if (value === 'true' || value === '1') return { ok: true, value: true };
  if (value === 'false' || value === '0' || value === '') return { ok: true, value: false };
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((s) => parseCidr(s) === null);
  if (bad.length) return { ok: false, problem: `must be true, false or a comma list of CIDRs like 127.0.0.1/32 (not ${bad.map((b) => JSON.stringify(b)).join(', ')})` };
  return { ok: true, value: items };
}

function blockListOf(cidrs: readonly Cidr[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) list.addSubnet(c.address, c.prefix, c.family);
  return list;
}

const RANGES = SPECIAL_RANGES.map((r) => {
  const cidr = parseCidr(r.cidr);
  if (!cidr) throw new Error(`bad built-in range ${r.cidr}`);
  return { ...r, family: cidr.family, list: blockListOf([cidr]) };
});

/** The eight 16-bit groups of an IPv6 address (zone id dropped); null when not IPv6. */
function ipv6Groups(address: string): number[] | null {
  let text = address.split('%')[0] ?? '';
  if (isIP(text) !== 6) return null;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (dotted) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted.split('.').map(Number);
    text = `${text.slice(0, -dotted.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * The address as compared: an IPv4-mapped IPv6 address (::ffff:a.b.c.d, any spelling) is the
 * IPv4 address it carries, so "::ffff:127.0.0.1" is loopback like 127.0.0.1.
 */
export function normalizeAddress(address: string): { address: string; family: Family } | null {
  const bare = address.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 4) return { address: bare, family: 'ipv4' };
  const groups = ipv6Groups(bare);
  if (!groups) return null;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return { address: [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.'), family: 'ipv4' };
  }
  return { address: groups.map((g) => g.toString(16)).join(':'), family: 'ipv6' };
}

export interface AddressPolicy {
  /** Why `address` is refused ("loopback", …), or null when it may be reached. */
  refusal(address: string): string | null;
  /** A `lookup` for net/tls.connect that fails with AddressRefusedError on a refused address. */
  lookup: LookupFunction;
  /** Throws AddressRefusedError when `hostname` is an IP literal that is refused. */
  checkLiteral(hostname: string): void;
}

export function createAddressPolicy(allow: AllowPrivate = false): AddressPolicy {
  const explicit = Array.isArray(allow) ? blockListOf(allow.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== null)) : null;

  function refusal(address: string): string | null {
    const ip = normalizeAddress(address);
    if (!ip) return 'not an IP address';
    if (explicit?.check(ip.address, ip.family)) return null;
    const range = RANGES.find((r) => r.family === ip.family && r.list.check(ip.address, ip.family));
    if (!range) return null;
    if (allow === true && !range.metadata) return null;
    return range.what;
  }

  function refusedError(hostname: string, address: string, what: string): AddressRefusedError {
    const shown = hostname === address ? address : `${hostname} (${address})`;
    const hint = allow === true && what.includes('metadata')
      ? `FETCH_ALLOW_PRIVATE=true never allows the metadata range; list it explicitly, e.g. FETCH_ALLOW_PRIVATE=${address}/32`
      : `set FETCH_ALLOW_PRIVATE to allow it, e.g. FETCH_ALLOW_PRIVATE=${address.includes(':') ? `${address}/128` : `${address}/32`}`;
    return new AddressRefusedError(`refusing to connect to ${shown}: ${what} address (${hint})`);
  }

  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      for (const a of addresses) {
        const what = refusal(a.address);
        // One refused address refuses the name: a name that resolves to both is not trusted.
        if (what) return callback(refusedError(hostname, a.address, what), '', 0);
      }
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no addresses for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      if (options.all) (callback as unknown as (e: null, all: LookupAddress[]) => void)(null, addresses);
      else callback(null, first.address, first.family);
    });
  };

  function checkLiteral(hostname: string): void {
    const bare = hostname.replace(/^\[|\]$/g, '');
    if (isIP(bare) === 0) return;
    const what = refusal(bare);
    if (what) throw refusedError(bare, bare, what);
  }

  return { refusal, lookup, checkLiteral };
}
