import type { FastifyInstance } from 'fastify';
import { byteStream, delay, MAX_BYTES, MAX_SLOW_MS, wholeNumber } from './demo-params';

/** The sample's Fastify 5 routes, as a plugin; Fastify's own error handling answers `/fail`. */
export async function fastifyRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', async () => 'hello from fastify\n');

  app.get<{ Querystring: { ms?: string } }>('/slow', async (req, reply) => {
    const ms = wholeNumber(req.query.ms, MAX_SLOW_MS);
    if (ms === undefined) return reply.code(400).send(`ms must be a whole number from 0 to ${MAX_SLOW_MS}\n`);
    await delay(ms, reply.raw);
    return `slept ${ms} ms\n`;
  });

  app.get<{ Querystring: { n?: string } }>('/bytes', async (req, reply) => {
    const n = wholeNumber(req.query.n, MAX_BYTES);
    if (n === undefined) return reply.code(400).send(`n must be a whole number from 0 to ${MAX_BYTES}\n`);
    return reply.type('application/octet-stream').header('content-length', n).send(byteStream(n));
  });

  // Fastify's error handler answers 500: unipool counts it as a failed request.
  app.get('/fail', async () => {
    throw new Error('failed on purpose');
  });
}
