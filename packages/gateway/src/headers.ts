/**
 * HTTP header fields as the gateway helpers take them: a plain record, names in any case, a
 * value a string or a list of strings (node:http's IncomingHttpHeaders, Fastify's, or
 * `Object.fromEntries(fetchResponse.headers)` all fit). Every lookup is case-insensitive, and a
 * field given as a list is read as its field lines joined with ", " (RFC 9110 section 5.3).
 */

export type Headers = Readonly<Record<string, string | readonly string[] | number | undefined>>;

/** The field's value (lines joined with ", "), or undefined when the field is absent. */
export function headerValue(headers: Headers | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  const lower = name.toLowerCase();
  let found: string | undefined;
  // A policy decision reads a dozen fields of each response: walked with Object.entries and every
  // name lower-cased, the lookups cost a Fastify miss 8 µs of its ~110; names of another length
  // are passed over without either.
  for (const key in headers) {
    if (key.length !== lower.length || (key !== lower && key.toLowerCase() !== lower) || !Object.hasOwn(headers, key)) {
      continue;
    }
    const value = headers[key];
    if (value === undefined) continue;
    const text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : value.join(', ');
    // Two spellings of one name ('Vary' and 'vary') are two field lines of one field.
    found = found === undefined ? text : `${found}, ${text}`;
  }
  return found;
}

/** A list-valued field (Vary, Connection, ...) as its members, trimmed and lower-cased; empty members dropped. */
export function headerTokens(headers: Headers | undefined, name: string): string[] {
  const value = headerValue(headers, name);
  if (value === undefined) return [];
  return value
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token !== '');
}
