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
});

if (require.main === module) void runCli([httpKeepAlive]);
