import { nextPoolEvent } from './pool-events';
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { generate } from 'selfsigned';
import { ConnectionPoolEvent, HttpsConnectionPool, HttpsPoolConfig, HttpsServer, PoolConfig, UsePool } from '../../src';

const SERVER_EXTENSIONS = [
  { name: 'basicConstraints' as const, cA: false },
  { name: 'subjectAltName' as const, altNames: [{ type: 2 as const, value: 'localhost' }, { type: 7 as const, ip: '127.0.0.1' }] },
];

/** Paths and PEM texts of the certificates a test needs, made at test time in a temp folder. */
export interface TlsFixtures {
  dir: string;
  /** First server pair (valid one year). */
  cert: string;
  key: string;
  certPem: string;
  /** Second server pair, for reload. */
  cert2: string;
  key2: string;
  cert2Pem: string;
  /** A server pair expiring in 5 days. */
  soonCert: string;
  soonKey: string;
  /** CA that signs client certificates, and a client pair it signed. */
  clientCa: string;
  clientCertPem: string;
  clientKeyPem: string;
  /** A self-signed client pair the CA does not know. */
  strayClientCertPem: string;
  strayClientKeyPem: string;
  cleanup(): void;
}

const DAY = 86_400_000;

/** Makes every certificate the HTTPS tests use (EC keys: fast). */
export async function makeTlsFixtures(): Promise<TlsFixtures> {
  const dir = mkdtempSync(join(tmpdir(), 'unipool-https-'));
  const ec = { keyType: 'ec' as const, algorithm: 'sha256' };
  const localhost = [{ name: 'commonName', value: 'localhost' }];
  const [one, two, soon, ca, stray] = await Promise.all([
    generate(localhost, { ...ec, extensions: SERVER_EXTENSIONS }),
    generate(localhost, { ...ec, extensions: SERVER_EXTENSIONS }),
    generate(localhost, { ...ec, extensions: SERVER_EXTENSIONS, notBeforeDate: new Date(Date.now() - DAY), notAfterDate: new Date(Date.now() + 5 * DAY) }),
    generate([{ name: 'commonName', value: 'unipool test client CA' }], { ...ec, extensions: [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, digitalSignature: true }] }),
    generate([{ name: 'commonName', value: 'stray client' }], { ...ec, extensions: [{ name: 'basicConstraints', cA: false }, { name: 'extKeyUsage', clientAuth: true }] }),
  ]);
  const client = await generate([{ name: 'commonName', value: 'trusted client' }], { ...ec, ca: { key: ca.private, cert: ca.cert }, extensions: [{ name: 'basicConstraints', cA: false }, { name: 'extKeyUsage', clientAuth: true }] });
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  return {
    dir,
    cert: write('cert.pem', one.cert),
    key: write('key.pem', one.private),
    certPem: one.cert,
    cert2: write('cert2.pem', two.cert),
    key2: write('key2.pem', two.private),
    cert2Pem: two.cert,
    soonCert: write('soon-cert.pem', soon.cert),
    soonKey: write('soon-key.pem', soon.private),
    clientCa: write('client-ca.pem', ca.cert),
    clientCertPem: client.cert,
    clientKeyPem: client.private,
    strayClientCertPem: stray.cert,
    strayClientKeyPem: stray.private,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The HTTPS server of the tests: `GET /` -> `hello`; `GET /tls` -> the pool's TLS facts of this connection. */
@UsePool(HttpsConnectionPool)
export class TestHttpsServer extends HttpsServer {
  constructor(@PoolConfig(HttpsPoolConfig, 'https') config: HttpsPoolConfig) {
    super(config);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/tls') {
      const conn = [...this.pool.values()].find((c) => c.raw === req.socket);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(conn ? this.pool.tlsInfo(conn) : null));
      return;
    }
    res.end('hello');
  }
}

/** What a test request got back. */
export interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  peer: PeerCertificate;
  reusedSocket: boolean;
  socket: TLSSocket;
}

/** One HTTPS GET trusting `ca`; resolves with status, headers, body and the server's certificate. */
export function get(port: number, path: string, options: https.RequestOptions & { ca: string | string[] }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, servername: 'localhost', agent: false, ...options }, (res) => {
      const socket = res.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peer, reusedSocket: req.reusedSocket, socket }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Resolves with the first payload of `event` that `match` accepts. */
export const nextEvent = nextPoolEvent;

/** Resolves once the pool has no connection left. */
export function untilEmpty(pool: HttpsConnectionPool): Promise<void> {
  if (pool.size === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const listener = ({ active }: { active: number }): void => {
      if (active > 0) return;
      pool.events.off(ConnectionPoolEvent.ConnectionRemoved, listener);
      resolve();
    };
    pool.events.on(ConnectionPoolEvent.ConnectionRemoved, listener);
  });
}

/** A self-signed RSA 2048 pair for `localhost` (RSA, so ECDHE-RSA suites apply), written to a temp folder. */
export interface RsaPair {
  dir: string;
  cert: string;
  key: string;
  certPem: string;
  keyPem: string;
  cleanup(): void;
}

/** Makes an `RsaPair`; call `cleanup()` when done. */
export async function makeRsaPair(): Promise<RsaPair> {
  const dir = mkdtempSync(join(tmpdir(), 'unipool-rsa-'));
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, algorithm: 'sha256' });
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  writeFileSync(cert, pems.cert);
  writeFileSync(key, pems.private, { mode: 0o600 });
  return { dir, cert, key, certPem: pems.cert, keyPem: pems.private, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
