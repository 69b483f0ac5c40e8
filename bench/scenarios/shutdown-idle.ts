import { runCli } from '../lib/cli';
import type { Scenario } from '../lib/scenario';
import { compareShutdown, shutdownRows } from './shutdown';

/** Shutdown with 1,000 idle keep-alive connections: how long until `stop()` resolves. */
export const shutdownIdle: Scenario = {
  name: 'shutdown-idle',
  title: 'Shutdown, 1,000 idle keep-alive connections',
  run: async (options) => shutdownRows('shutdown-idle', await compareShutdown(options, { kind: 'idle', count: 1000 }), 50),
};

if (require.main === module) void runCli([shutdownIdle]);
