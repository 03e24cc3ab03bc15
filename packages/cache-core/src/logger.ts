/**
 * A pino-compatible logger: each level takes an object of fields and an optional message.
 * The default is silent, so an embedded cache never writes to a gateway's stdout uninvited.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const ignore = (): void => {};

export const silentLogger: Logger = Object.freeze({ debug: ignore, info: ignore, warn: ignore, error: ignore });
