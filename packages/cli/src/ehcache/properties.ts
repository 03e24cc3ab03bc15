/**
 * Ehcache's factory `properties` attribute, read as Ehcache reads it (PropertyUtil.parseProperties):
 * every `propertySeparator` (default ",") becomes a line end, and the lines are loaded into a
 * java.util.Properties. So each line is Java properties syntax: `key=value`, `key:value`,
 * `key value` (white space ends the key), a bare `key` (an empty value); `#` or `!` first makes
 * it a comment; white space before a key and around the separator is skipped; a backslash escapes
 * (`\t`, `\n`, `\uXXXX`, `\=`; any other character stands for itself), and one at a line's end
 * joins the next line. Each property comes with the file line its line starts on.
 */
import vm from 'node:vm';
import type { LineIndex, XmlAttribute } from './xml.js';

export interface Property {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

/** White space as java.util.Properties skips it (not line ends: those end a line). */
const isBlank = (char: string | undefined) => char === ' ' || char === '\t' || char === '\f';

/** Where a separator matches in a text: each match's index and length, in order. */
export type SeparatorMatches = (text: string) => ReadonlyArray<readonly [number, number]>;

export function parseProperties(
  attribute: XmlAttribute | undefined,
  separator: SeparatorMatches,
  lines: LineIndex,
  fail: (line: number, message: string) => never,
): Property[] {
  if (attribute === undefined) return [];
  // The pieces between separators, each with the file line it starts on.
  // Ehcache trims the whole text first (String.trim: every character up to U+0020), which only
  // tells at the end: `a=b\ ` is b there, its backslash left last and dropped.
  const pieces = splitAt(javaTrim(attribute.value), separator);
  // The same split of the text as written (before entity references were read), for the lines;
  // where the two do not split alike, every piece gets the attribute's line.
  // Trimmed as the text was (white space is the same written or read), so that a separator that
  // matches white space (\s+) finds no match before the first property there either.
  const rawTrimmed = javaTrim(attribute.raw);
  const rawLead = attribute.raw.indexOf(rawTrimmed); // rawTrimmed starts past U+0020: first found after the lead
  const rawPieces = splitAt(rawTrimmed, separator).map((piece) => ({ ...piece, at: piece.at + rawLead }));
  const alike = rawPieces.length === pieces.length;
  const pieceLines = pieces.map((_, i) => {
    const raw = rawPieces[i];
    if (!alike || raw === undefined) return attribute.line;
    const lead = raw.text.length - raw.text.trimStart().length;
    return lines.lineOf(attribute.rawOffset + raw.at + lead);
  });
  // The text Properties.load reads, and its natural lines: a separator is a line end, and so is a
  // CR or LF a character reference put in the value (&#13;&#10;); CR LF is one, even when the CR
  // ends a piece.
  const text = pieces.map((piece) => piece.text).join('\n');
  const natural: Array<{ text: string; line: number }> = [];
  let piece = 0;
  let pieceEnd = (pieces[0]?.text ?? '').length;
  for (const match of text.matchAll(/([^\r\n]*)(\r\n|\r|\n|$)/g)) {
    const start = match.index;
    while (start > pieceEnd && piece + 1 < pieces.length) pieceEnd += 1 + (pieces[++piece]?.text ?? '').length;
    natural.push({ text: match[1] ?? '', line: pieceLines[piece] ?? attribute.line });
    if (match[2] === '') break;
  }

  // Logical lines, as Properties' LineReader makes them: white space before each skipped, empty
  // ones and comments (# or ! first, also on a line a lone backslash led to) left out, and a line
  // ending in an odd number of backslashes joined to the next.
  const properties: Property[] = [];
  let logical: string | undefined;
  let startLine = attribute.line;
  natural.forEach((next, i) => {
    const stripped = next.text.replace(/^[ \t\f]+/, '');
    if (logical === undefined || logical === '') {
      if (stripped === '' || stripped.startsWith('#') || stripped.startsWith('!')) {
        logical = undefined;
        return;
      }
      if (logical === undefined) startLine = next.line;
      logical = stripped;
    } else logical += stripped;
    if (/(?:^|[^\\])(?:\\\\)*\\$/.test(logical)) {
      logical = logical.slice(0, -1);
      if (i + 1 < natural.length) return;
    }
    if (logical !== '') properties.push(propertyOf(logical, startLine, attribute.name, fail));
    logical = undefined;
  });
  return properties;
}

/** `text` as Java's String.trim leaves it: every character up to U+0020 gone from both ends. */
export function javaTrim(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: String.trim's range
  return text.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');
}

/** The text between the separator's matches, each piece with where it starts. */
function splitAt(text: string, separator: SeparatorMatches): Array<{ text: string; at: number }> {
  const pieces: Array<{ text: string; at: number }> = [];
  let at = 0;
  for (const [index, length] of separator(text)) {
    pieces.push({ text: text.slice(at, index), at });
    at = index + length;
  }
  pieces.push({ text: text.slice(at), at });
  return pieces;
}

/**
 * A `propertySeparator` as Ehcache used it: a Java regular expression, each match replaced by a
 * line end (String.replaceAll). For the separators people write (`,`, `;`, `::`) that is the
 * text itself; `|`, `.` or `$` are not: `|` matches the empty string, so Ehcache read every
 * character as a property of its own, and the file ran with none of its properties (the importer
 * refuses such a separator: Importer.properties). Pattern.quote's `\Q...\E` is read as the text it
 * quotes; a pattern JavaScript cannot read is refused, and so is one with an escape JavaScript
 * reads otherwise than Java (javaEscape).
 */
export function separatorOf(written: string): RegExp | { readonly problem: string } {
  const refused = (why: string) => ({
    problem: `is a regular expression to Ehcache (String.replaceAll), and not one this importer reads (${why}); write a plain separator such as ";"`,
  });
  let source = '';
  /** Inside a character class ([...]): Java's \s is written differently there (javaEscape). */
  let inClass = false;
  for (let i = 0; i < written.length; i++) {
    const char = written[i] as string;
    if (char !== '\\' || i + 1 >= written.length) {
      if (char === '[') inClass = true;
      else if (char === ']') inClass = false;
      source += char;
      continue;
    }
    const next = written[i + 1] as string;
    if (next === 'Q') {
      // Quoted up to \E or the end, as Pattern's RemoveQEQuoting reads it.
      const end = written.indexOf('\\E', i + 2);
      const quoted = written.slice(i + 2, end === -1 ? written.length : end);
      source += quoted.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
      i = end === -1 ? written.length : end + 1;
      continue;
    }
    const read = javaEscape(written, i, inClass);
    if ('problem' in read) return refused(read.problem);
    source += read.source;
    i += read.length - 1;
  }
  try {
    return new RegExp(source, 'g');
  } catch (error) {
    return refused((error as Error).message);
  }
}

/** Escapes whose letter means the same to JavaScript (without the u flag) as to Java. */
const SAME_ESCAPES = new Set(['t', 'n', 'r', 'f', 'd', 'D', 'w', 'W', 'b', 'B']);
/**
 * Java's \s, [ \t\n\x0B\f\r], as a class's content: JavaScript's \s takes Unicode's spaces too
 * (U+00A0, U+2028, U+3000 and others), which Java's leaves to the properties.
 */
const JAVA_SPACE = ' \\t\\n\\x0B\\f\\r';

/**
 * The escape at `at` (a backslash) as JavaScript reads what Java did, or why it cannot be:
 * JavaScript reads a backslash before a letter it does not know as the letter itself, so Java's
 * `\h`, `\R`, `\e`, `\Z` or `\p{Punct}` would match an "h", an "R", an "e", a "Z" or the text
 * "p{Punct}", and the properties would be split where Ehcache did not split them (or Ehcache
 * refused the pattern: a letter Java does not know either).
 */
function javaEscape(
  written: string,
  at: number,
  inClass: boolean,
): { readonly source: string; readonly length: number } | { readonly problem: string } {
  const next = written[at + 1] as string;
  const rest = written.slice(at + 2);
  if (next === 's') return { source: inClass ? JAVA_SPACE : `[${JAVA_SPACE}]`, length: 2 };
  if (next === 'S') {
    // A class cannot hold a negated one without the v flag, which reads other escapes otherwise.
    if (inClass) return { problem: '\\S inside a character class is not written here as Java reads it' };
    return { source: `[^${JAVA_SPACE}]`, length: 2 };
  }
  if (!/[A-Za-z0-9]/.test(next) || /[1-9]/.test(next) || SAME_ESCAPES.has(next)) {
    return { source: `\\${next}`, length: 2 };
  }
  if (next === '0') {
    // Java's octal \0n, \0nn, \0mnn; JavaScript's \0 is NUL, and its octal takes the 0 in.
    const octal = /^(?:[0-3][0-7]{2}|[0-7]{1,2})/.exec(rest)?.[0];
    if (octal === undefined) return { problem: '\\0 is an octal escape to Java, and takes at least one octal digit' };
    return { source: `\\x${Number.parseInt(octal, 8).toString(16).padStart(2, '0')}`, length: 2 + octal.length };
  }
  if (next === 'x' && /^[0-9A-Fa-f]{2}/.test(rest)) return { source: `\\x${rest.slice(0, 2)}`, length: 4 };
  if (next === 'u' && /^[0-9A-Fa-f]{4}/.test(rest)) return { source: `\\u${rest.slice(0, 4)}`, length: 6 };
  if (next === 'c' && /^[A-Z]/.test(rest)) return { source: `\\c${rest[0]}`, length: 3 };
  if (next === 'k' && rest.startsWith('<')) return { source: '\\k', length: 2 };
  const meaning = JAVA_ONLY_ESCAPES[next];
  return {
    problem: `\\${next} is ${meaning === undefined ? 'no escape to Java (Ehcache refused the pattern)' : `${meaning} to Java`}, and a plain "${next}" to JavaScript`,
  };
}

/** Java's escapes that JavaScript reads as a plain letter (or, for x, u and c, in another form), and what each is to Java. */
const JAVA_ONLY_ESCAPES: Readonly<Record<string, string>> = {
  a: 'the bell character',
  e: 'the escape character',
  h: 'a horizontal white space',
  H: 'anything but a horizontal white space',
  v: 'a vertical white space',
  V: 'anything but a vertical white space',
  R: 'a line break',
  X: 'a grapheme cluster',
  p: 'a character class',
  P: 'a character class',
  A: 'the beginning of the input',
  G: 'the end of the previous match',
  Z: 'the end of the input',
  z: 'the end of the input',
  x: 'a hexadecimal escape',
  u: 'a Unicode escape',
  c: 'a control character',
};

/** How long a separator may take to match a factory's properties. */
export const SEPARATOR_MATCH_MILLIS = 1_000;

/** Every match of `separator` in `text`, as [index, length]. */
const allMatches = (separator: RegExp, text: string): Array<[number, number]> =>
  Array.from(text.matchAll(separator), (match) => [match.index, match[0].length]);

/** The matching, run in a context of its own with a timeout (see matchesOf), made once. */
let guarded: { readonly context: vm.Context; readonly script: vm.Script } | undefined;

/**
 * Where `separator` matches in `text` ([index, length] each), or undefined when that took longer
 * than SEPARATOR_MATCH_MILLIS: a pattern that backtracks without end on the text (`(a+)+$` on a
 * long run of a's) would hold the importer for ever, as it held Ehcache's start. Only quantifiers
 * (`*`, `+`, `?`, `{n}`) and alternatives (`|`: forty groups `(a|a)` try 2^40 ways) backtrack so:
 * a pattern with either is run in a context with a timeout, which interrupts the match; one with
 * neither (the separators people write: `,`, `;`, `::`) is matched at once. A context made for each match took half a millisecond: a file of 10,000 replicated
 * caches took 17 s to import where it took 0.44 s with the separator matched as text.
 */
export function matchesOf(separator: RegExp, text: string): Array<[number, number]> | undefined {
  if (!/[*+?{|]/.test(separator.source)) return allMatches(separator, text);
  guarded ??= {
    context: vm.createContext({ allMatches }),
    script: new vm.Script('allMatches(separator, text)'),
  };
  Object.assign(guarded.context, { separator, text });
  try {
    return guarded.script.runInContext(guarded.context, { timeout: SEPARATOR_MATCH_MILLIS }) as Array<[number, number]>;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return undefined;
    throw error;
  } finally {
    Object.assign(guarded.context, { separator: undefined, text: undefined });
  }
}

/** One logical line as Properties.load splits it: the key ends at an unescaped `=`, `:` or white space. */
function propertyOf(
  text: string,
  line: number,
  attributeName: string,
  fail: (line: number, message: string) => never,
): Property {
  let keyEnd = 0;
  let valueStart = text.length;
  let separated = false;
  let escaped = false;
  for (; keyEnd < text.length; keyEnd++) {
    const char = text[keyEnd];
    if ((char === '=' || char === ':') && !escaped) {
      valueStart = keyEnd + 1;
      separated = true;
      break;
    }
    if (isBlank(char) && !escaped) {
      valueStart = keyEnd + 1;
      break;
    }
    escaped = char === '\\' ? !escaped : false;
  }
  for (; valueStart < text.length; valueStart++) {
    const char = text[valueStart];
    if (isBlank(char)) continue;
    if (!separated && (char === '=' || char === ':')) {
      separated = true;
      continue;
    }
    break;
  }
  const read = (part: string) => unescapeJava(part, () => fail(line, malformed(text, attributeName)));
  // Ehcache trims every value it reads (PropertyUtil.extractAndLogProperty); the importer reads
  // them trimmed too, so a value keeps what Properties.load left.
  return { key: read(text.slice(0, keyEnd)), value: read(text.slice(valueStart)), line };
}

const malformed = (text: string, attributeName: string) =>
  `the property "${text}" in ${attributeName} has a malformed \\uXXXX escape: Ehcache refuses it (java.util.Properties throws)`;

/** Properties.loadConvert: `\uXXXX`, `\t`, `\n`, `\r`, `\f`, and any other escaped character as itself. */
function unescapeJava(text: string, malformedEscape: () => never): string {
  if (!text.includes('\\')) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (char !== '\\' || i + 1 >= text.length) {
      // A lone backslash at the very end cannot come here (the line's reading took it off).
      out += char === '\\' ? '' : char;
      continue;
    }
    const next = text[++i] as string;
    if (next === 'u') {
      const hex = text.slice(i + 1, i + 5);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) malformedEscape();
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 4;
    } else out += next === 't' ? '\t' : next === 'n' ? '\n' : next === 'r' ? '\r' : next === 'f' ? '\f' : next;
  }
  return out;
}
