import { MemoryDiskStore } from '../src/disk/memory-disk-store.js';
import { describeDiskStoreConformance } from './disk-store-conformance.js';

describeDiskStoreConformance('MemoryDiskStore', ({ spoolBytes }) => {
  const store = new MemoryDiskStore({ spoolBytes });
  return { store, dispose: () => store.close() };
});
