import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Http2ConnectionPool } from '../../src';

const ROOT = path.resolve(__dirname, '../../..');

/** The HTTP/2 families a pool exports (by name), from the pool itself. */
function http2Families(): string[] {
  const pool = new Http2ConnectionPool();
  return pool
    .protocolMetrics()
    .map((f) => f.name)
    .filter((n) => n.startsWith('unipool_http2_'));
}

describe('HTTP/2 families in the OpenTelemetry mapping and the Grafana dashboard', () => {
  it('docs/opentelemetry.md maps every unipool_http2_* family to an instrument or says why there is none', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/opentelemetry.md'), 'utf8');
    const families = http2Families();
    expect(families).to.have.length.greaterThan(5);
    for (const name of families) expect(doc, name).to.match(new RegExp(`^\\| \`${name}(\\{[^}]*\\})?\` \\| [^|]+ \\|`, 'm'));
  });

  it('docs/grafana/unipool.json has a panel querying every unipool_http2_* family', () => {
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'docs/grafana/unipool.json'), 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const name of http2Families()) expect(exprs, name).to.contain(name);
  });
});
