/**
 * Ehcache's factory `properties` attribute: `key=value` pairs joined by `propertySeparator`
 * (default ","), each with the line it stands on. Ehcache trims each pair (Java's
 * Properties.load); so does this. A pair without `=` is an error naming its line.
 */
import type { LineIndex, XmlAttribute } from './xml.js';

export interface Property {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

export function parseProperties(
  attribute: XmlAttribute | undefined,
  separator: string,
  lines: LineIndex,
  fail: (line: number, message: string) => never,
): Property[] {
  if (attribute === undefined) return [];
  const pieces = attribute.value.split(separator);
  const rawPieces = attribute.raw.split(separator);
  const properties: Property[] = [];
  let rawOffset = attribute.rawOffset;
  pieces.forEach((piece, i) => {
    const raw = rawPieces.length === pieces.length ? (rawPieces[i] ?? '') : '';
    const lead = raw.length - raw.trimStart().length;
    const line = rawPieces.length === pieces.length ? lines.lineOf(rawOffset + lead) : attribute.line;
    rawOffset += raw.length + separator.length;
    const text = piece.trim();
    if (text === '') return;
    const equals = text.indexOf('=');
    if (equals <= 0) fail(line, `the property "${text}" in ${attribute.name} is not key=value`);
    properties.push({ key: text.slice(0, equals).trim(), value: text.slice(equals + 1).trim(), line });
  });
  return properties;
}
