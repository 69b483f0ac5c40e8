import { expect } from 'chai';
import type { Meter } from '@opentelemetry/api';
import { AttributeSetCache } from '../../src/observability/otel/attribute-set-cache';
import { OtelPoolMetrics, networkProtocolName } from '../../src/observability/otel/otel-pool-metrics';

/** A meter whose histograms keep what they record, by instrument name. */
function recordingMeter(): { meter: Meter; recorded: Map<string, Array<[number, object]>> } {
  const recorded = new Map<string, Array<[number, object]>>();
  const meter = {
    createHistogram: (name: string) => ({ record: (value: number, attrs: object) => recorded.set(name, [...(recorded.get(name) ?? []), [value, attrs]]) }),
    createObservableUpDownCounter: () => ({}),
    createObservableCounter: () => ({}),
    createObservableGauge: () => ({}),
    addBatchObservableCallback: () => undefined,
    removeBatchObservableCallback: () => undefined,
  };
  return { meter: meter as unknown as Meter, recorded };
}

const POOL = { name: 'api', protocol: 'http', urlScheme: 'http' };

describe('OpenTelemetry attribute sets: cached per pool, frozen and bounded (no object per request)', () => {
  it('http.server.request.duration: requests with the same method, status, version and error type record the same frozen object; another status another one', () => {
    const { meter, recorded } = recordingMeter();
    const metrics = new OtelPoolMetrics(meter, { pools: [] });
    metrics.httpRequest(POOL, 'GET', 200, '1.1', 0.01);
    metrics.httpRequest(POOL, 'GET', 200, '1.1', 0.02);
    metrics.httpRequest(POOL, 'GET', 404, '1.1', 0.03);
    metrics.httpRequest(POOL, 'GET', undefined, '1.1', 0.04, 'aborted');
    const sets = recorded.get('http.server.request.duration')!.map(([, attrs]) => attrs);
    expect(sets[0]).to.equal(sets[1]);
    expect(sets[2]).to.not.equal(sets[0]);
    expect(Object.isFrozen(sets[0])).to.equal(true);
    expect(sets[0]).to.deep.equal({ 'unipool.pool': 'api', 'unipool.protocol': 'http', 'network.protocol.name': 'http', 'http.request.method': 'GET', 'http.response.status_code': 200, 'network.protocol.version': '1.1', 'url.scheme': 'http' });
    expect(sets[3]).to.not.have.property('http.response.status_code');
    expect(sets[3]).to.include({ 'error.type': 'aborted' });
  });

  it('rpc.server.call.duration: one object per (service, method, code)', () => {
    const { meter, recorded } = recordingMeter();
    const metrics = new OtelPoolMetrics(meter, { pools: [] });
    const grpc = { name: 'grpc', protocol: 'grpc', networkProtocolName: 'http' };
    metrics.rpcCall(grpc, 'demo.Echo', 'Echo', 0, 0.01);
    metrics.rpcCall(grpc, 'demo.Echo', 'Echo', 0, 0.02);
    metrics.rpcCall(grpc, 'demo.Echo', 'Echo', 5, 0.02);
    const sets = recorded.get('rpc.server.call.duration')!.map(([, attrs]) => attrs);
    expect(sets[0]).to.equal(sets[1]);
    expect(sets[2]).to.deep.include({ 'rpc.grpc.status_code': 5, 'network.protocol.name': 'http', 'unipool.protocol': 'grpc' });
  });

  it('the cache is bounded: past its cap a new combination is returned frozen but not kept', () => {
    const cache = new AttributeSetCache(2);
    const a = cache.set('GET', 200, '1.1', undefined, { a: 1 });
    cache.set('GET', 404, '1.1', undefined, { b: 1 });
    const c = cache.set('GET', 500, '1.1', undefined, { c: 1 });
    expect(cache.size).to.equal(2);
    expect(cache.get('GET', 200, '1.1', undefined)).to.equal(a);
    expect(cache.get('GET', 500, '1.1', undefined)).to.equal(undefined);
    expect(Object.isFrozen(c)).to.equal(true);
  });

  it('known methods given (OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS) decide http.request.method', () => {
    const { meter, recorded } = recordingMeter();
    const metrics = new OtelPoolMetrics(meter, { pools: [] }, ['GET', 'PROPFIND']);
    metrics.httpRequest(POOL, 'PROPFIND', 207, '1.1', 0.01);
    metrics.httpRequest(POOL, 'POST', 200, '1.1', 0.01);
    expect(recorded.get('http.server.request.duration')!.map(([, attrs]) => (attrs as Record<string, unknown>)['http.request.method'])).to.deep.equal(['PROPFIND', '_OTHER']);
  });

  it('network.protocol.name in its semantic-conventions meaning: http for HTTP pools, websocket for upgraded ones, what a pool declares, else its protocol', () => {
    expect(networkProtocolName({ protocol: 'https', urlScheme: 'https' } as { protocol: string })).to.equal('http');
    expect(networkProtocolName({ protocol: 'ws', upgradedConnections: true } as { protocol: string })).to.equal('websocket');
    expect(networkProtocolName({ protocol: 'grpc', networkProtocolName: 'http' } as { protocol: string })).to.equal('http');
    expect(networkProtocolName({ protocol: 'mqtt' })).to.equal('mqtt');
  });
});
