/**
 * Cross-source dedupe key for article URLs (article.url_key, unique): two feeds linking the same
 * story with different tracking parameters, scheme or host spelling give one key.
 *
 * Conservative by design: a false merge loses an article, a missed merge only stores a
 * duplicate. So the key only erases differences that never identify a different page:
 * - scheme: http and https are the same story; the key always says `https://`;
 * - host: lower-case (the URL parser also turns IDNs into punycode), trailing dot dropped, one
 *   leading `www.` dropped when a registrable-looking name remains (`www.bbc.co.uk` → `bbc.co.uk`,
 *   but `www.com` stays). Other subdomains (`m.`, `amp.`, `edition.`) are kept: they can differ;
 * - port: default ports dropped (80 for http, 443 for https); others kept;
 * - credentials and fragment dropped;
 * - path: dot segments resolved, unreserved percent-escapes decoded (`%7E` → `~`), other escapes
 *   upper-cased (`%2f` → `%2F`), trailing slashes dropped, the root path omitted entirely; case kept;
 * - query: tracking parameters dropped (TRACKING_PARAMS, TRACKING_PARAM_PREFIXES; names compared
 *   case-insensitively after decoding), empty pieces dropped, the rest sorted by name then value,
 *   with the same escape normalisation as the path. Values and their order otherwise untouched.
 */

/** Query parameters that only say how a reader arrived, never which page they see. */
export const TRACKING_PARAMS: ReadonlySet<string> = new Set([
  // Ad and social click ids.
  'fbclid', 'gclid', 'gclsrc', 'dclid', 'gbraid', 'wbraid', 'msclkid', 'yclid', 'twclid', 'ttclid',
  'li_fat_id', 'igshid', 'igsh', 'epik', 'rb_clickid', 's_kwcid', 'ef_id',
  // Mailchimp, HubSpot, Marketo, Vero, Google Analytics linker.
  'mc_cid', 'mc_eid', '_hsenc', '_hsmi', '__hstc', '__hssc', '__hsfp', 'hsctatracking', 'mkt_tok',
  'vero_id', 'vero_conv', '_ga', '_gl',
  // Referrer and campaign tags used by news sites (NYT smid, Guardian CMP, Yahoo ncid/guccounter,
  // MSN ocid, CNN cmpid, AT Internet xtor, Twitter ref_src, Adobe s_cid/sc_cid, Webtrends).
  'ref', 'ref_src', 'ref_url', 'referrer', 'cmpid', 'cmp', 'ocid', 'ncid', 'smid', 'smtyp', 'sr_share',
  'guccounter', 'guce_referrer', 'guce_referrer_sig', 'xtor', 's_cid', 'sc_cid', 'wt.mc_id', 'wt.mc_ev',
  'at_medium', 'at_campaign', 'at_custom1', 'at_custom2', 'at_custom3', 'at_custom4',
  'soc_src', 'soc_trk', 'trk', 'trkcampaign', 'oly_anon_id', 'oly_enc_id', '_openstat', 'spm',
]);

/** Parameter name prefixes that are all tracking: utm_*, Matomo/Piwik, comScore (ns_*), HubSpot (hsa_*). */
export const TRACKING_PARAM_PREFIXES: readonly string[] = ['utm_', 'pk_', 'mtm_', 'piwik_', 'ns_', 'hsa_'];

/** Keys longer than this are refused: Postgres cannot index arbitrarily long text, and such URLs are junk. */
export const MAX_URL_KEY_LENGTH = 2_048;

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Decodes percent-escapes of unreserved characters and upper-cases the hex of all others. */
function normalizeEscapes(s: string): string {
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

function isTracking(name: string): boolean {
  const decoded = decodeName(name);
  return TRACKING_PARAMS.has(decoded) || TRACKING_PARAM_PREFIXES.some((p) => decoded.startsWith(p));
}

function normalizeQuery(search: string): string {
  const params: { name: string; piece: string }[] = [];
  for (const raw of search.replace(/^\?/, '').split('&')) {
    if (raw === '') continue;
    const piece = normalizeEscapes(raw);
    const eq = piece.indexOf('=');
    const name = eq === -1 ? piece : piece.slice(0, eq);
    if (isTracking(name)) continue;
    params.push({ name, piece });
  }
  params.sort((a, b) => compare(a.name, b.name) || compare(a.piece, b.piece));
  return params.map((p) => p.piece).join('&');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function normalizeHost(hostname: string): string {
  let host = hostname.toLowerCase().replace(/\.$/, '');
  if (host.startsWith('www.') && host.slice(4).includes('.')) host = host.slice(4);
  return host;
}

/**
 * The dedupe key of an article URL, or null when it is not an absolute http(s) URL (or its key
 * would be absurdly long). Pure and total: never throws.
 */
export function urlKey(url: string): string | null {
  if (typeof url !== 'string') return null;
  const trimmed = url.trim();
  if (trimmed === '' || trimmed.length > MAX_URL_KEY_LENGTH * 2) return null;
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
  const host = normalizeHost(parsed.hostname);
  if (host === '') return null;
  const port = parsed.port === '' ? '' : `:${parsed.port}`;
  const path = normalizeEscapes(parsed.pathname).replace(/\/+$/, '');
  const query = normalizeQuery(parsed.search);
  const key = `https://${host}${port}${path}${query === '' ? '' : `?${query}`}`;
  return key.length > MAX_URL_KEY_LENGTH ? null : key;
}
