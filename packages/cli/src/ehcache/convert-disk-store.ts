/**
 * <diskStore path> to `diskStorePath`, with Ehcache's Java property tokens (java.io.tmpdir,
 * user.home, user.dir, ehcache.disk.store.dir) resolved on this machine, as Ehcache resolved them
 * on its own.
 */
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { attribute, type Importer } from './importer.js';
import type { XmlElement } from './xml.js';

/** Ehcache's documented translations in a diskStore path. */
export const JAVA_PATH_PROPERTIES = ['java.io.tmpdir', 'user.home', 'user.dir', 'ehcache.disk.store.dir'] as const;

export function convertDiskStore(imp: Importer, element: XmlElement): string | undefined {
  const pathAttribute = attribute(element, 'path');
  for (const attr of element.attributes) {
    if (attr.name !== 'path')
      imp.notConverted(attr.line, `diskStore ${attr.name}="${attr.value}" is not an attribute this importer knows`);
  }
  if (pathAttribute === undefined) return imp.fail(element.line, 'diskStore needs a path');
  const path = imp.text('', pathAttribute, 'diskStore path');
  if (path === undefined || path === '') return undefined;
  const property = JAVA_PATH_PROPERTIES.find(
    (name) => path === name || path.startsWith(`${name}/`) || path.startsWith(`${name}\\`),
  );
  if (property === undefined) return path;
  const rest = path.slice(property.length + 1);
  const base =
    property === 'java.io.tmpdir'
      ? (imp.options.tmpdir ?? tmpdir())
      : property === 'user.home'
        ? (imp.options.homedir ?? homedir())
        : property === 'user.dir'
          ? '.'
          : undefined;
  if (base === undefined) {
    imp.notConverted(
      pathAttribute.line,
      `diskStore path="${path}": ${property} is a Java system property (-D${property}=...), which meshcache cannot read: set diskStorePath`,
    );
    return undefined;
  }
  const resolved = rest === '' ? ownDirectoryIn(base, imp.options.name) : join(base, rest);
  imp.note(
    pathAttribute.line,
    `diskStore path="${path}" becomes "${resolved}" (${rest === '' ? 'a directory of its own in ' : ''}${property === 'user.dir' ? 'the directory the node starts in' : `${property} on this machine`}); give every node on one host its own diskStorePath`,
  );
  return resolved;
}

/**
 * Ehcache wrote its `<cache>.data` files straight into java.io.tmpdir or a home directory;
 * meshcache's store is a directory it owns and makes private (0700), so it gets one of its own
 * there: /tmp itself is shared by every local user, and meshcache refuses it (and refuses this
 * one too, should another user have made it first).
 */
export function ownDirectoryIn(base: string, name: string | undefined): string {
  // The node's name is any text: only the characters a file name can always carry, so a name
  // like "a/../../var/lib" cannot step out of the directory.
  return join(base, `meshcache-${(name ?? 'store').replace(/[^A-Za-z0-9._-]/g, '-')}`);
}

// ------------------------------------------------------------------------------- the file
