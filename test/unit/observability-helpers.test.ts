import { expect } from 'chai';
import { isSecretKey, redactMessage, redactSecrets, REDACTED } from '../../src/config/redact';
import { certificateExpiryFamily, countSamples, msBoundsToSeconds } from '../../src/core/protocol-metrics';
import { closeCodeLabel } from '../../src/protocols/ws/ws-connection-pool';
import { labelKey, mergeHistograms, mergeSamples, ScrapedFamily } from '../../src/observability/metric-family';

describe('secret redaction', () => {
  it('treats token, *Key, passphrase, password, secret and pfx as secret, and keepAliveTimeout not', () => {
    for (const key of ['token', 'apiKey', 'privateKey', 'key', 'passphrase', 'dbPassword', 'clientSecret', 'pfx', 'UNIPOOL_ADMIN_TOKEN']) expect(isSecretKey(key), key).to.equal(true);
    for (const key of ['keepAliveTimeout', 'maxConnections', 'monkeys', 'host']) expect(isSecretKey(key), key).to.equal(false);
  });

  it('redacts nested secrets, PEM strings in arrays and binary buffers, and keeps the rest', () => {
    const out = redactSecrets({
      host: 'h',
      tls: { key: Buffer.from('k'), ca: ['-----BEGIN CERTIFICATE-----\nabc'], passphrase: 'p', rejectUnauthorized: true },
      empty: { token: '' },
      fn: () => 1,
    });
    expect(out).to.deep.equal({ host: 'h', tls: { key: REDACTED, ca: [REDACTED], passphrase: REDACTED, rejectUnauthorized: true }, empty: { token: '' } });
    expect(redactSecrets(new Uint8Array(2))).to.equal(REDACTED);
  });

  it('request headers are secret as a whole key (headers), headersTimeout is not; the user:password@ of a URL is redacted in any value or message', () => {
    expect(isSecretKey('headers')).to.equal(true);
    expect(isSecretKey('authorization')).to.equal(true);
    expect(isSecretKey('headersTimeout')).to.equal(false);
    expect(redactSecrets({ otlp: { endpoint: 'https://user:pw-9@collector:4318/v1/metrics', headers: { 'x-team': 'a' } } })).to.deep.equal({ otlp: { endpoint: `https://${REDACTED}@collector:4318/v1/metrics`, headers: REDACTED } });
    expect(redactMessage('cannot reach https://user:pw-9@collector/ nor http://other/')).to.equal(`cannot reach https://${REDACTED}@collector/ nor http://other/`);
  });
});

describe('metric families', () => {
  it('identifies label sets regardless of key order', () => {
    expect(labelKey({ a: 1, b: 'x' })).to.equal(labelKey({ b: 'x', a: 1 }));
    expect(labelKey(undefined)).to.equal('');
  });

  it('sums equal series, or keeps their min or max', () => {
    const samples = [
      { labels: { protocol: 'https' }, value: 5 },
      { labels: { protocol: 'https' }, value: 3 },
      { labels: { protocol: 'grpc' }, value: 7 },
    ];
    expect(mergeSamples(samples).map((s) => s.value)).to.deep.equal([8, 7]);
    expect(mergeSamples(samples, 'min').map((s) => s.value)).to.deep.equal([3, 7]);
    expect(mergeSamples(samples, 'max').map((s) => s.value)).to.deep.equal([5, 7]);
  });

  it('adds histograms with equal bounds and renders cumulative buckets, +Inf, sum and count', async () => {
    const bounds = [0.1, 1];
    const merged = mergeHistograms([
      { labels: { protocol: 'ws' }, bounds, counts: [1, 0, 2], sum: 5, count: 3 },
      { labels: { protocol: 'ws' }, bounds, counts: [0, 1, 0], sum: 0.5, count: 1 },
    ]);
    expect(merged).to.have.length(1);
    const family = new ScrapedFamily('unipool_x_seconds', 'x', 'histogram', () => ({ histograms: merged }));
    const { values } = await family.get();
    expect(values.map((v) => [v.metricName, v.labels.le, v.value])).to.deep.equal([
      ['unipool_x_seconds_bucket', 0.1, 1],
      ['unipool_x_seconds_bucket', 1, 2],
      ['unipool_x_seconds_bucket', '+Inf', 4],
      ['unipool_x_seconds_sum', undefined, 5.5],
      ['unipool_x_seconds_count', undefined, 4],
    ]);
  });

  it('converts millisecond bounds to seconds without binary noise, once per bounds array', () => {
    const ms = [0.05, 2.5, 60_000];
    expect(msBoundsToSeconds(ms)).to.deep.equal([0.00005, 0.0025, 60]);
    expect(msBoundsToSeconds(ms)).to.equal(msBoundsToSeconds(ms));
  });
});

describe('protocol metric helpers', () => {
  it('turns count maps and pairs into labelled samples', () => {
    expect(countSamples(new Map([['a', 2]]), 'reason')).to.deep.equal([{ labels: { reason: 'a' }, value: 2 }]);
    expect(countSamples([['receive', 1], ['transmit', 3]], 'direction')).to.deep.equal([
      { labels: { direction: 'receive' }, value: 1 },
      { labels: { direction: 'transmit' }, value: 3 },
    ]);
  });

  it('reports certificate expiry in seconds, negative once expired, as a min gauge', () => {
    const family = certificateExpiryFamily(10_000, 4_000);
    expect(family).to.deep.include({ name: 'unipool_tls_certificate_expiry_seconds', type: 'gauge', aggregate: 'min' });
    expect(family.samples).to.deep.equal([{ value: 6 }]);
    expect(certificateExpiryFamily(1_000, 3_000).samples[0].value).to.equal(-2);
  });

  it('bounds WebSocket close code labels: RFC codes as they are, application ranges folded', () => {
    expect([1000, 1006, 1015, 3001, 3999, 4000, 4999, 999, 1016, 2000, 5000].map(closeCodeLabel)).to.deep.equal(['1000', '1006', '1015', '3xxx', '3xxx', '4xxx', '4xxx', 'other', 'other', 'other', 'other']);
  });
});
