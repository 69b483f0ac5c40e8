import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import pino from 'pino';
import { ConfigLoadError, ConfigValidationError, createApp, type Application } from '../../src';
import { GrpcEchoServer } from '../../samples/multi-protocol/grpc-echo-server';
import { bootError } from '../helpers/grpc';
import { TestHttpServer } from '../helpers/http-fixtures';
import { makeRsaPair, type RsaPair } from '../helpers/https-fixtures';

/** A real pino logger whose JSON lines are kept in memory (what an operator's log would hold). */
function recordingPino(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

/** Every line of `secret` (armour lines included) that shows up in `text`. */
function leakedLines(secret: string, text: string): string[] {
  return secret
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length >= 8 && text.includes(l));
}

/** Everything the error can show: message, stack, and its enumerable fields (what pino's err serializer prints). */
function errorText(err: unknown): string {
  const e = err as Error & Record<string, unknown>;
  return [e.message, e.stack, JSON.stringify({ ...e })].join('\n');
}

describe('Secrets never reach errors or logs', () => {
  let pair: RsaPair;
  let dir: string;
  let certFile: string;
  let keyFile: string;
  let keyPem: string;
  let app: Application | undefined;

  before(async () => {
    pair = await makeRsaPair();
    ({ dir, cert: certFile, key: keyFile, keyPem } = pair);
  });
  after(() => pair.cleanup());
  afterEach(async () => {
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  const keyBody = (): string =>
    keyPem
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('\n');

  const variants: Array<{ name: string; make: () => { config: string | Record<string, unknown>; env: NodeJS.ProcessEnv } }> = [
    { name: 'PEM text in UNIPOOL_GRPC_TLS_KEY', make: () => ({ config: { grpc: { port: 0 } }, env: { UNIPOOL_GRPC_TLS_CERT: certFile, UNIPOOL_GRPC_TLS_KEY: keyPem } }) },
    {
      name: 'PEM text for grpc.tls.key in a config file',
      make: () => {
        const file = join(dir, 'pem-in-file.json');
        writeFileSync(file, JSON.stringify({ grpc: { port: 0, tls: { cert: certFile, key: keyPem } } }, null, 2));
        return { config: file, env: {} };
      },
    },
    {
      name: 'the key body without its armour lines in UNIPOOL_GRPC_TLS_KEY',
      make: () => ({ config: { grpc: { port: 0 } }, env: { UNIPOOL_GRPC_TLS_CERT: certFile, UNIPOOL_GRPC_TLS_KEY: keyBody() } }),
    },
  ];

  for (const { name, make } of variants) {
    it(`item 11: boot with ${name} fails without a line of the key in the error or the log`, async () => {
      const { logger, lines } = recordingPino();
      const { config, env } = make();
      app = createApp({ servers: [GrpcEchoServer], config, env, logger, handleSignals: false });
      const err = await bootError(app);
      expect(err).to.be.instanceOf(ConfigValidationError);
      const problem = (err as ConfigValidationError).problems.find((p) => p.path === 'grpc.tls.key');
      expect(problem, (err as Error).message).to.not.equal(undefined);
      expect(String(problem!.value)).to.match(/redacted/);
      expect(lines.length).to.be.greaterThan(0); // the boot failure was logged
      expect(leakedLines(keyPem, errorText(err))).to.deep.equal([]);
      expect(leakedLines(keyPem, lines.join('\n'))).to.deep.equal([]);
    });
  }

  it('item 11: a reload with PEM text for grpc.tls.key is rejected without a line of the key in the result or the log', async () => {
    const { logger, lines } = recordingPino();
    const file = join(dir, 'reload.json');
    writeFileSync(file, JSON.stringify({ grpc: { port: 0, tls: { cert: certFile, key: keyFile } } }));
    app = createApp({ servers: [GrpcEchoServer], config: file, env: {}, logger, handleSignals: false });
    await app.start();
    writeFileSync(file, JSON.stringify({ grpc: { port: 0, tls: { cert: certFile, key: keyPem } } }));
    const result = await app.reload();
    expect(result.ok).to.equal(false);
    expect(result.problems.map((p) => p.path)).to.include('grpc.tls.key');
    const rejected = lines.filter((l) => l.includes('config reload rejected'));
    expect(rejected).to.have.length(1);
    expect(leakedLines(keyPem, JSON.stringify(result.problems) + errorText(result.error))).to.deep.equal([]);
    expect(leakedLines(keyPem, lines.join('\n'))).to.deep.equal([]);
  });

  it('item 11: a JSON syntax error next to a secret names line and column, never the text (boot and reload)', async () => {
    const secret = 's3cr3t-t0ken-value-abcdef0123';
    const broken = `{\n  "http": { "port": 0 },\n  "admin": {\n    "token": ${secret}\n  }\n}\n`;
    const file = join(dir, 'broken.json');
    writeFileSync(file, broken);
    const { logger, lines } = recordingPino();
    app = createApp({ servers: [TestHttpServer], config: file, env: {}, logger, handleSignals: false });
    const err = await bootError(app);
    expect(err).to.be.instanceOf(ConfigLoadError);
    expect((err as Error).message).to.equal(`config file ${file} is not valid JSON (line 4, column 14)`);
    expect(errorText(err)).to.not.contain('s3cr3t');
    expect(lines.join('\n')).to.not.contain('s3cr3t');

    // The same file on a reload of a running app.
    writeFileSync(file, JSON.stringify({ http: { port: 0 } }));
    const reloadLog = recordingPino();
    app = createApp({ servers: [TestHttpServer], config: file, env: {}, logger: reloadLog.logger, handleSignals: false });
    await app.start();
    writeFileSync(file, broken);
    const result = await app.reload();
    expect(result.ok).to.equal(false);
    expect(result.problems[0].message).to.contain('line 4, column 14');
    expect(JSON.stringify(result.problems) + errorText(result.error)).to.not.contain('s3cr3t');
    expect(reloadLog.lines.join('\n')).to.not.contain('s3cr3t');
  });
});
