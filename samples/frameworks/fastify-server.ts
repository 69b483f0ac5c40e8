import Fastify from 'fastify';
import type { RequestListener } from 'node:http';
import { HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';
import { fastifyRoutes } from './fastify-routes'; // any Fastify 5 plugin: your routes, hooks and error handler

/** Fastify's own pool, so `/status` and `/metrics` show its figures apart (`HttpConnectionPool` itself works too). */
export class FastifyPool extends HttpConnectionPool {}

@UsePool(FastifyPool)
export class FastifyServer extends HttpServer {
  declare handle: RequestListener; // set by serverFactory: the handler Fastify routes every request with
  readonly fastify = Fastify({ serverFactory: this.serverFactory }).register(fastifyRoutes);

  constructor(@PoolConfig(HttpPoolConfig, 'fastify') config: HttpPoolConfig) {
    super(config);
  }

  async onInit(): Promise<void> {
    await this.fastify.ready(); // plugins loaded, routes compiled; unipool listens (never call fastify.listen())
  }

  async onShutdown(): Promise<void> {
    await this.fastify.close(); // after the drain: Fastify's onClose hooks
  }
}
