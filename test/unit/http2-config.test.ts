import { expect } from 'chai';
import { Http2PoolConfig, validateSection } from '../../src';

function problems(raw: Record<string, unknown>): string[] {
  return validateSection(Http2PoolConfig, raw, 'http2').problems.map((p) => `${p.path}: ${p.message}`);
}

describe('Http2PoolConfig (section http2)', () => {
  it('defaults: port 3444, allowHTTP1, 100 streams per session, PING every 30 s with a 10 s timeout, 100 resets/s, idle sessions closed after 2 min', () => {
    const c = new Http2PoolConfig();
    expect(c).to.include({ port: 3444, h2c: false, allowHTTP1: true, maxConcurrentStreams: 100, maxSessionMemory: 10, maxHeaderListSize: 65_536, pingInterval: 30_000, pingTimeout: 10_000, maxResetsPerSecond: 100, idleTimeout: 120_000 });
  });

  it('h2c needs no tls; TLS mode needs a tls block; h2c with tls is refused', () => {
    expect(problems({ h2c: true })).to.deep.equal([]);
    expect(problems({})).to.deep.equal(['http2.tls: is required unless h2c is true (HTTP/2 over TLS needs a certificate and key)']);
    expect(problems({ h2c: true, tls: { cert: 'a.pem', key: 'b.pem' } }).some((p) => p.startsWith('http2.tls: must be absent with h2c'))).to.equal(true);
  });

  it('pingTimeout may not exceed pingInterval, unless the keepalive is off (pingInterval 0)', () => {
    expect(problems({ h2c: true, pingInterval: 100, pingTimeout: 200 })).to.deep.equal(['http2.pingTimeout: must not be greater than pingInterval (100)']);
    expect(problems({ h2c: true, pingInterval: 0, pingTimeout: 200 })).to.deep.equal([]);
  });

  it('maxConcurrentStreams at least 1 and maxResetsPerSecond at least 1', () => {
    expect(problems({ h2c: true, maxConcurrentStreams: 0, maxResetsPerSecond: 0 })).to.have.length(2);
  });
});
