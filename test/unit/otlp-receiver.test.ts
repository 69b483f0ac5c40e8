import { expect } from 'chai';
import { decodeExport } from '../helpers/otlp-receiver';

describe('the test OTLP receiver keeps wire types (so integer attributes and sums are proven, not assumed)', () => {
  it('intValue and doubleValue of the same number, asInt and asDouble, are told apart', () => {
    const body = {
      resourceMetrics: [
        {
          resource: { attributes: [] },
          scopeMetrics: [
            {
              scope: { name: 's' },
              metrics: [
                {
                  name: 'm',
                  sum: {
                    isMonotonic: true,
                    dataPoints: [
                      { attributes: [{ key: 'code', value: { intValue: '200' } }], asInt: '3' },
                      { attributes: [{ key: 'code', value: { doubleValue: 200 } }], asDouble: 3 },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const [exported] = decodeExport(Buffer.from(JSON.stringify(body)), 'application/json');
    const [int, double] = exported.metrics[0].points;
    expect([int.attributes.code, int.types.code, int.value, int.valueType]).to.deep.equal([200, 'int', 3, 'int']);
    expect([double.attributes.code, double.types.code, double.value, double.valueType]).to.deep.equal([200, 'double', 3, 'double']);
  });
});
