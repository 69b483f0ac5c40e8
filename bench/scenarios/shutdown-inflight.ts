import { runCli } from '../lib/cli';
import type { Scenario } from '../lib/scenario';
import { compareShutdown, shutdownRows } from './shutdown';

/** Requests in flight when the shutdown starts, and how long each takes. */
const REQUESTS = 200;
const REQUEST_MS = 500;

/**
 * Shutdown while 200 requests of 500 ms are in flight (stop called the moment the 200th is in
 * the handler): every admitted request must be answered, and the stop must end within D + 50 ms
 * and be no slower than `node:http` + `@godaddy/terminus` doing the same.
 */
export const shutdownInflight: Scenario = {
  name: 'shutdown-inflight',
  title: `Shutdown, ${REQUESTS} in-flight requests of ${REQUEST_MS} ms (vs @godaddy/terminus)`,
  run: async (options) => shutdownRows('shutdown-inflight', await compareShutdown(options, { kind: 'inflight', count: REQUESTS, ms: REQUEST_MS }), REQUEST_MS + 50, 1.0),
};

if (require.main === module) void runCli([shutdownInflight]);
