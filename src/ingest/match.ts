/**
 * Entity matching: which tracked entities a headline or summary mentions.
 *
 * Every alias of every entity is compiled into one Unicode regex (plus one case-insensitive
 * twin for shouted, all-caps text). Rules:
 * - Word boundaries are lookarounds, not `\b` (ASCII-only even with `u`): an alias matches only
 *   when not touching a letter, digit, combining mark or `_` ("OpenAIR" is not "OpenAI",
 *   "ChatGPT" is not "GPT", "Škoda" matches). Scripts written without spaces between words
 *   (Han, Kana, Hangul, Thai, Lao, Khmer, Myanmar) do not count as word characters for this, and
 *   an alias edge in such a script has no boundary at all ("東京電力は" and "苹果iPhone" match).
 *   The cost: a CJK alias can match inside a longer CJK word.
 * - Aliases are literal text: regex metacharacters are escaped ("C++", "AT&T", "S&P 500").
 * - Leftmost-longest: at a position the longest alias wins and its span is consumed, so
 *   "Bank of America" does not also mention an entity aliased "America". An alias shared by
 *   several entities matches all of them.
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
}

/** Texts longer than this are matched on their first MAX_MATCHED_CHARS characters. */
export const MAX_MATCHED_CHARS = 64 * 1024;

const UNSPACED = '\\p{sc=Han}\\p{sc=Hiragana}\\p{sc=Katakana}\\p{sc=Hangul}\\p{sc=Thai}\\p{sc=Lao}\\p{sc=Khmer}\\p{sc=Myanmar}';
/** A character that glues onto a word: letter, digit, mark or underscore, except unspaced scripts. */
const WORD_CHAR = `(?:(?![${UNSPACED}])[\\p{L}\\p{N}\\p{M}_])`;
const BEFORE = `(?<!${WORD_CHAR})`;
const AFTER = `(?!${WORD_CHAR})`;
const UNSPACED_CHAR = new RegExp(`[${UNSPACED}]`, 'u');

/** NFKC, straight quotes, no format characters, single spaces, trimmed. */
export function normalizeForMatch(text: string): string {
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
  for (const ch of text) {
    if (/\p{Lu}/u.test(ch)) upper++;
    else if (/\p{Ll}/u.test(ch)) lower++;
  }
  return upper > 0 && upper >= 0.6 * (upper + lower);
}

/** Approximates the case folding of a `u`+`i` regex, to look up what a case-insensitive match matched. */
function fold(s: string): string {
  return s.toUpperCase().toLowerCase();
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** One alias as a regex alternative, with boundaries on the edges that need them. */
function alternative(alias: string, caseInsensitive: boolean): string {
  const body = escapeRegExp(alias);
  const chars = [...alias];
  const first = chars[0] ?? '';
  const last = chars.at(-1) ?? '';
  const before = UNSPACED_CHAR.test(first) ? '' : BEFORE;
  const after = UNSPACED_CHAR.test(last) ? '' : AFTER;
  return `${before}${caseInsensitive ? `(?i:${body})` : body}${after}`;
}

function cleanTerms(terms: readonly string[] | undefined): string[] {
  const clean = [...new Set((terms ?? []).map(normalizeForMatch).filter((t) => t !== ''))];
  return clean.sort((a, b) => b.length - a.length);
}

/** A case-insensitive, word-bounded regex for a list of terms (longest first), or null when there are none. */
function termsPattern(terms: readonly string[], flags: string): RegExp | null {
  if (terms.length === 0) return null;
  return new RegExp(terms.map((t) => alternative(t, false)).join('|'), flags);
}

/** Exclusions as a sticky regex tried at each start that could cover a hit. */
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

function addTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

/**
 * Compiles entities into a matcher. Cost is one regex compile; `match` is one scan of the text
 * plus, for entities it found that have `requireAny`/`exclude`, one scan per such list.
 */
export function compileMatcher<Id extends number | string>(
  entities: readonly MatchEntity<Id>[],
): EntityMatcher<Id> {
  const compiled: CompiledEntity<Id>[] = [];
  /** Case-sensitive aliases by exact text; case-insensitive ones by folded text. */
  const exact = new Map<string, CompiledEntity<Id>[]>();
  const folded = new Map<string, CompiledEntity<Id>[]>();
  /** Every alias by folded text, for shouted text (all aliases case-insensitive). */
  const shouted = new Map<string, CompiledEntity<Id>[]>();
  const alternatives = new Map<string, { alias: string; caseInsensitive: boolean }>();

  for (const [order, entity] of entities.entries()) {
    const excludes = cleanTerms(entity.exclude);
    const sticky = termsPattern(excludes, 'iuy');
    const entry: CompiledEntity<Id> = {
      id: entity.id,
      order,
      requireAny: termsPattern(cleanTerms(entity.requireAny), 'giu'),
      exclude: sticky === null ? null : { sticky, maxLength: excludes[0]?.length ?? 0 },
    };
    compiled.push(entry);
    const caseInsensitive = entity.caseSensitive === false;
    for (const raw of [entity.name, ...entity.aliases]) {
      const alias = normalizeForMatch(raw);
      if (alias === '') continue;
      if (caseInsensitive) addTo(folded, fold(alias), entry);
      else addTo(exact, alias, entry);
      addTo(shouted, fold(alias), entry);
      // One alternative per distinct text; case-insensitive wins when both are asked for.
      const key = caseInsensitive ? fold(alias) : alias;
      const previous = alternatives.get(key);
      if (previous === undefined || (caseInsensitive && !previous.caseInsensitive)) {
        alternatives.set(key, { alias, caseInsensitive });
      }
    }
  }

  // Longest first, so at any position the longest alias wins; ties broken by text for stability.
  const sorted = [...alternatives.values()].sort(
    (a, b) => b.alias.length - a.alias.length || (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0),
  );
  const source = sorted.map(({ alias, caseInsensitive }) => alternative(alias, caseInsensitive)).join('|');
  const mixedCase = source === '' ? null : new RegExp(source, 'gu');
  const anyCase = source === '' ? null : new RegExp(source, 'giu');

  function entitiesFor(matched: string, shout: boolean): CompiledEntity<Id>[] {
    const key = fold(matched);
    if (shout) return shouted.get(key) ?? [];
    return [...(exact.get(matched) ?? []), ...(folded.get(key) ?? [])];
  }

  return {
    match(input: string): Id[] {
      if (typeof input !== 'string' || mixedCase === null || anyCase === null) return [];
      const text = normalizeForMatch(input.length > MAX_MATCHED_CHARS ? input.slice(0, MAX_MATCHED_CHARS) : input);
      if (text === '') return [];
      const shout = isMostlyUpperCase(text);
      const pattern = shout ? anyCase : mixedCase;
      const found = new Map<CompiledEntity<Id>, { start: number; end: number }[]>();
      for (const m of text.matchAll(pattern)) {
        const span = { start: m.index, end: m.index + m[0].length };
        for (const entity of entitiesFor(m[0], shout)) {
          const spans = found.get(entity);
          if (spans === undefined) found.set(entity, [span]);
          else spans.push(span);
        }
      }
      const ids: Id[] = [];
      const seen = new Set<Id>();
      // First-mention order; entities sharing an alias keep config order.
      const ranked = [...found.entries()].sort(
        (a, b) => (a[1][0]?.start ?? 0) - (b[1][0]?.start ?? 0) || a[0].order - b[0].order,
      );
      for (const [entity, spans] of ranked) {
        if (seen.has(entity.id)) continue;
        if (!spans.some((s) => !masked(entity.exclude, text, s.start, s.end))) continue;
        if (entity.requireAny !== null && !hasTermOutside(entity.requireAny, text, spans)) continue;
        seen.add(entity.id);
        ids.push(entity.id);
      }
      return ids;
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
  for (let i = Math.max(0, end - exclude.maxLength * 2); i <= start; i++) {
    exclude.sticky.lastIndex = i;
    const m = exclude.sticky.exec(text);
    if (m !== null && i + m[0].length >= end) return true;
  }
  return false;
}

/** Whether a context term occurs somewhere other than exactly on one of the entity's own alias spans. */
function hasTermOutside(terms: RegExp, text: string, spans: readonly { start: number; end: number }[]): boolean {
  for (const m of text.matchAll(terms)) {
    const onAlias = spans.some((s) => s.start === m.index && s.end === m.index + m[0].length);
    if (!onAlias) return true;
  }
  return false;
}
