/**
 * Options are checked by name as well as by value. A misspelt one (`defaultTTLSeconds` for
 * `defaultTtlSeconds`) was read by no one, and the cache ran on its defaults without a word: it
 * stored nothing, and nothing said why. Core's addCache refuses a field it does not know for the
 * same reason (docs/configuration.md); so do responseCache, tokenCache, cachePolicy and the
 * Fastify plugin.
 */
import { type ErrorCode, MeshcacheError } from '@meshcache/core';

/** Throws `code`, naming the first of `options`' own fields that is not in `known`, and the known ones. */
export function refuseUnknownOptions(options: object, known: readonly string[], where: string, code: ErrorCode): void {
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) {
      throw new MeshcacheError(code, `${where}: options.${name} is not an option; the options are ${known.join(', ')}`);
    }
  }
}
