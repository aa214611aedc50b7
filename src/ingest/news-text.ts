/**
 * The text preparation and news overlay that vader-news@1 (./sentiment.ts) and vader-news@2
 * (./news-v2.ts) share; a module of its own so the two scorers do not import each other.
 */

/** Texts are scored on at most this many characters (a headline plus a summary fits easily). */
export const MAX_SCORED_CHARS = 4_000;

/**
 * News and finance overlay, valences on VADER's -4..4 scale (VADER's own anchors: "loss" -1.3,
 * "crash" -1.7, "collapse" -2.2, "fraud" -2.8, "killed" -3.5; "profit" 1.9, "gain" 2.4).
 * Multi-word terms match as phrases. A 0 removes a word VADER rates but news uses neutrally
 * (names and institutions: "United Nations", "Amazon", "interest rates", "health care").
 * Deliberately absent because their sign depends on the subject: rise/fall/cut/raise/higher/
 * lower ("inflation falls" is good news, "shares fall" bad), beat (sports vs police), deal.
 */
const OVERLAY_GROUPS: ReadonlyArray<readonly [valence: number, terms: readonly string[]]> = [
  // Market and price moves.
  [-2.5, ['plummet', 'plummets', 'plummeted', 'plummeting']],
  [-2.4, ['plunge', 'plunges', 'plunged', 'plunging']],
  [-2.2, ['rout', 'routs']],
  [-2.0, ['tumble', 'tumbles', 'tumbled', 'tumbling', 'slump', 'slumps', 'slumped', 'slumping']],
  [-2.0, ['record low', 'record lows', 'all-time low', 'all-time lows']],
  [-1.8, ['sell-off', 'selloff', 'sell-offs', 'selloffs', 'tanked', 'tanking', 'new low', 'new lows']],
  [-1.7, ['crashes', 'crashed', 'crashing']],
  [-1.6, ['sink', 'sinks', 'sank', 'sinking']],
  [-1.5, ['bearish', 'underperform', 'underperforms', 'underperformed', 'slowdown']],
  [-1.4, ['slide', 'slides', 'slid', 'sliding']],
  [-1.3, ['shrinks', 'shrank', 'shrinking', 'contraction', 'contracts']],
  [-1.1, ['decline', 'declines', 'declined', 'declining', 'drops', 'dropped', 'dropping']],
  [-0.9, ['slip', 'slips', 'slipped', 'slipping']],
  [1.1, ['climb', 'climbs', 'climbed', 'climbing']],
  [1.4, ['jump', 'jumps', 'jumped', 'jumping', 'boom', 'booming']],
  [1.5, ['bullish', 'outperform', 'outperforms', 'outperformed']],
  [1.6, ['rebound', 'rebounds', 'rebounded', 'rebounding', 'recovery', 'recovers', 'recovered', 'recovering']],
  [1.8, ['new high', 'new highs', 'upbeat']],
  [1.9, ['surge', 'surges', 'surged', 'surging', 'rally', 'rallies', 'rallied', 'rallying']],
  [2.2, ['record high', 'record highs', 'all-time high', 'all-time highs']],
  [2.3, ['soar', 'soars', 'soared', 'soaring']],
  [2.4, ['record profit', 'record profits']],
  // Analysts and results.
  [-2.2, ['profit warning', 'profit warnings']],
  [-1.6, ['downgrade', 'downgrades', 'downgraded']],
  [-1.9, ['misses']],
  [-1.6, ['missed']],
  [1.6, ['upgrade', 'upgrades', 'upgraded']],
  [1.7, ['beats']],
  [2.0, ['breakthrough', 'breakthroughs']],
  // Companies in trouble.
  [-2.6, ['bankrupt', 'bankruptcy', 'bankruptcies']],
  [-2.4, ['insolvency', 'insolvent']],
  [-2.1, ['layoff', 'layoffs', 'job cuts', 'lays off', 'laid off']],
  [-1.9, ['fined']],
  [-1.6, ['recall', 'recalls', 'recalled', 'lawsuit', 'lawsuits', 'outage', 'outages']],
  [-1.5, ['sue', 'sues', 'sued', 'suing']],
  [-1.4, ['probe', 'probes', 'probed']],
  [-1.3, ['fines', 'halts', 'halted', 'delays']],
  [-1.1, ['warns']],
  [-1.0, ['fine', 'warn', 'resigns']],
  [-0.8, ['investigation', 'investigations']],
  // Crime, security, disasters.
  [-2.3, ['indicted', 'shooting', 'gunman', 'cyberattack', 'cyberattacks']],
  [-2.2, ['wildfire', 'wildfires', 'hurricane', 'typhoon', 'cyclone', 'tornado']],
  [-2.1, ['ransomware']],
  [-2.0, ['convicted', 'earthquake', 'quake', 'derailment', 'explodes', 'explosion']],
  [-2.6, ['deadly']],
  [-1.9, ['outbreak', 'pandemic']],
  [-1.8, ['hack', 'hacked', 'floods', 'flooding']],
  [-1.7, ['breach', 'breaches', 'drought', 'sentenced']],
  [-1.6, ['hackers', 'ousted']],
  // Words VADER rates that news uses as names or neutral terms.
  [0, ['share', 'shares', 'interest', 'super', 'united', 'justice', 'security', 'care']],
  [0, ['intelligence', 'like', 'credit', 'top', 'party', 'gross', 'grand', 'crude', 'defense', 'amazon']],
];

/** The overlay as a read-only map from term (lower-case, single-spaced) to valence. */
export const NEWS_LEXICON: ReadonlyMap<string, number> = new Map(
  OVERLAY_GROUPS.flatMap(([valence, terms]) => terms.map((term) => [term, valence] as const)),
);

const LETTER = /\p{L}/u;
const LOWER = /\p{Ll}/u;
const UPPER = /\p{Lu}/u;

/** ALL-CAPS words VADER must see lower-case: negations and the words its rules compare literally. */
const FUNCTION_WORDS = new Set([
  'not', 'no', 'never', 'none', 'nothing', 'nowhere', 'neither', 'nor', 'nope', 'without',
  'cannot', 'cant', 'dont', 'doesnt', 'didnt', 'isnt', 'arent', 'wasnt', 'werent', 'wont',
  'wouldnt', 'shouldnt', 'couldnt', 'hasnt', 'havent', 'hadnt', 'aint', 'rarely', 'seldom',
  'despite', 'but', 'least', 'at', 'very', 'so', 'this', 'kind', 'of', 'sort',
]);

export function isAllCaps(word: string): boolean {
  return UPPER.test(word) && !LOWER.test(word);
}

/**
 * True when normalizeText would return `s` unchanged: printable ASCII without a backquote, single
 * spaces, none at the ends, within MAX_SCORED_CHARS. NFKC and the quote and whitespace rewrites are
 * the identity on such text, so most headlines skip the regex passes (scores are unchanged:
 * test/ingest/sentiment-golden.test.ts).
 */
function isNormalAscii(s: string): boolean {
  const len = s.length;
  if (len > MAX_SCORED_CHARS) return false;
  let prevSpace = true; // a leading space is not normal
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c === 32) {
      if (prevSpace) return false;
      prevSpace = true;
    } else if (c < 32 || c > 126 || c === 96) {
      return false;
    } else {
      prevSpace = false;
    }
  }
  return !prevSpace || len === 0;
}

/** Bounded, well-formed, NFKC, straight quotes, single spaces. */
export function normalizeText(text: string): string {
  if (typeof text === 'string' && isNormalAscii(text)) return text;
  let s = typeof text === 'string' ? text : '';
  if (s.length > MAX_SCORED_CHARS) {
    s = s.slice(0, MAX_SCORED_CHARS);
    const cut = s.lastIndexOf(' ');
    if (cut > MAX_SCORED_CHARS / 2) s = s.slice(0, cut);
  }
  return s
    .toWellFormed()
    .normalize('NFKC')
    .replace(/[\u2018\u2019\u201A\u201B\u2032\u0060\u00B4]/g, "'")
    .replace(/[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB]/g, '"')
    .replace(/[\p{Cc}\p{Cf}\p{Z}\s]+/gu, ' ')
    .trim();
}

/**
 * normalizeCase for ASCII text in one scan without splitting (the regex tests of the general path
 * reduce to A-Z / a-z checks): null when the text is not ASCII. Lower-casing ASCII keeps every
 * offset, so ALL-CAPS words that stay upper-case are copied back from the original.
 */
function normalizeCaseAscii(text: string): string | null {
  const len = text.length;
  let lettered = 0;
  let caps = 0;
  let upper = false;
  let lower = false;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? text.charCodeAt(i) : 32;
    if (c > 127) return null;
    if (c === 32) {
      if (upper || lower) lettered++;
      if (upper && !lower) caps++;
      upper = lower = false;
    } else if (c >= 65 && c <= 90) upper = true;
    else if (c >= 97 && c <= 122) lower = true;
  }
  const lowered = text.toLowerCase();
  if (caps === 0 || caps / lettered >= 0.6) return lowered;
  let out = '';
  let from = 0; // lowered[from, start) is pending output
  let start = 0;
  for (let i = 0; i <= len; i++) {
    if (i < len && text.charCodeAt(i) !== 32) continue;
    if (isAllCapsAscii(text, start, i) && !isFunctionWord(lowered, start, i)) {
      out += lowered.slice(from, start) + text.slice(start, i);
      from = i;
    }
    start = i + 1;
  }
  return from === 0 ? lowered : out + lowered.slice(from);
}

function isAllCapsAscii(s: string, start: number, end: number): boolean {
  let upper = false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) return false;
    if (c >= 65 && c <= 90) upper = true;
  }
  return upper;
}

/** The ALL-CAPS word lowered[start, end) is a function word once stripped to letters and "'". */
function isFunctionWord(lowered: string, start: number, end: number): boolean {
  let bare = '';
  for (let i = start; i < end; i++) {
    const c = lowered.charCodeAt(i);
    if ((c >= 97 && c <= 122) || c === 39) bare += lowered[i];
  }
  return FUNCTION_WORDS.has(bare) || bare.endsWith("n't");
}

/** Lower-cases what VADER should see lower-case (see the module comment). */
export function normalizeCase(text: string): string {
  const ascii = normalizeCaseAscii(text);
  if (ascii !== null) return ascii;
  const words = text.split(' ');
  let lettered = 0;
  let caps = 0;
  for (const w of words) {
    if (!LETTER.test(w)) continue;
    lettered++;
    if (isAllCaps(w)) caps++;
  }
  if (lettered > 0 && caps / lettered >= 0.6) return text.toLowerCase();
  return words
    .map((w) => {
      if (!isAllCaps(w)) return w.toLowerCase();
      const bare = w.toLowerCase().replace(/[^\p{L}']/gu, '');
      return FUNCTION_WORDS.has(bare) || bare.endsWith("n't") ? w.toLowerCase() : w;
    })
    .join(' ');
}
