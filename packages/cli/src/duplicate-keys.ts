/**
 * JSON.parse keeps the last of two keys that are the same in one object, without a word: in a
 * configuration file, `"caches": { "tokens": {...}, "tokens": {...} }` silently lost the first
 * cache's TTL and bound. This finds such a key in text that is already known to be JSON.
 */

/** The path of the first key written twice in one object (`caches.tokens`), or undefined. */
export function firstDuplicateKey(json: string): string | undefined {
  type Frame =
    | { readonly kind: 'object'; readonly path: string; readonly keys: Set<string>; atKey: boolean; last: string }
    | { readonly kind: 'array'; readonly path: string; index: number };
  const stack: Frame[] = [];
  const childPath = (): string => {
    const top = stack[stack.length - 1];
    if (top === undefined) return '';
    if (top.kind === 'array') return `${top.path}[${top.index}]`;
    return top.path === '' ? top.last : `${top.path}.${top.last}`;
  };
  for (let at = 0; at < json.length; at++) {
    const char = json[at];
    if (char === '"') {
      let end = at + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.kind === 'object' && top.atKey) {
        const key = JSON.parse(json.slice(at, end + 1)) as string;
        if (top.keys.has(key)) return top.path === '' ? key : `${top.path}.${key}`;
        top.keys.add(key);
        top.last = key;
        top.atKey = false;
      }
      at = end;
    } else if (char === '{') {
      stack.push({ kind: 'object', path: childPath(), keys: new Set(), atKey: true, last: '' });
    } else if (char === '[') {
      stack.push({ kind: 'array', path: childPath(), index: 0 });
    } else if (char === '}' || char === ']') {
      stack.pop();
    } else if (char === ',') {
      const top = stack[stack.length - 1];
      if (top?.kind === 'object') top.atKey = true;
      else if (top?.kind === 'array') top.index++;
    }
  }
  return undefined;
}
