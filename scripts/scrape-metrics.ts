/**
 * Starts the multi-protocol sample on free ports with live connections on every server, scrapes
 * the admin `/metrics` and writes it to the file named by the first argument (logs go to
 * stdout), for `promtool check metrics`. Used by
 * `scripts/promtool-check.sh`.
 */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { readConfigFile } from '../src';
import { createSampleApp, sampleConfigFile } from '../samples/multi-protocol/app';

function fetchText(port: number, path: string, agent: http.Agent | false = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: scrape-metrics <output file>');
  const config = readConfigFile(sampleConfigFile());
  // Free ports everywhere, so this runs next to a sample already on the default ports.
  for (const section of Object.values(config)) {
    if (section && typeof section === 'object' && 'port' in section) (section as { port: number }).port = 0;
  }
  const app = createSampleApp(config, { handleSignals: false });
  await app.start();
  const agent = new http.Agent({ keepAlive: true });
  const sockets: net.Socket[] = [];
  try {
    for (const server of app.servers) {
      const port = server.address()?.port as number;
      // A bare TCP connection stays open whatever the protocol; HTTP also gets a real request.
      sockets.push(net.connect(port, '127.0.0.1').on('error', () => undefined));
      if (server.pool.protocol === 'http') {
        await fetchText(port, '/', agent);
        await fetchText(port, '/nope', agent);
      }
    }
    const admin = app.adminAddress();
    if (!admin) throw new Error('the sample config has no admin section');
    const { status, body } = await fetchText(admin.port, '/metrics');
    if (status !== 200) throw new Error(`/metrics answered ${status}`);
    writeFileSync(out, body);
  } finally {
    for (const s of sockets) s.destroy();
    agent.destroy();
    await app.stop({ force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`scrape-metrics failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
