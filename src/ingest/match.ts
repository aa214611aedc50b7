/**
 * Entity matching: which tracked entities a headline or summary mentions.
 *
 * All aliases are compiled into three Unicode regexes: one of the case-sensitive aliases, one of
 * the case-insensitive ones, and one of all aliases, case-insensitive, for shouted text. (Inline
 * `(?i:…)` groups would make one regex, but V8 then scans ~25x slower.) Rules:
 * - Word boundaries are lookarounds, not `\b` (ASCII-only even with `u`): an alias matches only
 *   when not touching a letter, digit, combining mark or `_` ("OpenAIR" is not "OpenAI",
 *   "ChatGPT" is not "GPT", "Škoda" matches). Scripts written without spaces between words
 *   (Han, Kana, Hangul, Thai, Lao, Khmer, Myanmar) do not count as word characters for this, and
 *   an alias edge in such a script has no boundary at all ("東京電力は" and "苹果iPhone" match).
 *   The cost: a CJK alias can match inside a longer CJK word.
 * - Aliases are literal text: regex metacharacters are escaped ("C++", "AT&T", "S&P 500").
 * - Leftmost-longest: at a position the longest alias wins and its span is consumed, so
 *   "Bank of America" does not also mention an entity aliased "America" (hits of the two case
 *   groups are merged the same way). An alias shared by several entities matches all of them.
 * - Case-sensitive unless the entity says `caseSensitive: false`. When a text is mostly
 *   upper-case (>= 60% of its cased letters), every alias matches case-insensitively.
 * - Text and aliases are normalised the same way: NFKC, curly quotes to straight, format
 *   characters (zero-width, soft hyphen) removed, whitespace collapsed. Possessives match
 *   because an apostrophe is a boundary ("Tesla's", "Tesla’s").
 * - `requireAny`: the entity matches only if one of these terms also occurs (case-insensitive,
 *   word-bounded, anywhere in the text, the alias itself excluded).
 * - `exclude`: an occurrence of one of these phrases (case-insensitive) masks the entity's
 *   aliases inside it, and only there: "Nikola Tesla museum visited by Tesla CEO" still
 *   mentions Tesla through its second occurrence. Masks are per entity: "Claude Monet" masks
 *   Claude (Anthropic) but not another entity aliased "Monet".
 */

/** An entity to look for, as configured (config/sources.json → entity table). */
export interface MatchEntity<Id extends number | string = number | string> {
  id: Id;
  slug: string;
  name: string;
  aliases: readonly string[];
  /** Default true: "Apple" does not match "apple pie". */
  caseSensitive?: boolean;
  /** Context terms of which at least one must also occur for the entity to match. */
  requireAny?: readonly string[];
  /** Phrases whose occurrences mask the entity's aliases within them. */
  exclude?: readonly string[];
}

export interface EntityMatcher<Id extends number | string = number | string> {
  /** Ids of the entities the text mentions, each once, in order of first mention. */
  match(text: string): Id[];
  /**
   * The same entities with where they are mentioned: [start, end) spans (unmasked occurrences)
   * in `text`, the normalised text the matcher scanned (normalizeForMatch). Entity-targeted
   * sentiment scores the clause around each span.
   */
  mentions(text: string): Mentions<Id>;
}

export interface Mentions<Id extends number | string = number | string> {
  text: string;
  entities: { id: Id; spans: Array<readonly [number, number]> }[];
}

/** Texts longer than this are matched on their first MAX_MATCHED_CHARS characters. */
export const MAX_MATCHED_CHARS = 64 * 1024;

const UNSPACED = '\\p{sc=Han}\\p{sc=Hiragana}\\p{sc=Katakana}\\p{sc=Hangul}\\p{sc=Thai}\\p{sc=Lao}\\p{sc=Khmer}\\p{sc=Myanmar}';
/** A character that glues onto a word: letter, digit, mark or underscore, except unspaced scripts. */
const WORD_CHAR = `(?:(?![${UNSPACED}])[\\p{L}\\p{N}\\p{M}_])`;
const BEFORE = `(?<!${WORD_CHAR})`;
const AFTER = `(?!${WORD_CHAR})`;
const UNSPACED_CHAR = new RegExp(`[${UNSPACED}]`, 'u');

const NEEDS_NORMALIZING = /[^\x20-\x7E]| {2}/;
const UPPER = /\p{Lu}/u;
const LOWER = /\p{Ll}/u;

/** NFKC, straight quotes, no format characters, single spaces, trimmed. */
export function normalizeForMatch(text: string): string {
  // Fast path: printable ASCII with single spaces is already normal.
  if (!NEEDS_NORMALIZING.test(text)) return text.trim();
  return text
    .toWellFormed()
    .normalize('NFKC')
    .replace(/[\u2018\u2019\u201A\u201B\u2032\u00B4\uFF07]/g, "'")
    .replace(/[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB]/g, '"')
    .replace(/\p{Cf}/gu, '')
    .replace(/[\p{Cc}\p{Z}\s]+/gu, ' ')
    .trim();
}

/** True when most cased letters are upper-case: a shouted headline, where case says nothing. */
export function isMostlyUpperCase(text: string): boolean {
  let upper = 0;
  let lower = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    // Decided once even all remaining characters in upper case could not reach 60%.
    if (1.5 * lower > upper + (n - i)) return false;
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) upper++;
    else if (c >= 97 && c <= 122) lower++;
    else if (c > 127) {
      // Unicode letters (astral ones are rare in news and NFKC folds the mathematical ones).
      const ch = text.charAt(i);
      if (UPPER.test(ch)) upper++;
      else if (LOWER.test(ch)) lower++;
    }
  }
  return upper > 0 && upper >= 0.6 * (upper + lower);
}

/**
 * Case-insensitive aliases are stored lower-cased and scanned, case-sensitively, over a
 * lower-cased copy of the text: V8 runs an `iu` regex over ~1,000 alternatives ~2x slower.
 * When lower-casing changes the text's length ("İ"), positions would shift, so the `iu` twin is
 * used instead; `fold` approximates its case folding, to look up what it matched.
 */
function fold(s: string): string {
  return s.toUpperCase().toLowerCase();
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * One alternation of literal terms, longest first, with word boundaries. Terms whose edge is in
 * an unspaced script go to groups without that boundary; the bounded group is listed first and
 * holds nearly every alias, so V8 sees one big alternation under shared lookarounds (per-term
 * lookarounds scan ~4x slower).
 */
function alternation(terms: Iterable<string>, flags: string): RegExp | null {
  const groups = new Map<string, string[]>([['11', []], ['01', []], ['10', []], ['00', []]]);
  const sorted = [...new Set(terms)].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
  if (sorted.length === 0) return null;
  for (const term of sorted) {
    const chars = [...term];
    const left = UNSPACED_CHAR.test(chars[0] ?? '') ? '0' : '1';
    const right = UNSPACED_CHAR.test(chars.at(-1) ?? '') ? '0' : '1';
    groups.get(left + right)?.push(escapeRegExp(term));
  }
  const source = [...groups.entries()]
    .filter(([, alts]) => alts.length > 0)
    .map(([edges, alts]) => `${edges[0] === '1' ? BEFORE : ''}(?:${alts.join('|')})${edges[1] === '1' ? AFTER : ''}`)
    .join('|');
  return new RegExp(source, flags);
}

function cleanTerms(terms: readonly string[] | undefined): string[] {
  return [...new Set((terms ?? []).map(normalizeForMatch).filter((t) => t !== ''))];
}

/** Exclusions as a sticky regex, tried at each start from which a phrase could cover a hit. */
interface Exclusions {
  readonly sticky: RegExp;
  readonly maxLength: number;
}

interface CompiledEntity<Id> {
  readonly id: Id;
  readonly order: number;
  readonly requireAny: RegExp | null;
  readonly exclude: Exclusions | null;
}

interface Hit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

function addTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

/** All non-overlapping matches of a global regex (an exec loop: `matchAll` clones the regex per call). */
function scan(pattern: RegExp | null, text: string, into: Hit[]): void {
  if (pattern === null) return;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    into.push({ start: m.index, end: m.index + m[0].length, text: m[0] });
  }
}

/**
 * Compiles entities into a matcher. `match` is one scan per case group, plus, for entities it
 * found that have `requireAny`/`exclude`, a scan of those short lists.
 */
export function compileMatcher<Id extends number | string>(
  entities: readonly MatchEntity<Id>[],
): EntityMatcher<Id> {
  /** Case-sensitive aliases by exact text; case-insensitive ones lower-cased and folded (see `fold`). */
  const exact = new Map<string, CompiledEntity<Id>[]>();
  const lowered = new Map<string, CompiledEntity<Id>[]>();
  const folded = new Map<string, CompiledEntity<Id>[]>();
  /** Every alias by folded text, for shouted text. */
  const shouted = new Map<string, CompiledEntity<Id>[]>();
  const caseSensitiveAliases: string[] = [];
  const caseInsensitiveAliases: string[] = [];
  const allAliases: string[] = [];

  for (const [order, entity] of entities.entries()) {
    const excludes = cleanTerms(entity.exclude);
    const sticky = alternation(excludes, 'iuy');
    const entry: CompiledEntity<Id> = {
      id: entity.id,
      order,
      requireAny: alternation(cleanTerms(entity.requireAny), 'giu'),
      exclude: sticky === null ? null : { sticky, maxLength: Math.max(...excludes.map((t) => t.length)) },
    };
    const caseInsensitive = entity.caseSensitive === false;
    for (const raw of [entity.name, ...entity.aliases]) {
      const alias = normalizeForMatch(raw);
      if (alias === '') continue;
      if (caseInsensitive) {
        addTo(folded, fold(alias), entry);
        addTo(lowered, alias.toLowerCase(), entry);
        caseInsensitiveAliases.push(alias);
      } else {
        addTo(exact, alias, entry);
        caseSensitiveAliases.push(alias);
      }
      addTo(shouted, fold(alias), entry);
      allAliases.push(alias);
    }
  }

  const caseSensitive = alternation(caseSensitiveAliases, 'gu');
  const caseInsensitive = alternation(caseInsensitiveAliases.map((a) => a.toLowerCase()), 'gu');
  const caseInsensitiveTwin = alternation(caseInsensitiveAliases, 'giu');
  const anyCase = alternation(allAliases, 'giu');

  function find(input: string, withSpans: boolean): Mentions<Id> {
    const none: Mentions<Id> = { text: '', entities: [] };
    if (typeof input !== 'string') return none;
    const text = normalizeForMatch(input.length > MAX_MATCHED_CHARS ? input.slice(0, MAX_MATCHED_CHARS) : input);
    if (text === '') return none;
    const shout = isMostlyUpperCase(text);
    let hits: Hit[] = [];
    /** Hits of the case-insensitive group, kept apart: their text is lower-cased. */
    const insensitive = new Set<Hit>();
    if (shout) {
      scan(anyCase, text, hits);
    } else {
      scan(caseSensitive, text, hits);
      if (caseInsensitive !== null) {
        const lower = text.toLowerCase();
        const before = hits.length;
        if (lower.length === text.length) scan(caseInsensitive, lower, hits);
        else scan(caseInsensitiveTwin, text, hits);
        for (let i = before; i < hits.length; i++) {
          const hit = hits[i];
          if (hit !== undefined) insensitive.add(hit);
        }
        // Merge the two groups leftmost-longest, as one regex would.
        hits.sort((a, b) => a.start - b.start || b.end - a.end);
        let end = -1;
        hits = hits.filter((hit) => {
          if (hit.start < end) return false;
          end = hit.end;
          return true;
        });
      }
    }
    if (hits.length === 0) return { text, entities: [] };

    const spans = new Map<CompiledEntity<Id>, Hit[]>();
    for (const hit of hits) {
      const owners = shout
        ? (shouted.get(fold(hit.text)) ?? [])
        : insensitive.has(hit)
          ? (lowered.get(hit.text) ?? folded.get(fold(hit.text)) ?? [])
          : [...(exact.get(hit.text) ?? []), ...(lowered.get(hit.text.toLowerCase()) ?? [])];
      for (const entity of owners) {
        const list = spans.get(entity);
        if (list === undefined) spans.set(entity, [hit]);
        else list.push(hit);
      }
    }

    // First-mention order; entities sharing an alias keep config order.
    const ranked = [...spans.entries()].sort(
      (a, b) => (a[1][0]?.start ?? 0) - (b[1][0]?.start ?? 0) || a[0].order - b[0].order,
    );
    const found: Mentions<Id>['entities'] = [];
    const seen = new Map<Id, Array<readonly [number, number]>>();
    for (const [entity, entitySpans] of ranked) {
      const shared = seen.get(entity.id);
      if (shared !== undefined && !withSpans) continue;
      if (!entitySpans.some((s) => !masked(entity.exclude, text, s.start, s.end))) continue;
      if (entity.requireAny !== null && !hasTermOutside(entity.requireAny, text, entitySpans)) continue;
      const open = withSpans ? entitySpans.filter((s) => !masked(entity.exclude, text, s.start, s.end)).map((s) => [s.start, s.end] as const) : [];
      if (shared !== undefined) {
        // The same id configured twice: its spans are merged.
        shared.push(...open);
        continue;
      }
      seen.set(entity.id, open);
      found.push({ id: entity.id, spans: open });
    }
    return { text, entities: found };
  }

  return {
    match(input: string): Id[] {
      return find(input, false).entities.map((e) => e.id);
    },
    mentions(input: string): Mentions<Id> {
      return find(input, true);
    },
  };
}

/**
 * Whether an exclusion phrase covers [start, end). Tried at every start from which a phrase
 * could reach the span, so overlapping exclusions ("Nikola Tesla", "Tesla coil") are all seen;
 * at each start the longest phrase is tried first.
 */
function masked(exclude: Exclusions | null, text: string, start: number, end: number): boolean {
  if (exclude === null) return false;
  // Case folding can change lengths slightly: allow some slack before the span.
  for (let i = Math.max(0, end - exclude.maxLength - 8); i <= start; i++) {
    exclude.sticky.lastIndex = i;
    const m = exclude.sticky.exec(text);
    if (m !== null && i + m[0].length >= end) return true;
  }
  return false;
}

/** Whether a context term occurs somewhere other than exactly on one of the entity's own alias spans. */
function hasTermOutside(terms: RegExp, text: string, spans: readonly Hit[]): boolean {
  const found: Hit[] = [];
  scan(terms, text, found);
  return found.some((t) => !spans.some((s) => s.start === t.start && s.end === t.end));
}
