/**
 * What is wrong with a `diskStorePath`, said once for the CacheManager option and the cluster
 * configuration's field, which both take one.
 */

/** The problem with `path` as a disk store's directory, or undefined when it will do. */
export function diskStorePathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '') return 'must be a non-empty path';
  // A shell expands "~/meshcache"; a config file and Node do not: the store went to a directory
  // named "~" under the working directory, and a restart from elsewhere found the caches empty.
  if (path === '~' || path.startsWith('~/')) {
    return `starts with ~, which only a shell expands (here it would be a directory named "~" in the working directory): write the whole path, e.g. /var/lib/meshcache; got ${JSON.stringify(path)}`;
  }
  return undefined;
}
