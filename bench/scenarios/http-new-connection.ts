import { runCli } from '../lib/cli';
import { httpThroughputScenario } from './http-throughput';

/**
 * A new TCP connection per request: the request says `Connection: close`, the server closes
 * after answering and autocannon reconnects, so every request pays accept + admission + close.
 */
export const httpNewConnection = httpThroughputScenario({
  name: 'http-new-connection',
  title: 'HTTP new connection per request, 50 concurrent',
  server: 'servers/http-target',
  scheme: 'http',
  connections: 50,
  headers: { Connection: 'close' },
  target: 0.97,
});

if (require.main === module) void runCli([httpNewConnection]);
