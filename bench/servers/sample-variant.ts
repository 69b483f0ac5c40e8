/**
 * The multi-protocol sample with one or more changes, to find where its per-request cost comes
 * from (bench scenario `sample-process` with `UNIPOOL_BENCH_SAMPLE_VARIANT=<name>[+<name>...]`).
 * `shipped` is the sample as `npm start` builds it (an A/A check of this script against main.js).
 * Prints the same `http ... listening on <host>:<port>` line as the sample.
 */
import 'reflect-metadata';
import { createApp, readConfigFile, type Logger, type ServerClass } from '../../src';
import { SAMPLE_SERVERS, sampleConfigFile } from '../../samples/multi-protocol/app';
import { withDevCertificate } from '../../samples/multi-protocol/dev-certificate';
import { HttpApiServer } from '../../samples/multi-protocol/http-api-server';
import { BenchHttpServer } from './bench-http-server';
import { nullLogger } from './null-logger';

interface Setup {
  servers: ServerClass[];
  config: Record<string, Record<string, unknown>>;
  logger?: Logger;
}

/** Each variant changes one thing of the shipped sample. */
const VARIANTS: Record<string, (s: Setup) => void> = {
  shipped: () => undefined,
  /** Only the HTTP server in the process (and its config section). */
  'http-only': (s) => {
    s.servers = [HttpApiServer];
    for (const section of ['https', 'grpc', 'ws', 'http2']) delete s.config[section];
  },
  /** No admin endpoint (no /metrics, /status, dashboard). */
  'no-admin': (s) => {
    delete s.config.admin;
  },
  /** A logger that drops everything (the bench servers' logger). */
  'no-log': (s) => {
    s.logger = nullLogger;
  },
  /** The http section without the sample's headersTimeout / requestTimeout (unipool's defaults). */
  'default-timeouts': (s) => {
    delete s.config.http.headersTimeout;
    delete s.config.http.requestTimeout;
  },
  /** The HTTP server answers with the bench's own handler (bench/servers/handlers.ts) instead of the sample's routes. */
  'bench-handler': (s) => {
    s.servers = s.servers.map((c) => (c === HttpApiServer ? BenchHttpServer : c));
  },
  /** The http section as the bench servers configure it: host, port, maxConnections 20000, keepAliveTimeout 5000. */
  'bench-http-section': (s) => {
    s.config.http = { host: '127.0.0.1', port: 0, maxConnections: 20_000, keepAliveTimeout: 5000 };
  },
};

async function main(): Promise<void> {
  const names = (process.argv[2] ?? 'shipped').split('+');
  const unknown = names.filter((n) => !(n in VARIANTS));
  if (unknown.length) throw new Error(`unknown variant ${unknown.join(', ')}; known: ${Object.keys(VARIANTS).join(', ')}`);
  const file = sampleConfigFile();
  const setup: Setup = { servers: [...SAMPLE_SERVERS], config: readConfigFile(file) as Setup['config'] };
  for (const name of names) VARIANTS[name](setup);
  const { env } = await withDevCertificate(file, process.env);
  const app = createApp({ servers: setup.servers, config: setup.config, env, logger: setup.logger });
  await app.start();
  for (const server of app.servers) {
    const addr = server.address();
    console.log(`${server.pool.protocol.padEnd(6)} ${server.name} listening on ${addr?.address}:${addr?.port} (variant ${names.join('+')})`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
