import 'reflect-metadata';
import { join } from 'node:path';
import { createApp, HttpPoolConfig, type Application, type ServerClass } from '../../src';
import { ExpressServer } from './express-server';
import { FastifyServer } from './fastify-server';
import { KoaServer } from './koa-server';

/** The three framework servers, each on its own section, port and pool. */
export const FRAMEWORK_SERVERS: ServerClass[] = [ExpressServer, KoaServer, FastifyServer];

/** Their sections: sections of your own, each an HTTP server section. */
export const FRAMEWORK_SECTIONS = { express: HttpPoolConfig, koa: HttpPoolConfig, fastify: HttpPoolConfig };

/** Creates the sample application (not started): `UNIPOOL_CONFIG`, else `samples/frameworks/config.json`. */
export function createFrameworksApp(config: string | Record<string, unknown> = process.env.UNIPOOL_CONFIG ?? join(__dirname, '../../../samples/frameworks/config.json')): Application {
  return createApp({ servers: FRAMEWORK_SERVERS, sections: FRAMEWORK_SECTIONS, config });
}
