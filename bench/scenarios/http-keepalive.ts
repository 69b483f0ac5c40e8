import { runCli } from '../lib/cli';
import { httpThroughputScenario } from './http-throughput';

/** HTTP/1.1 keep-alive `GET /` -> `hello`, 50 connections. */
export const httpKeepAlive = httpThroughputScenario({
  name: 'http-keepalive',
  title: 'HTTP keep-alive hello, 50 connections',
  server: 'servers/http-target',
  scheme: 'http',
  connections: 50,
  target: 0.98,
  // Admission on but never limiting (issue 14): what the limiter costs per request.
  extraSides: [{ label: 'unipool+static limiter 10000', args: { overload: { limiter: 'static', maxConcurrency: 10_000 } } }],
});

if (require.main === module) void runCli([httpKeepAlive]);
