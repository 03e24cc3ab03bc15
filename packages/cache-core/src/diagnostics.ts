/**
 * What a cache tells `node:diagnostics_channel`, for tracers and APM agents (an OpenTelemetry
 * plugin subscribes here, as bentocache's does to its own channels).
 *
 * `meshcache:load` is a TracingChannel (tracing:meshcache:load:start, :end, :asyncStart, :asyncEnd,
 * :error) around each load getOrLoad runs: one per key at a time, however many callers share it.
 * Its context is a LoadTrace: the cache, the key (never the value), and once the load settles,
 * who answered it (this node's loader, or a peer whose value arrived under cluster-wide single
 * flight) and whether a stale value stood in for a failed load. `result` or `error` is set by
 * the TracingChannel as usual.
 *
 * Cost. Nothing when nobody subscribes: getOrLoad asks hasLoadSubscribers() (five boolean reads)
 * and builds no context and wraps no promise unless one of the five channels has a subscriber.
 * get() and put() publish nothing.
 */
import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel';

export const LOAD_CHANNEL = 'meshcache:load';

/** The context a `meshcache:load` subscriber receives. */
export interface LoadTrace {
  readonly cache: string;
  readonly key: string;
  /** Set before asyncEnd: 'local' when this node's loader ran, 'peer' when a peer's value answered. */
  answeredBy: 'local' | 'peer' | undefined;
  /** Set before asyncEnd when the loader failed and the stale value answered (staleIfErrorSeconds). */
  stale: boolean;
  /** Set by the TracingChannel: the loaded value on asyncEnd, or the error on error. */
  result?: unknown;
  error?: unknown;
}

export const loadChannel: TracingChannel<unknown, LoadTrace> = tracingChannel(LOAD_CHANNEL);

/** Whether anyone listens to any of the load channels (TracingChannel.hasSubscribers is newer than Node 20.0). */
export function hasLoadSubscribers(): boolean {
  return (
    loadChannel.start.hasSubscribers ||
    loadChannel.end.hasSubscribers ||
    loadChannel.asyncStart.hasSubscribers ||
    loadChannel.asyncEnd.hasSubscribers ||
    loadChannel.error.hasSubscribers
  );
}
