export type {
  ImportEhcacheOptions,
  ImportEhcacheResult,
  ImportReportKind,
  ImportReportLine,
} from './ehcache/import-ehcache.js';
export { EhcacheImportError, importEhcache } from './ehcache/import-ehcache.js';
export type { Io } from './io.js';
export { processIo } from './io.js';
export type { OperatorEndpoint, OperatorEndpointOptions } from './operator/operator-endpoint.js';
export { startOperatorEndpoint } from './operator/operator-endpoint.js';
export { run } from './program.js';
