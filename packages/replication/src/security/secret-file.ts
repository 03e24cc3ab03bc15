/**
 * A secret file's text, as a node's `secretFile` and the CLI's `--secret-file` read it: UTF-8,
 * strictly, without the trailing newline an editor or `echo` adds (a BOM is kept, as it always
 * was). Read leniently, every byte that is not UTF-8 became U+FFFD: a file of random bytes (as
 * memberlist's keys are) lost most of them, two such files were one secret, and 12 of them passed
 * the 32-byte floor as 36 (found by an outside audit). A secret is text.
 */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The secret `bytes` hold, or undefined when they are not UTF-8 text (the caller names the file). */
export function secretFileText(bytes: Uint8Array): string | undefined {
  try {
    return STRICT_UTF8.decode(bytes).replace(/\r?\n$/, '');
  } catch {
    return undefined;
  }
}
