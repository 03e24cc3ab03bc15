/**
 * An error from ioredis as a log line carries it. ioredis sets `command` on a reply error, with
 * the command's arguments: AUTH's password (a wrong one is the likeliest to fail), an XADD's
 * sealed entry whole. A pino logger (docs/configuration.md: `logger` is pino-compatible) prints
 * every enumerable field of `err`, so the password of backplane.url went to the log. Only the
 * name, message, code and stack are kept, and the command's name.
 */
export function loggedError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const fields = error as Error & { command?: { name?: unknown }; code?: unknown };
  if (fields.command === undefined && !('previousErrors' in error)) return error;
  const shown = new Error(error.message) as Error & { command?: unknown; code?: unknown };
  shown.name = error.name;
  if (error.stack !== undefined) shown.stack = error.stack;
  if (fields.code !== undefined) shown.code = fields.code;
  if (typeof fields.command?.name === 'string') shown.command = fields.command.name;
  return shown;
}
