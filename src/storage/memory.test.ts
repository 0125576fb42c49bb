/**
 * Runs the shared storage-driver suite against the in-memory driver.
 */
import { storageDriverSuite } from './driver.suite.js';
import { MemoryDriver } from './memory.js';

storageDriverSuite('memory', async () => ({ driver: new MemoryDriver(), cleanup: async () => {} }));
