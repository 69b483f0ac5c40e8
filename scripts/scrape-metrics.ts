/**
 * Starts the multi-protocol sample on free ports, drives real traffic on every server (HTTP and
 * HTTPS requests, a TLS handshake that fails, gRPC calls, WebSocket echo messages and a closed
 * WebSocket), scrapes the admin `/metrics` with those connections still open and writes it to
 * the file named by the first argument (logs go to stdout), for `promtool check metrics`, so
 * every family, protocol-specific ones included, carries samples when it is linted. Used by
 * `scripts/promtool-check.sh`.
 */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import WebSocket from 'ws';
import { readConfigFile } from '../src';
import { createSampleApp, sampleConfigFile } from '../samples/multi-protocol/app';
import { withDevCertificate } from '../samples/multi-protocol/dev-certificate';
import { loadDemoPackage } from '../samples/multi-protocol/grpc-echo-server';

function fetchText(get: typeof http.get, options: https.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function echo(client: grpc.Client, request: { message: string; delay_ms?: number }): Promise<grpc.status> {
  return new Promise((resolve) => {
    (client as unknown as { Echo(r: object, cb: (err: grpc.ServiceError | null) => void): void }).Echo(request, (err) => resolve(err ? err.code : grpc.status.OK));
  });
}

/** Sends `messages` on a fresh WebSocket and resolves with it once every echo came back. */
function wsEcho(url: string, messages: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let pending = messages.length;
    ws.once('error', reject);
    ws.on('message', () => {
      if (--pending === 0) resolve(ws);
    });
    ws.once('open', () => messages.forEach((m) => ws.send(m)));
  });
}

/** Bytes that are not a TLS ClientHello: the server counts a failed handshake. */
function tlsGarbage(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end('GET / HTTP/1.1\r\n\r\n'));
    socket.on('error', () => resolve()).on('close', () => resolve()).resume();
  });
}

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: scrape-metrics <output file>');
  const configFile = sampleConfigFile();
  const config = readConfigFile(configFile);
  // Free ports everywhere, so this runs next to a sample already on the default ports.
  for (const section of Object.values(config)) {
    if (section && typeof section === 'object' && 'port' in section) (section as { port: number }).port = 0;
  }
  // Like `npm start`: without a configured certificate, HTTPS serves the cached self-signed one.
  const { env } = await withDevCertificate(configFile, process.env);
  const app = createSampleApp(config, { handleSignals: false, env });
  await app.start();
  const agent = new http.Agent({ keepAlive: true });
  const tlsAgent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  const clients: grpc.Client[] = [];
  const sockets: WebSocket[] = [];
  try {
    for (const server of app.servers) {
      const port = server.address()?.port as number;
      switch (server.pool.protocol) {
        case 'http':
          await fetchText(http.get, { port, path: '/', agent });
          await fetchText(http.get, { port, path: '/nope', agent });
          break;
        case 'https':
          await fetchText(https.get, { port, path: '/', agent: tlsAgent });
          await tlsGarbage(port);
          break;
        case 'grpc': {
          const client = new (loadDemoPackage().Echo)(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
          clients.push(client);
          await echo(client, { message: 'scrape' });
          await echo(client, { message: 'too slow', delay_ms: 1e9 }); // INVALID_ARGUMENT
          break;
        }
        case 'ws': {
          const url = `ws://127.0.0.1:${port}${(config.ws as { path?: string } | undefined)?.path ?? '/ws'}`;
          sockets.push(await wsEcho(url, ['one', 'two']));
          const closed = await wsEcho(url, ['bye']);
          await new Promise((resolve) => closed.once('close', resolve).close(1000));
          break;
        }
      }
    }
    const admin = app.adminAddress();
    if (!admin) throw new Error('the sample config has no admin section');
    const { status, body } = await fetchText(http.get, { port: admin.port, path: '/metrics', agent: false });
    if (status !== 200) throw new Error(`/metrics answered ${status}`);
    writeFileSync(out, body);
  } finally {
    for (const c of clients) c.close();
    for (const s of sockets) s.terminate();
    agent.destroy();
    tlsAgent.destroy();
    await app.stop({ force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`scrape-metrics failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
