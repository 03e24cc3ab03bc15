/**
 * Secondary keys: the response's own Vary (RFC 9111 section 4.1).
 *
 * The model. A response that says `Vary: Accept-Language` answers only requests whose
 * Accept-Language matches the one it was fetched for. The first such response for a primary key
 * leaves a small marker at that key: "this resource varies on accept-language; generation G".
 * Each variant is its own entry, under the primary key, G and the request's values of the named
 * headers, hashed. A lookup reads the marker, computes the variant's key from the new request,
 * and reads that. The marker is the Vary headers folded into the key once the first response
 * has said which.
 *
 * Why this rather than a list of variants in one entry: each variant then has its own TTL, is
 * evicted on its own, and replicates on its own; two instances that store two variants at once
 * write two keys instead of racing on one list (where the last writer would drop the other's
 * variant). The cost: a hit on a varying resource is two reads, and the marker's entry.
 *
 * Guarantees. A stored response carries the request values it was stored for, and a lookup
 * serves it only when the new request's values are the same: header by header, after joining
 * field lines and collapsing whitespace, an absent header matching only an absent one, and
 * case-sensitive (stricter than some fields need; it costs hits, never safety). So even a marker
 * that changed under a variant (the origin changed its Vary, or two instances raced) can only
 * make a lookup miss, never serve the wrong variant. A new Vary list gets a new generation: the
 * variants of the old list are unreachable at once and leave by TTL or eviction.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type Headers, headerValue } from './headers.js';

/** The request values a variant was stored for: header name (lower-case) to value, null for absent. */
export type VaryValues = Readonly<Record<string, string | null>>;

/** The marker at a primary key whose responses vary. */
export interface VaryMarker {
  readonly kind: 'vary';
  /** The header names, lower-case, sorted. */
  readonly headers: readonly string[];
  readonly generation: string;
}

export function newVaryMarker(headers: readonly string[]): VaryMarker {
  return { kind: 'vary', headers: [...headers], generation: randomUUID() };
}

/** A request header value normalised for comparison (RFC 9111 section 4.1). */
function normalise(value: string | undefined): string | null {
  if (value === undefined) return null;
  return value
    .trim()
    .replace(/\s*,\s*/g, ',')
    .replace(/\s+/g, ' ');
}

/** The request's values of the named headers. */
export function varyValues(names: readonly string[], headers: Headers | undefined): VaryValues {
  const values: Record<string, string | null> = {};
  for (const name of names) values[name] = normalise(headerValue(headers, name));
  return values;
}

/** Whether a request selects a response stored for `stored` (same names, same values). */
export function varyMatches(stored: VaryValues, headers: Headers | undefined): boolean {
  for (const [name, value] of Object.entries(stored)) {
    if (normalise(headerValue(headers, name)) !== value) return false;
  }
  return true;
}

/** The key of one variant of `primary`. */
export function variantKey(primary: string, marker: VaryMarker, headers: Headers | undefined): string {
  const values = varyValues(marker.headers, headers);
  const digest = createHash('sha256')
    .update(JSON.stringify([marker.generation, marker.headers.map((name) => [name, values[name] ?? null])]))
    .digest('hex');
  return `${primary}/${digest}`;
}

export function sameHeaders(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}
