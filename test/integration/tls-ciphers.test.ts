import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { DEFAULT_TLS_CIPHERS, type Application } from '../../src';
import { createTestApp } from '../../src/testing';
import { GrpcEchoServer } from '../../samples/multi-protocol/grpc-echo-server';
import { TestHttpsServer, makeRsaPair, type RsaPair } from '../helpers/https-fixtures';
import { TestHttp2Server } from '../helpers/http2-fixtures';

/** What `openssl s_client` negotiated: exit code and the cipher line of its summary. */
interface Handshake {
  code: number;
  cipher: string | undefined;
  output: string;
}

/** One TLS 1.2 handshake with `openssl s_client` offering only `cipher` (and `-alpn h2` for gRPC). */
function sClient(port: number, cipher: string, alpn?: string): Promise<Handshake> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-tls1_2', '-cipher', cipher];
  if (alpn) args.push('-alpn', alpn);
  return new Promise((resolve) => {
    const child = execFile('openssl', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      const output = `${stdout}\n${stderr}`;
      const m = /Cipher is (\S+)/.exec(output);
      const cipherName = m && m[1] !== '(NONE)' ? m[1] : undefined;
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, cipher: cipherName, output });
    });
    child.stdin?.end(); // s_client closes the connection when stdin ends
  });
}

describe('TLS defaults: AEAD-only ciphers with forward secrecy (openssl s_client)', () => {
  // An RSA pair, so the ECDHE-RSA suites are the ones on trial.
  let pair: RsaPair;
  let certFile: string;
  let keyFile: string;
  let app: Application | undefined;

  before(async () => {
    pair = await makeRsaPair();
    ({ cert: certFile, key: keyFile } = pair);
  });
  after(() => pair.cleanup());
  afterEach(async () => {
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  const cases: Array<{ name: string; start: () => Promise<number>; alpn?: string }> = [
    {
      name: 'HTTPS',
      start: async () => {
        app = createTestApp({ servers: [TestHttpsServer], config: { https: { tls: { cert: certFile, key: keyFile } } } });
        await app.start();
        return app.servers[0].address()!.port;
      },
    },
    {
      name: 'gRPC',
      alpn: 'h2',
      start: async () => {
        app = createTestApp({ servers: [GrpcEchoServer], config: { grpc: { tls: { cert: certFile, key: keyFile } } } });
        await app.start();
        return app.servers[0].address()!.port;
      },
    },
    {
      name: 'HTTP/2',
      alpn: 'h2',
      start: async () => {
        app = createTestApp({ servers: [TestHttp2Server], config: { http2: { tls: { cert: certFile, key: keyFile } } } });
        await app.start();
        return app.servers[0].address()!.port;
      },
    },
  ];

  for (const { name, start, alpn } of cases) {
    it(`item 26: ${name} refuses TLS 1.2 CBC suites (AES128-SHA, ECDHE-RSA-AES128-SHA) and accepts ECDHE-RSA-AES128-GCM-SHA256`, async () => {
      const port = await start();
      const cbc = await sClient(port, 'AES128-SHA', alpn);
      expect(cbc.cipher, cbc.output).to.equal(undefined);
      expect(cbc.code).to.not.equal(0);
      const ecdheCbc = await sClient(port, 'ECDHE-RSA-AES128-SHA', alpn);
      expect(ecdheCbc.cipher, ecdheCbc.output).to.equal(undefined);
      expect(ecdheCbc.code).to.not.equal(0);
      const gcm = await sClient(port, 'ECDHE-RSA-AES128-GCM-SHA256', alpn);
      expect(gcm.cipher, gcm.output).to.equal('ECDHE-RSA-AES128-GCM-SHA256');
      expect(gcm.code).to.equal(0);
      if (alpn) expect(gcm.output).to.match(/ALPN protocol: h2/);
    });
  }

  it('HTTP/2 over TLS 1.2 offers no suite of the RFC 7540 (9.2.2, appendix A) blocklist: the static-RSA AEAD suite AES128-GCM-SHA256 is refused, ECDHE-RSA-CHACHA20-POLY1305 gets h2', async () => {
    const port = await cases[2].start();
    const rsaKx = await sClient(port, 'AES128-GCM-SHA256', 'h2');
    expect(rsaKx.cipher, rsaKx.output).to.equal(undefined);
    expect(rsaKx.code).to.not.equal(0);
    const chacha = await sClient(port, 'ECDHE-RSA-CHACHA20-POLY1305', 'h2');
    expect(chacha.cipher, chacha.output).to.equal('ECDHE-RSA-CHACHA20-POLY1305');
    expect(chacha.output).to.match(/ALPN protocol: h2/);
  });

  it('item 26: the default list is AEAD-only with forward secrecy for TLS 1.2 (one constant for HTTPS and gRPC)', () => {
    const tls12 = DEFAULT_TLS_CIPHERS.split(':').filter((c) => !c.startsWith('TLS_'));
    expect(tls12.length).to.be.greaterThan(0);
    for (const suite of tls12) {
      expect(suite, suite).to.match(/^(ECDHE|DHE)-/);
      expect(suite, suite).to.match(/GCM|CHACHA20-POLY1305/);
      expect(suite, suite).to.not.match(/CBC|ARIA|CCM|SHA$/);
    }
    expect(DEFAULT_TLS_CIPHERS.split(':').filter((c) => c.startsWith('TLS_'))).to.deep.equal(['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256']);
  });

  it('item 26: tls.ciphers widens the list again (HTTPS and gRPC)', async () => {
    app = createTestApp({ servers: [GrpcEchoServer], config: { grpc: { tls: { cert: certFile, key: keyFile, ciphers: `${DEFAULT_TLS_CIPHERS}:ECDHE-RSA-AES128-SHA` } } } });
    await app.start();
    const port = app.servers[0].address()!.port;
    expect((await sClient(port, 'ECDHE-RSA-AES128-SHA', 'h2')).cipher).to.equal('ECDHE-RSA-AES128-SHA');
    await app.stop();
    app = createTestApp({ servers: [TestHttpsServer], config: { https: { tls: { cert: certFile, key: keyFile, ciphers: `${DEFAULT_TLS_CIPHERS}:ECDHE-RSA-AES128-SHA` } } } });
    await app.start();
    expect((await sClient(app.servers[0].address()!.port, 'ECDHE-RSA-AES128-SHA')).cipher).to.equal('ECDHE-RSA-AES128-SHA');
  });
});
