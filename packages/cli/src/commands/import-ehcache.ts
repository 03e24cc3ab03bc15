/**
 * `meshcache import-ehcache ehcache.xml [--name N] [--cluster C] [--out FILE]`: an Ehcache 2
 * configuration as a meshcache one (the converter is ../ehcache/import-ehcache.ts). The JSON goes
 * to stdout, or to FILE; stderr gets one line per thing that was not converted and per note, each
 * `FILE:LINE: not converted: ...` or `FILE:LINE: note: ...`, then what to add before serving (a
 * secret, a name) and a summary.
 *
 * Exit codes:
 *   0  everything converted (notes may have been printed)
 *   3  the config was produced, but some things were not converted (each on stderr)
 *   2  bad usage (an --out naming the file being converted among it), or a file that cannot be
 *      used: unreadable, not well-formed XML, not an ehcache.xml, or a value Ehcache itself
 *      refuses (nothing is written)
 *   1  the output file cannot be written (or exists, without --force)
 *   4  an internal error: a bug in the importer, not a problem with the file (said so, with the
 *      stack to report; nothing is written)
 */
import { closeSync, existsSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ConfigError } from '@meshcache/core';
import { resolveClusterConfig } from '@meshcache/replication';
import { EhcacheImportError, importEhcache } from '../ehcache/import-ehcache.js';
import { decodeXml, XmlEncodingError } from '../ehcache/xml-encoding.js';
import type { Io } from '../io.js';

export interface ImportEhcacheCommandOptions {
  out?: string;
  force?: boolean;
  name?: string;
  cluster?: string;
  /** Names for the defaultCache; false with --no-default-cache. */
  defaultCache?: string[] | false;
  /** Whether both --default-cache and --no-default-cache were given (commander keeps the last). */
  bothDefaultCacheOptions?: boolean;
}

export const EXIT_INCOMPLETE = 3;
/** A bug in the importer; 1 is the output not written, and said so. */
export const EXIT_INTERNAL = 4;

/**
 * The largest file read: 64 MiB, far past any ehcache.xml (a file of 60,000 replicated caches is
 * 21 MB). Read whole and unbounded, /dev/zero or a pipe that never ends took all the machine's
 * memory, and a file past 512 MiB either aborted Node (declared ISO-8859-1: a fatal error in its
 * decoder) or took minutes to be called "not valid UTF-8".
 */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Whether two paths name one file: the same device and inode, so `./ehcache.xml`, an absolute
 * path, a symbolic or a hard link to it all count. A path that does not exist names no file.
 */
function sameFile(a: string, b: string): boolean {
  try {
    const first = statSync(a);
    const second = statSync(b);
    return first.dev === second.dev && first.ino === second.ino && first.isFile();
  } catch {
    return false;
  }
}

/** The file's bytes, read until its end; a file (or a pipe, a device) with more than `max` is an error. */
function readAtMost(file: string, max: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1024 * 1024, max + 1 - total));
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      chunks.push(chunk.subarray(0, read));
      total += read;
      if (total > max) {
        throw new Error(
          `it is larger than ${max / (1024 * 1024)} MiB, which no ehcache.xml is (is it the right file?)`,
        );
      }
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

export async function importEhcacheCommand(
  io: Io,
  file: string,
  options: ImportEhcacheCommandOptions,
): Promise<number> {
  for (const [option, value] of [
    ['--name', options.name],
    ['--cluster', options.cluster],
  ] as const) {
    if (value !== undefined && value.trim() === '') {
      io.err(`meshcache: ${option} must not be empty\n`);
      return 2;
    }
  }
  if (options.bothDefaultCacheOptions === true) {
    io.err('meshcache: give --default-cache NAME or --no-default-cache, not both\n');
    return 2;
  }
  const defaultCacheNames = options.defaultCache === false ? [] : (options.defaultCache ?? ['default']);
  const badOption = optionMeshcacheRefuses(options.name, options.cluster, defaultCacheNames);
  if (badOption !== undefined) {
    io.err(`meshcache: ${badOption}\n`);
    return 2;
  }
  if (options.out !== undefined && sameFile(file, options.out)) {
    // With --force, the ehcache.xml was replaced by the JSON made from it.
    io.err(
      `meshcache: --out ${options.out} is the file being converted (${file}); it is left as it is: write the config to another file\n`,
    );
    return 2;
  }
  let bytes: Buffer;
  try {
    bytes = readAtMost(file, MAX_FILE_BYTES);
  } catch (error) {
    io.err(`meshcache: cannot read ${file}: ${(error as Error).message}\n`);
    return 2;
  }
  let xml: string;
  try {
    xml = decodeXml(bytes);
  } catch (error) {
    if (!(error instanceof XmlEncodingError)) return internalFailure(io, file, error);
    io.err(`meshcache: cannot read ${file}: ${error.message}\n`);
    return 2;
  }
  const fileName = basename(file);
  let result: ReturnType<typeof importEhcache>;
  try {
    result = importEhcache(xml, {
      fileName,
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
      // Only when named: the importer reports a name it has no <defaultCache> to write from.
      ...(options.defaultCache === undefined ? {} : { defaultCacheNames }),
    });
  } catch (error) {
    if (error instanceof EhcacheImportError) {
      io.err(`meshcache: ${error.message}\n`);
      return 2;
    }
    return internalFailure(io, file, error);
  }
  const json = `${JSON.stringify(result.config, null, 2)}\n`;
  if (options.out !== undefined) {
    try {
      writeFileSync(options.out, json, { flag: options.force === true ? 'w' : 'wx' });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const directory = existsSync(options.out) && statSync(options.out).isDirectory();
      const why = directory
        ? 'it is a directory (--out names the file to write)'
        : code === 'EEXIST'
          ? 'it exists (--force to replace it)'
          : (error as Error).message;
      io.err(`meshcache: cannot write ${options.out}: ${why}\n`);
      return 1;
    }
  } else {
    io.out(json);
  }

  for (const line of result.report) io.err(`${fileName}:${line.line}: ${line.kind}: ${line.message}\n`);
  io.err(
    'meshcache: no secret was written: before serving, add "secretFile": "/run/secrets/meshcache" to the config (or set MESHCACHE_SECRET); every node of the cluster needs the same one\n',
  );
  if (options.name === undefined) {
    io.err('meshcache: no "name" was written: every node needs its own (--name gw-1, or add "name")\n');
  }
  const missing = result.report.filter((line) => line.kind === 'not converted').length;
  const where = options.out === undefined ? '' : `, written to ${options.out}`;
  io.err(
    `meshcache: ${fileName}: ${result.caches} ${result.caches === 1 ? 'cache' : 'caches'} (${result.replicatedCaches} replicated)${where}; ${
      missing === 0
        ? 'everything converted'
        : `${missing} ${missing === 1 ? 'item' : 'items'} not converted (listed above)`
    }\n`,
  );
  return result.complete ? 0 : EXIT_INCOMPLETE;
}

/**
 * An error the importer did not mean to throw: a bug, said as one, with its own exit code. It was
 * exit 1 with the bare message, which the docs give as "the output cannot be written".
 */
function internalFailure(io: Io, file: string, error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  io.err(
    `meshcache: internal error: import-ehcache failed on ${file} (a bug in the importer, not a fault of the file; nothing was written): ${message}\n`,
  );
  const stack = error instanceof Error ? error.stack : undefined;
  if (stack !== undefined) io.err(`meshcache: please report it with this stack:\n${stack}\n`);
  return EXIT_INTERNAL;
}

/**
 * What meshcache would refuse in --name, --cluster or a --default-cache name, said as bad usage
 * before anything is converted (it was blamed on the importer, or written and refused by serve).
 */
function optionMeshcacheRefuses(
  name: string | undefined,
  cluster: string | undefined,
  defaultCacheNames: readonly string[],
): string | undefined {
  for (const [i, cache] of defaultCacheNames.entries()) {
    if (cache.trim() === '') return `--default-cache must not be empty, got ${JSON.stringify(cache)}`;
    // Said as what it is, not as a cache of the file that "exists already".
    if (defaultCacheNames.indexOf(cache) !== i) return `--default-cache ${JSON.stringify(cache)} is given twice`;
  }
  try {
    resolveClusterConfig(
      {
        name: name ?? 'probe',
        cluster: cluster ?? 'probe',
        caches: Object.fromEntries(defaultCacheNames.map((cache) => [cache, {}])),
      },
      { MESHCACHE_SECRET: 'x'.repeat(64) },
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const flag = error.cacheName !== undefined ? '--default-cache' : error.field === 'cluster' ? '--cluster' : '--name';
    return `${flag}: ${error.message}`;
  }
  return undefined;
}
