import { expect } from 'chai';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { ConfigLoader, ConfigValidationError, HttpPoolConfig, HttpsPoolConfig, HttpsTlsSettings, validateSection } from '../../src';

function load(config: Record<string, unknown>): ConfigValidationError {
  const loader = new ConfigLoader(new Map<string, new () => object>([['http', HttpPoolConfig], ['https', HttpsPoolConfig]]));
  try {
    loader.load(config, {});
  } catch (err) {
    return err as ConfigValidationError;
  }
  throw new Error('expected a validation error');
}

describe('HttpsPoolConfig (section https)', () => {
  let dir: string;
  let cert: string;
  let key: string;
  let otherKey: string;
  let keyPem: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unipool-https-config-'));
    const [a, b] = await Promise.all([generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec' }), generate([{ name: 'commonName', value: 'other' }], { keyType: 'ec' })]);
    cert = join(dir, 'cert.pem');
    key = join(dir, 'key.pem');
    otherKey = join(dir, 'other-key.pem');
    keyPem = a.private;
    writeFileSync(cert, a.cert);
    writeFileSync(key, a.private);
    writeFileSync(otherKey, b.private);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has HTTPS defaults: port 3443, TLSv1.2 minimum, 14 days of expiry warning, HTTP timeouts', () => {
    const { value, problems } = validateSection(HttpsPoolConfig, { tls: { cert, key } }, 'https');
    expect(problems).to.deep.equal([]);
    expect(value?.port).to.equal(3443);
    expect(value?.tls).to.be.instanceOf(HttpsTlsSettings);
    expect(value?.tls).to.include({ cert, key, minVersion: 'TLSv1.2', requestCert: false, rejectUnauthorized: true, certExpiryWarningDays: 14 });
    expect(value?.keepAliveTimeout).to.equal(5000);
    expect(value?.headersTimeout).to.equal(60_000);
  });

  it('requires cert and key and lists their absence with every other problem, naming the paths', () => {
    const missing = join(dir, 'nope', 'cert.pem');
    const err = load({ http: { maxConnections: 0 }, https: { maxConnections: -1, headersTimeout: 'x', tls: { cert: missing } } });
    const byPath = Object.fromEntries(err.problems.map((p) => [p.path, p.message]));
    expect(byPath['http.maxConnections']).to.match(/must not be less than 1/);
    expect(byPath['https.maxConnections']).to.match(/must not be less than 1/);
    expect(byPath).to.have.property('https.headersTimeout');
    expect(byPath['https.tls.cert']).to.equal(`cannot read certificate file ${missing} (ENOENT)`);
    expect(byPath['https.tls.key']).to.equal('is required: the path of the private key file');
    expect(err.message).to.include(`https.tls.cert: cannot read certificate file ${missing} (ENOENT)`);
  });

  it('refuses an unreadable file and a directory', () => {
    const dirProblems = validateSection(HttpsPoolConfig, { tls: { cert: dir, key } }, 'https').problems;
    expect(dirProblems.map((p) => p.message)).to.deep.equal([`certificate file ${dir} is not a regular file`]);
    if (process.getuid?.() === 0) return; // root reads any file: the EACCES case cannot be made
    const locked = join(dir, 'locked.pem');
    writeFileSync(locked, 'x');
    chmodSync(locked, 0o000);
    const { problems } = validateSection(HttpsPoolConfig, { tls: { cert: locked, key } }, 'https');
    expect(problems.map((p) => p.message)).to.deep.equal([`cannot read certificate file ${locked} (EACCES)`]);
  });

  it('refuses requestCert + rejectUnauthorized without a ca (every public CA would be trusted)', () => {
    const { problems } = validateSection(HttpsPoolConfig, { tls: { cert, key, requestCert: true } }, 'https');
    expect(problems.map((p) => p.path)).to.deep.equal(['https.tls.ca']);
    expect(problems[0].message).to.contain('requestCert');
    const allowed = validateSection(HttpsPoolConfig, { tls: { cert, key, requestCert: true, rejectUnauthorized: false } }, 'https');
    expect(allowed.problems).to.deep.equal([]);
  });

  for (const version of ['TLSv1', 'TLSv1.1', 'SSLv3', 'tls1.2']) {
    it(`refuses minVersion ${version}`, () => {
      const { problems } = validateSection(HttpsPoolConfig, { tls: { cert, key, minVersion: version } }, 'https');
      expect(problems).to.have.length(1);
      expect(problems[0]).to.include({ path: 'https.tls.minVersion', value: version });
      expect(problems[0].message).to.equal('must be one of TLSv1.2, TLSv1.3 (older versions are not accepted)');
    });
  }

  it('accepts minVersion TLSv1.3', () => {
    expect(validateSection(HttpsPoolConfig, { tls: { cert, key, minVersion: 'TLSv1.3' } }, 'https').problems).to.deep.equal([]);
  });

  it('refuses a key that does not match the certificate, at boot', () => {
    const { problems } = validateSection(HttpsPoolConfig, { tls: { cert, key: otherKey } }, 'https');
    expect(problems).to.have.length(1);
    expect(problems[0]).to.include({ path: 'https.tls.key', rule: 'tlsMaterial', value: otherKey });
    expect(problems[0].message).to.match(/do not form a usable pair/);
  });

  it('refuses a certificate file that holds no certificate', () => {
    const { problems } = validateSection(HttpsPoolConfig, { tls: { cert: key, key } }, 'https');
    expect(problems.map((p) => p.path)).to.deep.equal(['https.tls.cert']);
  });

  it('refuses PEM text in place of a path, without echoing it', () => {
    const err = load({ https: { tls: { cert, key: keyPem } } });
    expect(err.problems).to.have.length(1);
    expect(err.problems[0]).to.include({ path: 'https.tls.key', value: '[redacted]' }); // a key-named setting is redacted whatever it holds
    expect(err.message).to.equal('invalid configuration: 1 problem\n  - https.tls.key: must be the path of the private key file, not its PEM text (got "[redacted]")');
  });

  it('refuses unknown tls keys and a bad expiry threshold', () => {
    const { problems } = validateSection(HttpsPoolConfig, { tls: { cert, key, passphrase: 'x', certExpiryWarningDays: -1 } }, 'https');
    expect(problems.map((p) => p.path).sort()).to.deep.equal(['https.tls.certExpiryWarningDays', 'https.tls.passphrase']);
  });

  it('refuses a cipher list OpenSSL does not know', () => {
    const { problems } = validateSection(HttpsPoolConfig, { tls: { cert, key, ciphers: 'NOT-A-CIPHER' } }, 'https');
    expect(problems.map((p) => p.path)).to.deep.equal(['https.tls.ciphers']);
  });
});
